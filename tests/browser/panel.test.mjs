// Browser test of the gcli2api panel: starts `gcli2api --demo` (GCLI2API_BIN), drives the panel
// in headless Chromium through the real forms and buttons, and checks the server's state
// through the management API. Prints "N passed, M failed" and exits non-zero on any failure.
import { mkdtempSync, mkdirSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PASSWORD, assert, finish, freePort, launchBrowser, setupFailed, startGateway, step } from './harness.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const repo = resolve(here, '..', '..');
const TIMEOUT = 15000;




const port = await freePort();
const { child, ready } = startGateway(port);
const profile = mkdtempSync(join(tmpdir(), 'gcli2api-chromium-'));
let context;
try {
  const panelUrl = await ready;
  const base = panelUrl.replace(/\/panel$/, '');
  const api = async (method, path, body) => {
    const r = await fetch(base + '/api/v1' + path, {
      method,
      headers: { Authorization: `Bearer ${PASSWORD}`, 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await r.text();
    return { status: r.status, json: text ? JSON.parse(text) : null };
  };

  context = await launchBrowser(profile, {
    viewport: { width: 1400, height: 900 },
  });
  const page = context.pages()[0] || await context.newPage();
  page.setDefaultTimeout(TIMEOUT);
  const consoleErrors = [];
  // A step that provokes an error status on purpose (wrong password, invalid setting) names it
  // here; Chromium reports such responses on the console, and only that one is forgiven.
  let expectedStatus = null;
  page.on('console', (m) => {
    if (m.type() !== 'error') return;
    const t = m.text();
    if (expectedStatus && t.startsWith('Failed to load resource') && t.includes(`status of ${expectedStatus} `)) return;
    consoleErrors.push(t);
  });
  page.on('pageerror', (e) => consoleErrors.push(String(e)));
  page.on('dialog', (d) => d.accept());
  const nav = (label) => page.locator('#nav a', { hasText: label }).click();
  const heading = async (text) => {
    await page.locator('#main h1', { hasText: text }).waitFor();
  };

  await step('unauthenticated visit lands on the login form', async () => {
    await page.goto(panelUrl);
    assert(page.url().endsWith('/panel/login'), `at ${page.url()}`);
    await page.locator('input[name=password]').waitFor();
  });

  await step('a wrong password is refused', async () => {
    expectedStatus = 401;
    await page.fill('input[name=password]', 'not-the-password');
    await page.click('button[type=submit]');
    await page.locator('.error', { hasText: 'Wrong password' }).waitFor();
    expectedStatus = null;
  });

  await step('signing in through the form shows the overview with this instance\'s URLs', async () => {
    await page.fill('input[name=password]', PASSWORD);
    await page.click('button[type=submit]');
    await heading('Overview');
    const openai = await page.textContent('#url-openai-sdk');
    assert(openai === `OPENAI_BASE_URL=${base}/v1`, `OpenAI setting ${openai}`);
    const total = await page.textContent('.stat .n');
    assert(total.trim() === '4', `credential count ${total}`);
  });

  for (const [label, h1] of [['Credentials', 'Credentials'], ['Sign in with Google', 'Sign in with Google'],
    ['Usage', 'Usage'], ['Settings', 'Settings'], ['Logs', 'Logs'], ['Overview', 'Overview']]) {
    await step(`navigating to ${label} swaps the page in place`, async () => {
      await nav(label);
      await heading(h1);
      await page.waitForFunction((t) => document.title.startsWith(t), h1);
      const current = await page.getAttribute('#nav a[aria-current=page]', 'href');
      assert(page.url().endsWith(current), `active nav ${current} vs ${page.url()}`);
    });
  }

  await step('disable and re-enable a credential with a click', async () => {
    await nav('Credentials');
    const row = page.locator('tr', { hasText: 'demo-code-assist.json' });
    await row.getByRole('button', { name: 'Disable' }).click();
    await row.locator('.badge.disabled').waitFor();
    await page.locator('.toast', { hasText: 'demo-code-assist.json disabled' }).waitFor();
    const off = await api('GET', '/credentials/1');
    assert(off.json.enabled === false, 'server still has it enabled');
    await row.getByRole('button', { name: 'Enable' }).click();
    await row.locator('.badge.active').waitFor();
    const on = await api('GET', '/credentials/1');
    assert(on.json.enabled === true, 'server still has it disabled');
  });

  await step('screenshot of the credentials page', async () => {
    const dir = join(repo, 'target');
    mkdirSync(dir, { recursive: true });
    await page.screenshot({ path: join(dir, 'panel-credentials.png'), fullPage: true });
  });

  await step('upload a credential file and see it in the table', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gcli2api-upload-'));
    const file = join(dir, 'browser-upload.json');
    // Uploads are checked with Google: the file is a real sign-in of the simulated Google.
    const sim = (await ready.sim).replace(/\/$/, '');
    const seeded = await (await fetch(sim + '/__sim/users', {
      method: 'POST', headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email: 'browser@demo.test' }),
    })).json();
    writeFileSync(file, JSON.stringify(seeded.credential_json));
    await page.setInputFiles('#upload-form input[type=file]', file);
    await page.click('#upload-form button[type=submit]');
    await page.locator('#upload-result .badge.imported').waitFor();
    // Stored under the file's name without its extension.
    await page.locator('#cred-table tr', { hasText: 'browser@demo.test' }).waitFor();
    rmSync(dir, { recursive: true, force: true });
    const list = await api('GET', '/credentials');
    assert(list.json.some((c) => c.email === 'browser@demo.test'), 'not in the pool');
  });

  await step('delete the uploaded credential after confirming', async () => {
    const row = page.locator('#cred-table tr', { hasText: 'browser@demo.test' });
    await row.getByRole('button', { name: 'Delete' }).click();
    await row.waitFor({ state: 'detached' });
    const list = await api('GET', '/credentials');
    assert(!list.json.some((c) => c.email === 'browser@demo.test'), 'still in the pool');
  });

  await step('the status filter narrows the table', async () => {
    await page.selectOption('#cred-filter select[name=status]', 'banned');
    await page.locator('#cred-table td.empty').waitFor();
    assert(page.url().includes('status=banned'), `url ${page.url()}`);
    await page.selectOption('#cred-filter select[name=status]', 'all');
    await page.locator('#cred-table tr', { hasText: 'demo-code-assist.json' }).waitFor();
  });

  await step('the kind filter shows one kind of credential', async () => {
    await page.selectOption('#cred-filter select[name=kind]', 'vertex_service_account');
    // The table is swapped in by HTMX: wait for the filtered one, not the old one.
    await page.waitForFunction(() => document.querySelectorAll('#cred-table tbody tr').length === 1);
    await page.locator('#cred-table tr', { hasText: 'Vertex service account' }).waitFor();
    assert(page.url().includes('kind=vertex_service_account'), `url ${page.url()}`);
    await page.selectOption('#cred-filter select[name=kind]', 'all');
    await page.locator('#cred-table tr', { hasText: 'demo-code-assist.json' }).waitFor();
  });

  await step('a pasted key that Google refuses is reported with the reason', async () => {
    const form = page.locator('.key-form', { hasText: 'Gemini API keys' });
    await form.locator('textarea').fill('AQ.never-issued-by-the-simulator-0000');
    await form.getByRole('button', { name: 'Add Gemini API keys' }).click();
    await page.locator('#keys-result .badge.rejected').waitFor();
    await page.locator('#keys-result', { hasText: 'not valid' }).waitFor();
    const list = await api('GET', '/credentials?kind=gemini_api_key');
    assert(list.json.length === 1, `${list.json.length} keys`);
  });

  await step('a hot setting is saved, and a bad value is shown next to its field', async () => {
    await nav('Settings');
    await heading('Settings');
    const input = page.locator('#s-retry_429_max_retries');
    await input.fill('99');
    expectedStatus = 422;
    await page.click('#settings-form button[type=submit]');
    await page.locator('#err-retry_429_max_retries').waitFor();
    expectedStatus = null;
    await page.locator('#s-retry_429_max_retries').fill('7');
    await page.click('#settings-form button[type=submit]');
    await page.locator('.toast', { hasText: 'Settings saved' }).waitFor();
    const s = await api('GET', '/settings');
    const v = s.json.find((x) => x.key === 'retry_429_max_retries');
    assert(v.value === 7 && v.source === 'saved', `setting is ${JSON.stringify(v)}`);
    assert(await page.locator('#s-password, input[name=password][value]').count() === 0, 'a password field has a value');
  });

  await step('sign in with Google: starting shows the consent link and the paste box', async () => {
    await nav('Sign in with Google');
    await page.click('#oauth-start button[type=submit]');
    const href = await page.locator('#oauth-link').getAttribute('href');
    assert(/^https?:\/\//.test(href) && href.includes('code_challenge'), `link ${href}`);
    await page.locator('#oauth-complete input[name=callback_url]').waitFor();
  });

  await step('a live log line appears without reloading', async () => {
    await nav('Logs');
    await heading('Logs');
    await page.locator('#log .line').first().waitFor();
    const r = await api('GET', '/credentials/3/export');
    assert(r.status === 200, `export ${r.status}`);
    await page.locator('#log .line', { hasText: 'credential exported through the API' }).waitFor();
  });

  await step('no console errors', async () => {
    assert(consoleErrors.length === 0, consoleErrors.join('\n'));
  });

  await step('signing out returns to the login form, and the session is gone', async () => {
    await page.click('#nav .logout button');
    await page.waitForURL(/\/panel\/login$/);
    await page.goto(panelUrl + '/credentials');
    assert(page.url().endsWith('/panel/login'), `at ${page.url()}`);
  });
} catch (e) {
  setupFailed(e);
} finally {
  if (context) await context.close().catch(() => {});
  child.kill('SIGTERM');
  rmSync(profile, { recursive: true, force: true });
}
finish();
