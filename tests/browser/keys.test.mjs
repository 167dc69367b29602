// Browser test of the panel's client keys page: starts `gcli2api --demo` (GCLI2API_BIN), drives the panel
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
  const chat = async (key, model) => {
    const r = await fetch(base + '/v1/chat/completions', {
      method: 'POST',
      headers: { Authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model, messages: [{ role: 'user', content: 'hi' }] }),
    });
    return { status: r.status, json: await r.json().catch(() => null) };
  };

  context = await launchBrowser(profile, {
    viewport: { width: 1400, height: 900 },
  });
  const page = context.pages()[0] || await context.newPage();
  page.setDefaultTimeout(TIMEOUT);
  const consoleErrors = [];
  page.on('console', (m) => { if (m.type() === 'error') consoleErrors.push(m.text()); });
  page.on('pageerror', (e) => consoleErrors.push(String(e)));
  page.on('dialog', (d) => d.accept());
  const heading = async (text) => {
    await page.locator('#main h1', { hasText: text }).waitFor();
  };
  const row = (name) => page.locator(`#keys-table tr[data-key="${name}"]`);
  let secret = '';

  await step('sign in and open Client keys from the navigation', async () => {
    await page.goto(panelUrl);
    await page.fill('input[name=password]', PASSWORD);
    await page.click('button[type=submit]');
    await heading('Overview');
    await page.locator('#nav a', { hasText: 'Client keys' }).click();
    await heading('Client keys');
    await page.locator('#keys-table', { hasText: 'No client keys yet.' }).waitFor();
  });

  await step('creating a key shows its secret once and lists it', async () => {
    await page.fill('#key-form input[name=name]', 'ci-tool');
    await page.fill('#key-form input[name=models]', 'gemini-2.5-flash');
    await page.fill('#key-form input[name=rpm]', '30');
    await page.check('#key-form input[name=kind_code_assist]');
    await page.click('#key-form button[type=submit]');
    await page.locator('#new-secret').waitFor();
    secret = (await page.textContent('#new-secret')).trim();
    assert(/^gk-[A-Za-z0-9_-]{43}$/.test(secret), `secret ${secret}`);
    await row('ci-tool').waitFor();
    const text = await row('ci-tool').textContent();
    assert(secret.startsWith(text.match(/gk-[A-Za-z0-9_-]{8}/)[0]), `prefix in ${text}`);
    assert(text.includes('gemini-2.5-flash') && text.includes('code_assist'), text);
  });

  await step('the new key works through the proxy within its allow-list', async () => {
    const ok = await chat(secret, 'gemini-2.5-flash');
    assert(ok.status === 200, `flash ${ok.status}`);
    const no = await chat(secret, 'gemini-2.5-pro');
    assert(no.status === 403, `pro ${no.status}`);
    assert(no.json.error.message.includes('gemini-2.5-pro'), JSON.stringify(no.json));
  });

  await step('the secret is never shown again, in the page or the API', async () => {
    await page.reload();
    await heading('Client keys');
    await row('ci-tool').waitFor();
    assert(!(await page.content()).includes(secret), 'secret still in the page');
    const list = await api('GET', '/client-keys');
    assert(list.status === 200 && list.json.length === 1, JSON.stringify(list.json));
    assert(!JSON.stringify(list.json).includes(secret), 'secret in the API list');
    // The request refused by the allow-list did not count against the key's limits.
    assert(list.json[0].today.requests === 1, JSON.stringify(list.json[0].today));
  });

  await step('the usage page breaks requests down by client key', async () => {
    // Usage is written once a second: reload until the key's row is there.
    let text = '';
    for (let i = 0; i < 20 && !text.includes('ci-tool'); i += 1) {
      await page.goto(panelUrl + '/usage');
      text = await page.locator('#usage-by-key').textContent();
      if (!text.includes('ci-tool')) await page.waitForTimeout(250);
    }
    assert(text.includes('ci-tool'), text);
    const cells = await page.locator('#usage-by-key tr', { hasText: 'ci-tool' }).locator('td').allTextContents();
    assert(cells[1].trim() === '2' && cells[2].trim() === '1', `requests, failed: ${cells.join('|')}`);
    await page.goto(panelUrl + '/keys');
    await heading('Client keys');
  });

  await step('disabling refuses the key on its next request; enabling lets it back in', async () => {
    await row('ci-tool').locator('button', { hasText: 'Disable' }).click();
    await row('ci-tool').locator('td', { hasText: 'disabled' }).waitFor();
    const r = await chat(secret, 'gemini-2.5-flash');
    assert(r.status === 403, `disabled key ${r.status}`);
    await row('ci-tool').locator('button', { hasText: 'Enable' }).click();
    await row('ci-tool').locator('td', { hasText: 'enabled' }).waitFor();
    assert((await chat(secret, 'gemini-2.5-flash')).status === 200, 're-enabled key');
  });

  await step('editing a key changes its allow-list and limits from its next request, same secret', async () => {
    await row('ci-tool').locator('button', { hasText: 'Edit' }).click();
    const form = page.locator('#key-edit-form');
    await form.waitFor();
    assert(await form.locator('input[name=models]').inputValue() === 'gemini-2.5-flash', 'models not filled in');
    assert(await form.locator('input[name=rpm]').inputValue() === '30', 'rpm not filled in');
    assert(await form.locator('input[name=kind_code_assist]').isChecked(), 'kind not checked');
    await form.locator('input[name=models]').fill('gemini-2.5-*');
    await form.locator('input[name=note]').fill('edited in the panel');
    await form.locator('input[name=daily_requests]').fill('500');
    await form.locator('button[type=submit]').click();
    await row('ci-tool').locator('td', { hasText: 'gemini-2.5-*' }).waitFor();
    assert(await page.locator('#key-edit-form').count() === 0, 'the form stays open after saving');
    const text = await row('ci-tool').textContent();
    assert(text.includes('edited in the panel') && text.includes('500'), text);
    const pro = await chat(secret, 'gemini-2.5-pro');
    assert(pro.status === 200, `pro after the edit ${pro.status}`);
    // Cancel closes the form without saving.
    await row('ci-tool').locator('button', { hasText: 'Edit' }).click();
    await page.locator('#key-edit-form input[name=models]').fill('nothing-*');
    await page.locator('#key-edit button', { hasText: 'Cancel' }).click();
    assert(await page.locator('#key-edit-form').count() === 0, 'cancel left the form');
    assert((await chat(secret, 'gemini-2.5-pro')).status === 200, 'cancel saved the edit');
  });

  await step('revoking removes the key and refuses it at once', async () => {
    await row('ci-tool').locator('button', { hasText: 'Revoke' }).click();
    await page.locator('#keys-table', { hasText: 'No client keys yet.' }).waitFor();
    const r = await chat(secret, 'gemini-2.5-flash');
    assert(r.status === 403, `revoked key ${r.status}`);
    const list = await api('GET', '/client-keys');
    assert(list.json.length === 0, JSON.stringify(list.json));
    const audit = await api('GET', '/audit?action=client_key.');
    const actions = audit.json.events.map((e) => e.action).sort().join(',');
    assert(actions === 'client_key.create,client_key.delete,client_key.disable,client_key.enable,client_key.update', actions);
  });

  await step('the page is in Chinese when the language is switched', async () => {
    const url = new URL(panelUrl);
    await context.addCookies([{ name: 'gcli2api_lang', value: 'zh-CN', domain: url.hostname, path: '/' }]);
    await page.goto(panelUrl + '/keys');
    await heading('客户端密钥');
    await page.locator('#key-form button', { hasText: '创建密钥' }).waitFor();
    await page.locator('#keys-table', { hasText: '还没有客户端密钥。' }).waitFor();
    await page.locator('#nav a', { hasText: '客户端密钥' }).waitFor();
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
