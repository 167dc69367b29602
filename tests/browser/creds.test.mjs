// Browser test of the credentials page (#14, creds branch): starts `gcli2api --demo`
// (GCLI2API_BIN), drives the credentials table in headless Chromium (bulk actions, filters,
// the state bugs as regression tests) and checks the server through the management API.
// Screenshots go to target/screenshots/. Prints "N passed, M failed"; exits non-zero on failure.
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


  const sim = (await ready.sim).replace(/\/$/, '');
  const simPost = (path, body) => fetch(sim + '/__sim/' + path, {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body),
  });
  const shots = join(repo, 'target', 'screenshots');
  mkdirSync(shots, { recursive: true });
  const counts = async () => (await page.textContent('#cred-counts')).replace(/\s+/g, ' ');
  const credentials = async () => {
    await page.goto(panelUrl + '/credentials');
    await heading('Credentials');
  };

  await step('sign in', async () => {
    await page.goto(panelUrl);
    await page.fill('input[name=password]', PASSWORD);
    await page.click('button[type=submit]');
    await heading('Overview');
  });

  await step('regression: the counts follow a row action without a reload', async () => {
    await credentials();
    assert((await counts()).includes('4 active'), await counts());
    const row = page.locator('tr', { hasText: 'demo-code-assist.json' });
    await row.getByRole('button', { name: 'Disable' }).click();
    await row.locator('.badge.disabled').waitFor();
    await page.waitForFunction(() => document.querySelector('#cred-counts').textContent.includes('1 disabled'));
    assert((await counts()).includes('3 active'), await counts());
    await row.getByRole('button', { name: 'Enable' }).click();
    await page.waitForFunction(() => document.querySelector('#cred-counts').textContent.includes('0 disabled'));
    assert((await counts()).includes('4 active'), await counts());
  });

  await step('bulk: check two rows and disable them, then enable all on the page', async () => {
    await page.locator('#cred-table tbody tr').nth(1).locator('input[name=ids]').check();
    await page.locator('#cred-table tbody tr').nth(3).locator('input[name=ids]').check();
    await page.locator('[data-bulk=disable]').click();
    await page.locator('.toast', { hasText: '2 credentials disabled' }).waitFor();
    await page.waitForFunction(() => document.querySelector('#cred-counts').textContent.includes('2 disabled'));
    const list = (await api('GET', '/credentials')).json;
    assert(list.filter((c) => !c.enabled).map((c) => c.id).join() === '2,4', JSON.stringify(list.map((c) => [c.id, c.enabled])));
    await page.locator('#cred-select-page').check();
    const boxes = await page.locator('#cred-table input[name=ids]:checked').count();
    assert(boxes === 4, `select-all checked ${boxes}`);
    await page.locator('[data-bulk=enable]').click();
    await page.locator('.toast', { hasText: '4 credentials enabled' }).waitFor();
    await page.waitForFunction(() => document.querySelector('#cred-counts').textContent.includes('4 active'));
  });

  await step('bulk: nothing checked is a clear message, not a silent success', async () => {
    await page.locator('[data-bulk=disable]').click();
    await page.locator('.toast', { hasText: 'Select at least one credential first' }).waitFor();
  });

  await step('search, kind and error filters narrow the table; the address keeps them', async () => {
    await page.fill('#cred-filter input[name=q]', 'demo-code');
    await page.waitForFunction(() => document.querySelectorAll('#cred-table tbody tr').length === 1);
    assert(page.url().includes('q=demo-code'), page.url());
    await page.fill('#cred-filter input[name=q]', '');
    await page.selectOption('#cred-filter select[name=kind]', 'gemini_api_key');
    await page.waitForFunction(() => document.querySelectorAll('#cred-table tbody tr').length === 1
      && document.querySelector('#cred-table tbody').textContent.includes('gemini-key-'));
    await page.selectOption('#cred-filter select[name=kind]', 'all');
    await page.selectOption('#cred-filter select[name=error]', 'any');
    await page.locator('#cred-table td.empty').waitFor();
    await page.selectOption('#cred-filter select[name=error]', 'all');
    await page.fill('#cred-filter input[name=model]', 'gemini-embedding-001');
    await page.locator('#cred-filter input[name=model]').press('Enter');
    await page.waitForFunction(() => !document.querySelector('#cred-table tbody').textContent.includes('demo-code-assist.json'));
    await page.fill('#cred-filter input[name=model]', '');
    await page.locator('#cred-filter input[name=model]').press('Enter');
    await page.waitForFunction(() => document.querySelectorAll('#cred-table tbody tr').length === 4);
  });

  await step('sort by name, descending', async () => {
    await page.selectOption('#cred-filter select[name=sort]', 'name');
    await page.locator('#cred-filter input[name=order]').check();
    await page.waitForFunction(() => {
      const names = [...document.querySelectorAll('#cred-table .name')].map((n) => n.textContent.toLowerCase());
      return names.length === 4 && names.join() === [...names].sort().reverse().join();
    });
    await page.selectOption('#cred-filter select[name=sort]', 'id');
    await page.locator('#cred-filter input[name=order]').uncheck();
  });

  await step('regression: cooling is not counted as active on the overview', async () => {
    await simPost('faults', { when: { endpoint: 'generate_content' }, times: 1,
      fault: { kind: "rate_limit_exceeded", retry_delay_ms: 120000 } });
    const r = await fetch(base + '/v1/chat/completions', {
      method: 'POST', headers: { Authorization: `Bearer ${PASSWORD}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'gemini-2.5-flash', messages: [{ role: 'user', content: 'hi' }] }),
    });
    await r.text();
    const info = (await api('GET', '/system/info')).json.pool;
    assert(info.cooling === 1 && info.active === 3, JSON.stringify(info));
    await page.goto(panelUrl);
    const stat = async (cls) => (await page.textContent(`.stat.${cls} .n`)).trim();
    assert(await stat('active') === '3' && await stat('cooling') === '1', `${await stat('active')} / ${await stat('cooling')}`);
    await page.screenshot({ path: join(shots, 'creds-overview-desktop-en.png'), fullPage: true });
  });

  await step('regression: a revoked sign-in shows "needs sign-in" with Sign in again, not Unban', async () => {
    const ca = (await api('GET', '/credentials/1')).json;
    await simPost('refresh/revoke', { email: ca.email });
    await credentials();
    await page.locator('tr', { hasText: 'demo-code-assist.json' }).locator('input[name=ids]').check();
    await page.locator('[data-bulk=recheck]').click();
    await page.locator('.toast', { hasText: '1 refused' }).waitFor();
    const row = page.locator('tr', { hasText: 'demo-code-assist.json' });
    await row.locator('.badge.needs_sign_in').waitFor();
    assert(await row.getByRole('link', { name: 'Sign in again' }).count() === 1, 'no sign-in link');
    assert(await row.getByRole('button', { name: 'Unban' }).count() === 0, 'an Unban button');
    assert((await counts()).includes('1 needs sign-in'), await counts());
    assert((await api('GET', '/credentials/1')).json.status === 'needs_sign_in', 'API status');
  });

  await step('bulk export downloads a ZIP of the checked rows', async () => {
    await page.locator('#cred-table tbody tr').nth(1).locator('input[name=ids]').check();
    const [download] = await Promise.all([
      page.waitForEvent('download'),
      page.locator('[data-bulk=export]').click(),
    ]);
    assert(download.suggestedFilename() === 'credentials.zip', download.suggestedFilename());
  });

  await step('screenshots of the credentials page: desktop and phone, English and Chinese', async () => {
    for (const lang of ['en', 'zh-CN']) {
      await context.addCookies([{ name: 'gcli2api_lang', value: lang, url: base }]);
      for (const [size, vp] of [['desktop', { width: 1400, height: 900 }], ['phone', { width: 375, height: 800 }]]) {
        await page.setViewportSize(vp);
        await credentials().catch(() => {});
        await page.locator('#cred-counts').waitFor();
        await page.screenshot({ path: join(shots, `creds-${size}-${lang}.png`), fullPage: true });
      }
    }
    await context.addCookies([{ name: 'gcli2api_lang', value: 'en', url: base }]);
    await page.setViewportSize({ width: 1400, height: 900 });
    await credentials();
    const zh = join(shots, 'creds-desktop-zh-CN.png');
    assert(zh, 'screenshot');
  });

  await step('bulk delete after confirming, and the counts follow', async () => {
    await page.locator('#cred-table tbody tr').nth(3).locator('input[name=ids]').check();
    await page.locator('[data-bulk=delete]').click();
    await page.locator('.toast', { hasText: '1 credentials deleted' }).waitFor();
    await page.waitForFunction(() => document.querySelector('#cred-counts').textContent.includes('3 credentials'));
    assert((await api('GET', '/credentials')).json.length === 3, 'not deleted');
  });

  await step('bulk: "all that match the filter" reaches every page, not just the one shown', async () => {
    const keys = [];
    for (let i = 0; i < 22; i += 1) {
      const r = await simPost('api-keys', { kind: 'gemini_api', project_id: 'bulk-project' });
      keys.push((await r.json()).key);
    }
    const added = await api('POST', '/credentials/keys', { kind: 'gemini_api_key', keys: keys.join('\n') });
    assert(added.status === 200, JSON.stringify(added.json));
    const gemini = () => api('GET', '/credentials').then((r) => r.json.filter((c) => c.kind === 'gemini_api_key'));
    const total = (await gemini()).length;
    assert(total >= 22, `only ${total} Gemini keys`);
    await page.goto(panelUrl + '/credentials?kind=gemini_api_key&per=20');
    await heading('Credentials');
    assert(await page.locator('#cred-table tbody tr').count() === 20, 'not one page of 20');
    const scope = page.locator('#bulk-scope');
    assert((await scope.textContent()).includes(`all ${total} that match`), await scope.textContent());
    await scope.locator('input').check();
    await page.locator('[data-bulk=disable]').click();
    await page.locator('.toast', { hasText: `${total} credentials disabled` }).waitFor();
    const after = await gemini();
    assert(after.every((c) => !c.enabled), 'a matching credential on page 2 stayed enabled');
    const others = (await api('GET', '/credentials')).json.filter((c) => c.kind !== 'gemini_api_key');
    assert(others.every((c) => c.enabled), 'a credential outside the filter was disabled');
    // Without the box, the action is the checked rows only (none here).
    await page.locator('[data-bulk=enable]').click();
    await page.locator('.toast', { hasText: 'Select at least one credential first' }).waitFor();
  });

  await step('no console errors', async () => {
    assert(consoleErrors.length === 0, consoleErrors.join('\n'));
  });
} catch (e) {
  setupFailed(e);
} finally {
  if (context) await context.close().catch(() => {});
  child.kill('SIGTERM');
  rmSync(profile, { recursive: true, force: true });
}
finish();
