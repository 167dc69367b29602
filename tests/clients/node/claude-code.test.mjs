// Claude Code (`claude -p`) against the gateway's Anthropic Messages surface, configured as
// its documentation says: ANTHROPIC_BASE_URL (host only; it appends /v1/messages) and
// ANTHROPIC_AUTH_TOKEN (sent as `Authorization: Bearer`). No model is set: Claude Code asks
// for its default claude-* models and the gateway's aliases must serve them.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { API_KEY, explain, prompt, runCli, startGateway, tempHome } from './harness.mjs';

let gw;
before(async () => { gw = await startGateway('claude-code'); });
after(async () => { await gw?.stop(); });

test('claude -p gets the simulator\'s answer through /v1/messages', async () => {
  const home = tempHome('claude-code');
  try {
    const { marker, text } = prompt('claude');
    const run = await runCli('claude', ['-p', text, '--output-format', 'json'], {
      cwd: home.work,
      env: {
        HOME: home.home,
        ANTHROPIC_BASE_URL: gw.url,
        ANTHROPIC_AUTH_TOKEN: API_KEY,
        DISABLE_TELEMETRY: '1',
        DISABLE_ERROR_REPORTING: '1',
        CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: '1',
      },
    });
    const why = explain(run, gw);
    assert.equal(run.timedOut, false, why);
    assert.equal(run.code, 0, why);
    const result = JSON.parse(run.stdout.trim().split('\n').pop());
    assert.equal(result.is_error, false, why);
    assert.match(result.result, /Echo:/, why);
    assert.ok(result.result.includes(marker), `the answer lacks ${marker}\n${why}`);
  } finally {
    home.cleanup();
  }
});
