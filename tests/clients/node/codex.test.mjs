// Codex CLI (`codex exec`) against the gateway's Responses API, configured as its documentation
// says for a custom provider: `$CODEX_HOME/config.toml` with a `model_providers.<id>` whose
// `base_url` is the gateway's `/v1` (Codex appends `/responses`), `wire_api = "responses"` and
// `env_key` naming the variable that holds the key. `check_for_update_on_startup = false` and
// `[analytics] enabled = false` keep it from calling home; `--skip-git-repo-check` is its
// documented flag for running outside a repository.
//
// Two runs: a plain prompt whose answer arrives, and a prompt where the simulator asks for a
// shell command (Codex's `exec_command` tool) and Codex runs it and sends the result back.
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { API_KEY, explain, prompt, runCli, startGateway, tempHome } from './harness.mjs';

const MODEL = 'gemini-2.5-flash';
// Gemini 3 refuses a replayed call without the signature it issued: the shell run also proves
// that Codex carries it back in the reasoning item's encrypted_content.
const SIGNED_MODEL = 'gemini-3-flash-preview';
const SKIP_SIGNATURE = 'skip_thought_signature_validator';
let gw;
before(async () => { gw = await startGateway('codex'); });
after(async () => { await gw?.stop(); });

/** A CODEX_HOME with the provider configuration, and the environment for a run. */
function codexSetup(home, model = MODEL) {
  const codexHome = join(home.home, '.codex');
  mkdirSync(codexHome, { recursive: true });
  writeFileSync(join(codexHome, 'config.toml'), [
    `model = "${model}"`,
    'model_provider = "gateway"',
    'check_for_update_on_startup = false',
    '',
    '[analytics]',
    'enabled = false',
    '',
    '[model_providers.gateway]',
    'name = "gateway"',
    `base_url = "${gw.url}/v1"`,
    'env_key = "GATEWAY_API_KEY"',
    'wire_api = "responses"',
    '',
  ].join('\n'));
  return { HOME: home.home, CODEX_HOME: codexHome, GATEWAY_API_KEY: API_KEY };
}

/** The JSON Lines events `codex exec --json` printed. */
function jsonEvents(stdout) {
  return stdout.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l));
}

/** Every part of every content the simulator received (Code Assist envelopes or bare). */
function upstreamParts(requests) {
  return requests
    .map((r) => (r.body?.kind === 'json' ? r.body.value : null))
    .filter((b) => b && typeof b === 'object')
    .flatMap((b) => b.request?.contents ?? b.contents ?? [])
    .flatMap((c) => c.parts ?? []);
}

test('codex exec gets the simulator\'s answer through /v1/responses', async () => {
  const home = tempHome('codex');
  try {
    const { marker, text } = prompt('codex');
    const run = await runCli('codex', ['exec', '--skip-git-repo-check', '--json', text], {
      cwd: home.work,
      env: codexSetup(home),
    });
    const why = explain(run, gw);
    assert.equal(run.timedOut, false, why);
    assert.equal(run.code, 0, why);
    const events = jsonEvents(run.stdout);
    const messages = events
      .filter((e) => e.type === 'item.completed' && e.item?.type === 'agent_message')
      .map((e) => e.item.text);
    assert.ok(messages.some((m) => m.includes('Echo:') && m.includes(marker)), `no answer with ${marker}\n${why}`);
    const done = events.find((e) => e.type === 'turn.completed');
    assert.ok(done && done.usage.input_tokens > 0 && done.usage.output_tokens > 0, `usage reached Codex\n${why}`);
  } finally {
    home.cleanup();
  }
});

test('codex exec runs the shell command the model asks for and sends the result back', async () => {
  const home = tempHome('codex-shell');
  try {
    const marker = `shell-${Math.random().toString(16).slice(2, 10)}`;
    // The simulator calls the named tool with these arguments (its `call:<name>{args}` rule).
    const text = `call:exec_command{"cmd":"echo ${marker}"}`;
    const run = await runCli('codex', ['exec', '--skip-git-repo-check', '--json', text], {
      cwd: home.work,
      env: codexSetup(home, SIGNED_MODEL),
    });
    const why = explain(run, gw);
    assert.equal(run.timedOut, false, why);
    assert.equal(run.code, 0, why);
    const events = jsonEvents(run.stdout);
    const commands = events.filter((e) => e.type === 'item.completed' && e.item?.type === 'command_execution');
    assert.ok(commands.length > 0, `Codex ran no command\n${why}`);
    assert.ok(commands[0].item.command.includes(marker), `${JSON.stringify(commands[0])}\n${why}`);
    // The tool's result went back to the gateway and on to the simulator, whose reply quotes it
    // ("Result of exec_command: ..."). If the sandbox cannot run here, the error Codex reports
    // back is the result.
    const answers = events
      .filter((e) => e.type === 'item.completed' && e.item?.type === 'agent_message')
      .map((e) => e.item.text);
    assert.ok(answers.some((a) => a.startsWith('Result of exec_command:')), `no answer quoting the result\n${why}`);
    const parts = upstreamParts(await gw.upstreamRequests());
    const sent = parts.filter((p) => p.functionResponse?.name === 'exec_command');
    assert.ok(sent.length > 0, `no functionResponse reached the upstream\n${why}`);
    const replayed = parts.filter((p) => p.functionCall?.name === 'exec_command');
    assert.ok(replayed.length > 0, `the call was not replayed\n${why}`);
    assert.ok(
      replayed.every((p) => p.thoughtSignature && p.thoughtSignature !== SKIP_SIGNATURE),
      `the call went back without its signature: ${JSON.stringify(replayed)}`,
    );
    const output = JSON.stringify(sent[0].functionResponse.response);
    const ran = commands[0].item.exit_code === 0;
    if (ran) {
      assert.ok(output.includes(marker), `the command's output reached the model: ${output}`);
    }
  } finally {
    home.cleanup();
  }
});
