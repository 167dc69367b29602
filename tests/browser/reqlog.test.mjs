// Browser test of the request log and charts pages: starts `gcli2api --demo` (GCLI2API_BIN),
// sends a few proxied requests, then drives the panel in headless Chromium: the request log's
// filters, detail view and CSV link, the charts with their data tables, both languages, and no
// sideways scrolling at phone width. Screenshots go to target/screenshots/ (not committed).
// Prints "N passed, M failed" and exits non-zero on any failure.
import { mkdtempSync, mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PASSWORD, assert, finish, freePort, launchBrowser, setupFailed, startGateway, step } from './harness.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const repo = resolve(here, '..', '..');
const TIMEOUT = 15000;
const SHOTS = join(repo, 'target', 'screenshots');

const port = await freePort();
const { child, ready } = startGateway(port);
const profile = mkdtempSync(join(tmpdir(), 'gcli2api-chromium-'));
let context;
try {
  const panelUrl = await ready;
  const base = panelUrl.replace(/\/panel$/, '');
  const chat = (body) => fetch(base + '/v1/chat/completions', {
    method: 'POST',
    headers: { Authorization: `Bearer ${PASSWORD}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  const api = async (path) => {
    const r = await fetch(base + '/api/v1' + path, { headers: { Authorization: `Bearer ${PASSWORD}` } });
    return { status: r.status, json: await r.json() };
  };

  await step('proxied requests land in the request log', async () => {
    for (let i = 0; i < 3; i += 1) {
      const r = await chat({ model: 'gemini-2.5-flash', messages: [{ role: 'user', content: 'private words' }] });
      assert(r.status === 200, `chat ${r.status}`);
      await r.text();
    }
    const bad = await chat({ messages: [{ role: 'user', content: 'no model' }] });
    assert(bad.status === 400, `bad ${bad.status}`);
    await bad.text();
    // Rows are written in the background about once a second.
    for (let i = 0; i < 50; i += 1) {
      const l = await api('/requests');
      if (l.json.total === 4) return;
      await new Promise((ok) => setTimeout(ok, 100));
    }
    throw new Error('rows did not appear');
  });

  context = await launchBrowser(profile, {
    viewport: { width: 1400, height: 900 },
  });
  const page = context.pages()[0] || await context.newPage();
  page.setDefaultTimeout(TIMEOUT);
  const consoleErrors = [];
  page.on('console', (m) => { if (m.type() === 'error') consoleErrors.push(m.text()); });
  page.on('pageerror', (e) => consoleErrors.push(String(e)));
  const nav = (href) => page.locator(`#nav a[href="${href}"]`).click();
  const rows = () => page.locator('#requests tbody tr').count();
  mkdirSync(SHOTS, { recursive: true });

  await step('sign in', async () => {
    await page.goto(panelUrl);
    await page.fill('input[name=password]', PASSWORD);
    await page.click('button[type=submit]');
    await page.locator('#main h1').waitFor();
  });

  await step('the request log lists every request, without prompt text', async () => {
    await nav('/panel/requests');
    await page.locator('#main h1', { hasText: 'Request log' }).waitFor();
    assert(await rows() === 4, `rows ${await rows()}`);
    const text = await page.textContent('#main');
    assert(!text.includes('private words'), 'prompt text shown');
    assert(text.includes('Prompt text is not stored'), 'no privacy note');
  });

  await step('the status filter keeps only the client error', async () => {
    await page.selectOption('#request-filters select[name=status]', '4xx');
    await page.click('#request-filters button[type=submit]');
    await page.waitForFunction(() => document.querySelectorAll('#requests tbody tr').length === 1);
    assert(page.url().includes('status=4xx'), `url ${page.url()}`);
    assert(await page.getAttribute('#requests tbody tr', 'data-status') === '400', 'not the 400');
    const csv = await page.getAttribute('#requests-csv', 'href');
    assert(csv.includes('status=4xx'), `csv link ${csv}`);
  });

  await step('the model filter and the credential filter narrow the list', async () => {
    await page.goto(`${base}/panel/requests?model=gemini-2.5-flash`);
    assert(await rows() === 3, `model rows ${await rows()}`);
    await page.selectOption('#request-filters select[name=credential]', '0');
    await page.click('#request-filters button[type=submit]');
    await page.waitForFunction(() => document.querySelectorAll('#requests tbody tr').length === 0);
  });

  await step('the CSV link downloads the filtered rows', async () => {
    await page.goto(`${base}/panel/requests?status=200`);
    const href = await page.getAttribute('#requests-csv', 'href');
    const text = await page.evaluate(async (h) => (await fetch(h)).text(), href);
    const lines = text.trim().split('\r\n');
    assert(lines[0].startsWith('id,time,surface,'), lines[0]);
    assert(lines.length === 4, `csv lines ${lines.length}`);
  });

  await step('the detail view shows the error reason', async () => {
    await page.goto(`${base}/panel/requests?status=4xx`);
    await page.locator('#requests tbody tr a').click();
    await page.locator('#request-detail').waitFor();
    const err = await page.textContent('#request-error');
    assert(err.includes('model'), `error ${err}`);
  });

  await step('charts are drawn with their data tables', async () => {
    await nav('/panel/charts');
    await page.locator('#chart-requests svg.chart').waitFor();
    for (const id of ['chart-requests', 'chart-tokens', 'chart-errors']) {
      const card = page.locator(`#${id}`);
      assert(await card.locator('svg.chart[role=img]').count() === 1, `${id}: no svg`);
      assert(await card.locator('details table tbody tr').count() === 48, `${id}: not 48 hours`);
    }
    const headers = await page.locator('#chart-requests thead th').allTextContents();
    assert(headers.includes('gemini-2.5-flash'), `headers ${headers}`);
    const bars = await page.locator('#chart-requests svg rect').count();
    assert(bars >= 1, 'no bars');
    // The table's total is the number of requests this hour (4: three served, one refused).
    await page.locator('#chart-requests summary').click();
    const last = await page.locator('#chart-requests tbody tr').last().locator('td').last().textContent();
    assert(last.trim() === '4', `this hour's total ${last}`);
    assert(await page.locator('#chart-quota svg.quota-bar').count() >= 1, 'no quota bars');
  });

  await step('charts per day by credential', async () => {
    await page.selectOption('#chart-filters select[name=period]', '30d');
    await page.selectOption('#chart-filters select[name=by]', 'credential');
    await page.click('#chart-filters button[type=submit]');
    await page.waitForFunction(() => location.search.includes('period=30d'));
    await page.locator('#chart-requests tbody tr').nth(29).waitFor({ state: 'attached' });
    assert(await page.locator('#chart-requests tbody tr').count() === 30, 'not 30 days');
  });

  await step('charts by credential kind name the kind in the page language', async () => {
    await page.setExtraHTTPHeaders({ 'Accept-Language': 'zh-CN' });
    await page.goto(`${base}/panel/charts?by=kind`);
    const head = await page.locator('#chart-requests thead').textContent();
    assert(head.includes('Code Assist（Google 登录）'), head);
    await page.setExtraHTTPHeaders({ 'Accept-Language': 'en' });
    await page.goto(`${base}/panel/charts?by=kind`);
    const en = await page.locator('#chart-requests thead').textContent();
    assert(en.includes('Code Assist (Google sign-in)'), en);
  });

  for (const [lang, title] of [['en', 'Request log'], ['zh-CN', '请求记录']]) {
    for (const [w, h, size] of [[1400, 900, 'desktop'], [375, 800, 'phone']]) {
      await step(`${lang} ${size}: no sideways scroll, screenshots`, async () => {
        await page.setExtraHTTPHeaders({ 'Accept-Language': lang });
        await page.setViewportSize({ width: w, height: h });
        for (const p of ['requests', 'charts']) {
          await page.goto(`${base}/panel/${p}`);
          if (p === 'requests') await page.locator('#main h1', { hasText: title }).waitFor();
          const wide = await page.evaluate(() => document.documentElement.scrollWidth);
          assert(wide <= w, `${p} scrolls sideways at ${w}: ${wide}`);
          await page.screenshot({ path: join(SHOTS, `${p}-${lang}-${size}.png`), fullPage: true });
        }
      });
    }
  }

  await step('no console errors', async () => {
    assert(consoleErrors.length === 0, consoleErrors.join('\n'));
  });
} catch (e) {
  setupFailed(e);
} finally {
  if (context) await context.close();
  child.kill('SIGTERM');
  rmSync(profile, { recursive: true, force: true });
}
finish();
