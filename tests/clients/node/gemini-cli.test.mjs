// Gemini CLI (`gemini -p`) against the gateway's Gemini surface, configured as its
// documentation says: API-key auth chosen in ~/.gemini/settings.json, GEMINI_API_KEY (sent as
// x-goog-api-key) and GOOGLE_GEMINI_BASE_URL; telemetry and usage statistics off; the
// throwaway work folder trusted with GEMINI_CLI_TRUST_WORKSPACE (headless mode needs that).
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { API_KEY, explain, prompt, runCli, startGateway, tempHome } from './harness.mjs';

let gw;
before(async () => { gw = await startGateway('gemini-cli'); });
after(async () => { await gw?.stop(); });

const SETTINGS = {
  security: { auth: { selectedType: 'gemini-api-key' } },
  telemetry: { enabled: false },
  privacy: { usageStatisticsEnabled: false },
  general: { enableAutoUpdate: false, enableAutoUpdateNotification: false },
};

test('gemini -p gets the simulator\'s answer through /v1beta', async () => {
  const home = tempHome('gemini-cli');
  try {
    mkdirSync(join(home.home, '.gemini'));
    writeFileSync(join(home.home, '.gemini', 'settings.json'), JSON.stringify(SETTINGS, null, 2));
    const { marker, text } = prompt('gemini');
    const run = await runCli('gemini', ['-p', text, '--output-format', 'json'], {
      cwd: home.work,
      env: {
        HOME: home.home,
        GEMINI_API_KEY: API_KEY,
        GOOGLE_GEMINI_BASE_URL: gw.url,
        GEMINI_CLI_TRUST_WORKSPACE: 'true',
      },
    });
    const why = explain(run, gw);
    assert.equal(run.timedOut, false, why);
    assert.equal(run.code, 0, why);
    const out = JSON.parse(run.stdout.slice(run.stdout.indexOf('{')));
    assert.equal(out.error, undefined, why);
    assert.match(out.response, /Echo:/, why);
    assert.ok(out.response.includes(marker), `the answer lacks ${marker}\n${why}`);
  } finally {
    home.cleanup();
  }
});
