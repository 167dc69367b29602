// Browser test of the panel's languages, formatting, accessibility and phone layout: starts
// `gcli2api --demo` (GCLI2API_BIN) and drives the panel in headless Chromium.
// - The pages are discovered from the navigation, so pages added later are covered too.
// - Each page, in English and in simplified Chinese, at desktop and phone (375 px) width and in
//   the dark theme: axe-core (vendored from npm) must report no violations, nothing may scroll
//   sideways, and the Chinese page must not show untranslated English.
// - Screenshots of every page, both sizes, both languages: target/screenshots/ (not committed).
// Prints "N passed, M failed" and exits non-zero on any failure.
import { mkdtempSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PASSWORD, assert, finish, freePort, launchBrowser, setupFailed, startGateway, step } from './harness.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const repo = resolve(here, '..', '..');
const require = createRequire(import.meta.url);
const AXE = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');
const TIMEOUT = 15000;
const SHOTS = join(repo, 'target', 'screenshots');
const DESKTOP = { width: 1400, height: 900 };
const PHONE = { width: 375, height: 812 };




// Words that are the same in Chinese text on purpose: product, client and protocol names.
const SAME_IN_CHINESE = new Set(['gcli2api', 'gemini', 'google', 'vertex', 'code', 'assist', 'claude',
  'codex', 'openai', 'anthropic', 'studio', 'cloud', 'flash', 'json', 'oauth', 'pkce', 'http', 'https',
  'token', 'tokens', 'localhost', 'english', 'base_url', 'store', 'true', 'previous_response_id',
  'responses', 'companion', 'resource', 'manager', 'service', 'usage', 'apis', 'forwarded', 'global',
  'europe', 'system', 'user', 'trace', 'debug', 'info', 'warn', 'error', 'sign', 'with', 'messages',
  'express', 'healthz', 'gcloud', 'authorized_user', 'service_account', 'type', 'oauth_creds', 'metrics', 'prometheus']);

/// Visible English words in a page meant to be Chinese, outside data (code, times, names,
/// inputs, the log, table cells holding data).
async function untranslated(page) {
  return page.evaluate((same) => {
    const skip = 'code, pre, time, script, style, .name, .log, option, [translate=no], #audit td, .cooldown, .ban, select[name=lang]';
    const out = [];
    const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
    for (let n = walker.nextNode(); n; n = walker.nextNode()) {
      const el = n.parentElement;
      if (!el || el.closest(skip) || !el.offsetParent && getComputedStyle(el).position !== 'fixed') continue;
      if (el.closest('td') && !el.closest('[data-label]') && el.closest('table:not(.urls)')) continue;
      for (const tok of n.textContent.split(/[\s（）()，、。：:；;,.!?“”"'·/]+/)) {
        if (!/^[A-Za-z]{4,}$/.test(tok)) continue;
        if (/^[A-Z0-9_]+$/.test(tok)) continue;
        if (same.includes(tok.toLowerCase())) continue;
        out.push(tok + ' in <' + el.tagName.toLowerCase() + '> "' + n.textContent.trim().slice(0, 60) + '"');
      }
    }
    return out;
  }, [...SAME_IN_CHINESE]);
}

async function axe(page) {
  if (!(await page.evaluate(() => typeof window.axe === 'object'))) {
    // Evaluated over the DevTools protocol, so the page's strict CSP stays on.
    await page.evaluate(AXE);
  }
  const r = await page.evaluate(() => window.axe.run(document, { resultTypes: ['violations'] }));
  return r.violations.map((v) => `${v.id} (${v.impact}): ${v.nodes.slice(0, 3).map((n) => n.target.join(' ')).join(' | ')}`);
}

async function sideways(page) {
  return page.evaluate(() => {
    const over = document.documentElement.scrollWidth - document.documentElement.clientWidth;
    if (over <= 0) return null;
    const wide = [...document.querySelectorAll('body *')]
      .filter((e) => e.getBoundingClientRect().right > document.documentElement.clientWidth + 1)
      .filter((e) => !e.closest('.table-wrap, .log'))
      .slice(0, 4)
      .map((e) => e.tagName.toLowerCase() + (e.id ? '#' + e.id : '') + (e.className ? '.' + String(e.className).split(' ').join('.') : ''));
    return `${over}px too wide: ${wide.join(', ')}`;
  });
}

const port = await freePort();
const { child, ready } = startGateway(port, 'debug');
const profiles = [];
const browsers = [];
async function browserFor(locale, scheme) {
  const profile = mkdtempSync(join(tmpdir(), 'gcli2api-chromium-'));
  profiles.push(profile);
  const ctx = await launchBrowser(profile, {
    locale,
    colorScheme: scheme,
    timezoneId: 'Asia/Shanghai',
    viewport: DESKTOP,
    acceptDownloads: true,
  });
  browsers.push(ctx);
  const page = ctx.pages()[0] || await ctx.newPage();
  page.setDefaultTimeout(TIMEOUT);
  page.on('dialog', (d) => d.accept());
  return { ctx, page };
}

try {
  const panelUrl = await ready;
  const base = panelUrl.replace(/\/panel$/, '');
  mkdirSync(SHOTS, { recursive: true });

  const signIn = async (page) => {
    await page.goto(panelUrl + '/login');
    await page.fill('input[name=password]', PASSWORD);
    await page.click('main button[type=submit]');
    await page.locator('#nav').waitFor();
  };

  const en = await browserFor('en-US', 'light');
  const zh = await browserFor('zh-CN', 'light');
  const dark = await browserFor('en-US', 'dark');
  const darkZh = await browserFor('zh-CN', 'dark');

  await step('/favicon.ico is an icon', async () => {
    const r = await fetch(base + '/favicon.ico');
    assert(r.status === 200, `status ${r.status}`);
    assert(r.headers.get('content-type') === 'image/x-icon', r.headers.get('content-type'));
    const b = Buffer.from(await r.arrayBuffer());
    assert(b.readUInt16LE(2) === 1 && b.readUInt16LE(4) >= 1, 'not an ICO file');
  });

  await step('Accept-Language picks the language: the sign-in page in Chinese and in English', async () => {
    await zh.page.goto(panelUrl + '/login');
    assert(await zh.page.getAttribute('html', 'lang') === 'zh-CN', 'zh page is not zh-CN');
    await zh.page.locator('label[for=password]', { hasText: '面板密码' }).waitFor();
    await en.page.goto(panelUrl + '/login');
    assert(await en.page.getAttribute('html', 'lang') === 'en', 'en page is not en');
    await en.page.locator('label[for=password]', { hasText: 'Panel password' }).waitFor();
  });

  for (const [name, b] of [['en', en], ['zh-CN', zh]]) {
    await step(`sign-in page (${name}): axe clean, no sideways scroll at 375 px, screenshots`, async () => {
      await b.page.setViewportSize(PHONE);
      await b.page.goto(panelUrl + '/login');
      const s = await sideways(b.page);
      assert(!s, s);
      await b.page.screenshot({ path: join(SHOTS, `${name}-phone-login.png`), fullPage: true });
      await b.page.setViewportSize(DESKTOP);
      const v = await axe(b.page);
      assert(v.length === 0, v.join('\n'));
      await b.page.screenshot({ path: join(SHOTS, `${name}-desktop-login.png`), fullPage: true });
    });
  }

  await signIn(en.page);
  await signIn(zh.page);
  await signIn(dark.page);
  await signIn(darkZh.page);

  // Every page the navigation links to (pages added later are picked up here).
  const pages = await en.page.$$eval('#nav a[href]', (as) => as.map((a) => a.getAttribute('href')));
  await step('the navigation lists the panel pages', async () => {
    assert(pages.length >= 7, `only ${pages.length} pages: ${pages}`);
  });
  const slug = (p) => (p.replace(/^\/panel\/?/, '') || 'overview').replace(/[^a-z0-9]+/g, '-');

  for (const [name, b] of [['en', en], ['zh-CN', zh]]) {
    for (const p of pages) {
      await step(`${p} (${name}): desktop and phone, axe clean, no sideways scroll${name === 'zh-CN' ? ', no English left' : ''}`, async () => {
        const problems = [];
        for (const [size, vp] of [['desktop', DESKTOP], ['phone', PHONE]]) {
          await b.page.setViewportSize(vp);
          await b.page.goto(base + p);
          await b.page.locator('#main h1').waitFor();
          if (p.endsWith('/logs')) await b.page.locator('#log .line').first().waitFor();
          assert(await b.page.getAttribute('html', 'lang') === (name === 'en' ? 'en' : 'zh-CN'), 'wrong lang');
          const s = await sideways(b.page);
          if (s) problems.push(`${size}: ${s}`);
          const v = await axe(b.page);
          if (v.length) problems.push(`${size} axe: ${v.join('; ')}`);
          if (name === 'zh-CN' && size === 'desktop') {
            const left = await untranslated(b.page);
            if (left.length) problems.push(`untranslated: ${left.slice(0, 8).join('; ')}`);
          }
          await b.page.screenshot({ path: join(SHOTS, `${name}-${size}-${slug(p)}.png`), fullPage: true });
        }
        assert(problems.length === 0, problems.join('\n'));
      });
    }
  }

  for (const [name, b] of [['en', dark], ['zh-CN', darkZh]]) {
    for (const p of pages) {
      await step(`${p} (${name}) in the dark theme (system preference): axe clean`, async () => {
        await b.page.goto(base + p);
        await b.page.locator('#main h1').waitFor();
        const bg = await b.page.evaluate(() => getComputedStyle(document.body).backgroundColor);
        assert(bg === 'rgb(15, 20, 27)', `background ${bg} is not the dark one`);
        const v = await axe(b.page);
        assert(v.length === 0, v.join('\n'));
        await b.page.screenshot({ path: join(SHOTS, `${name}-dark-${slug(p)}.png`), fullPage: true });
      });
    }
  }

  await step('the theme switch is remembered: light on a dark system, and back', async () => {
    await dark.page.goto(panelUrl);
    await dark.page.selectOption('footer.prefs select[name=theme]', 'light');
    await dark.page.waitForFunction(() => document.documentElement.dataset.theme === 'light');
    await dark.page.goto(panelUrl + '/usage');
    const bg = await dark.page.evaluate(() => getComputedStyle(document.body).backgroundColor);
    assert(bg === 'rgb(246, 247, 249)', `background ${bg} after choosing light`);
    await dark.page.selectOption('footer.prefs select[name=theme]', 'auto');
    await dark.page.waitForFunction(() => document.documentElement.dataset.theme === 'auto');
  });

  await step('the language switch wins over Accept-Language and is remembered', async () => {
    await zh.page.setViewportSize(DESKTOP);
    await zh.page.goto(panelUrl + '/credentials');
    await zh.page.locator('#main h1', { hasText: '凭据' }).waitFor();
    await zh.page.selectOption('footer.prefs select[name=lang]', 'en');
    await zh.page.locator('#main h1', { hasText: 'Credentials' }).waitFor();
    assert(zh.page.url().endsWith('/panel/credentials'), `back at ${zh.page.url()}`);
    await zh.page.goto(panelUrl + '/usage');
    await zh.page.locator('#main h1', { hasText: 'Usage' }).waitFor();
    await zh.page.selectOption('footer.prefs select[name=lang]', 'zh-CN');
    await zh.page.locator('#main h1', { hasText: '用量' }).waitFor();
  });

  await step('numbers have thousands separators and times show their zone (browser zone by default)', async () => {
    await zh.page.goto(panelUrl + '/audit');
    const when = await zh.page.textContent('#audit tbody tr td time');
    assert(/^2\d{3}年\d{1,2}月\d{1,2}日 \d\d:\d\d:\d\d CST$/.test(when.trim()), `audit time ${when}`);
    await zh.page.locator('#main', { hasText: 'Asia/Shanghai' }).waitFor();
    await en.page.goto(panelUrl + '/credentials');
    const reset = await en.page.locator('#cred-table td[data-label=Today] .sub').first().textContent();
    assert(/reset \d{1,2} \w{3} \d{4} \d\d:\d\d:\d\d CST/.test(reset), `reset text ${reset}`);
    const big = await en.page.evaluate(() => {
      // The catalogue's formatter is checked in unit tests; here: no bare 4+ digit counts.
      return [...document.querySelectorAll('#cred-table td[data-label="In flight"], .counts')]
        .map((e) => e.textContent).filter((t) => /\b\d{4,}\b/.test(t));
    });
    assert(big.length === 0, `unseparated numbers: ${big}`);
  });

  await step('overview: the daily reset in words, and each client\'s exact setting', async () => {
    await en.page.goto(panelUrl);
    await en.page.locator('#main', { hasText: 'Daily quotas reset at 07:00 UTC' }).waitFor();
    const want = {
      'claude-code': `ANTHROPIC_BASE_URL=${base}`,
      'gemini-cli': `GOOGLE_GEMINI_BASE_URL=${base}`,
      'openai-sdk': `OPENAI_BASE_URL=${base}/v1`,
    };
    for (const [id, text] of Object.entries(want)) {
      const got = (await en.page.textContent(`#url-${id}`)).trim();
      assert(got === text, `${id}: ${got}`);
    }
    assert((await en.page.textContent('#url-codex')).includes(`base_url = "${base}/v1"`), 'codex base_url');
    assert((await en.page.textContent('#url-google-genai')).includes(`"base_url": "${base}"`), 'genai base_url');
    await en.page.locator('tr', { hasText: 'Claude Code' }).locator('text=ANTHROPIC_AUTH_TOKEN').waitFor();
  });

  await step('settings: grouped, every invalid value reported at once next to its field, reset to default', async () => {
    await en.page.goto(panelUrl + '/settings');
    for (const g of ['access', 'upstreams', 'pool', 'quotas', 'streaming', 'logs', 'network']) {
      await en.page.locator(`fieldset#g-${g} legend`).waitFor();
    }
    await en.page.locator('#f-quota_reset_hour .help', { hasText: 'default: 7' }).waitFor();
    await en.page.fill('#s-retry_429_max_retries', '99');
    await en.page.fill('#s-quota_reset_hour', '25');
    await en.page.fill('#s-panel_timezone', 'Mars/Base');
    await en.page.click('#settings-form > .row button[type=submit]');
    for (const k of ['retry_429_max_retries', 'quota_reset_hour', 'panel_timezone']) {
      await en.page.locator(`#err-${k}`).waitFor();
      assert(await en.page.getAttribute(`#s-${k}`, 'aria-invalid') === 'true', `${k} not marked invalid`);
    }
    await en.page.locator('#settings-errors', { hasText: '3' }).waitFor();
    await en.page.fill('#s-retry_429_max_retries', '4');
    await en.page.fill('#s-quota_reset_hour', '7');
    await en.page.fill('#s-panel_timezone', '');
    await en.page.click('#settings-form > .row button[type=submit]');
    await en.page.locator('.toast', { hasText: 'Settings saved' }).waitFor();
    await en.page.click('#f-retry_429_max_retries button[name=reset]');
    await en.page.locator('.toast', { hasText: 'RETRY_429_MAX_RETRIES is back to its default' }).waitFor();
    await en.page.locator('#f-retry_429_max_retries .badge.src', { hasText: 'default' }).waitFor();
    assert(await en.page.locator('#f-retry_429_max_retries button[name=reset]').count() === 0, 'reset still offered');
  });

  await step('the display-zone setting overrides the browser\'s zone', async () => {
    const r = await fetch(base + '/api/v1/settings', {
      method: 'PATCH',
      headers: { Authorization: `Bearer ${PASSWORD}`, 'content-type': 'application/json' },
      body: JSON.stringify({ panel_timezone: 'Europe/Berlin' }),
    });
    assert(r.status < 300, `PATCH settings ${r.status} ${await r.text()}`);
    await en.page.goto(panelUrl + '/audit');
    await en.page.locator('#main', { hasText: 'Times are shown in Europe/Berlin' }).waitFor();
    const when = await en.page.textContent('#audit tbody tr td time');
    assert(/ CET$/.test(when.trim()), `audit time ${when}`);
    const back = await fetch(base + '/api/v1/settings', {
      method: 'PATCH',
      headers: { Authorization: `Bearer ${PASSWORD}`, 'content-type': 'application/json' },
      body: JSON.stringify({ panel_timezone: '' }),
    });
    assert(back.status < 300, `PUT settings ${back.status}`);
  });

  await step('logs: info by default, date and zone on each line, credential names, search, pause, download', async () => {
    await en.page.goto(panelUrl + '/logs');
    assert(await en.page.inputValue('select[name=level]') === 'info', 'level filter is not info');
    await en.page.locator('#log .line').first().waitFor();
    assert(await en.page.locator('#log .line.debug').count() === 0, 'debug lines shown at info');
    const t = await en.page.textContent('#log .line time');
    assert(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} CST$/.test(t), `line time ${t}`);
    // A line about credential 3, which the log shows by its name.
    const exp = await fetch(base + '/api/v1/credentials/3/export', { headers: { Authorization: `Bearer ${PASSWORD}` } });
    assert(exp.status === 200, `export ${exp.status}`);
    const line = en.page.locator('#log .line', { hasText: 'credential exported through the API' }).last();
    await line.waitFor();
    const text = await line.textContent();
    assert(!/credential(_id)?=3\b/.test(text), `id instead of name: ${text}`);
    await en.page.fill('#log-search', 'exported through');
    const shown = await en.page.$$eval('#log .line', (ls) => ls.filter((l) => !l.hidden).map((l) => l.textContent));
    assert(shown.length >= 1 && shown.every((s) => s.includes('exported through')), `search shows ${shown.length}`);
    const [download] = await Promise.all([en.page.waitForEvent('download'), en.page.click('#log-download')]);
    const saved = readFileSync(await download.path(), 'utf8').trim().split('\n');
    assert(saved.length === shown.length, `downloaded ${saved.length} lines, shown ${shown.length}`);
    await en.page.fill('#log-search', '');
    await en.page.click('#log-pause');
    assert(await en.page.getAttribute('#log-pause', 'aria-pressed') === 'true', 'not paused');
    await fetch(base + '/api/v1/credentials/3/export', { headers: { Authorization: `Bearer ${PASSWORD}` } });
    await en.page.locator('#log .line.held').first().waitFor({ state: 'attached' });
    assert(await en.page.locator('#log .line.held:not([hidden])').count() === 0, 'held line shown while paused');
    await en.page.locator('#log-held', { hasText: 'held' }).waitFor();
    await en.page.click('#log-pause');
    assert(await en.page.locator('#log .line.held').count() === 0, 'lines still held after resume');
  });

  await step('sign in with Google: the callback page says added/updated, styled, and the open panel notices', async () => {
    await zh.page.goto(panelUrl + '/oauth');
    await zh.page.click('#oauth-start button[type=submit]');
    const href = await zh.page.locator('#oauth-link').getAttribute('href');
    const tab = await zh.ctx.newPage();
    await tab.goto(href);
    await tab.waitForURL(/\/oauth2callback/);
    const outcome = await tab.getAttribute('#oauth-callback', 'data-outcome');
    assert(outcome === 'added' || outcome === 'updated', `outcome ${outcome}`);
    await tab.locator('h1', { hasText: '登录成功' }).waitFor();
    const css = await tab.evaluate(() => getComputedStyle(document.querySelector('main')).borderRadius);
    assert(css !== '0px', 'callback page is unstyled');
    const v = await axe(tab);
    assert(v.length === 0, v.join('\n'));
    await tab.setViewportSize(PHONE);
    const s = await sideways(tab);
    assert(!s, s);
    await tab.screenshot({ path: join(SHOTS, 'zh-CN-phone-oauth-callback.png'), fullPage: true });
    await tab.close();
    // The panel tab polls and shows the result with the right word.
    const word = outcome === 'updated' ? '已更新凭据' : '已添加凭据';
    await zh.page.locator('#oauth-result .notice.ok', { hasText: word }).waitFor();
    // A second sign-in to the same account is an update, never a second "added".
    await zh.page.click('#oauth-start button[type=submit]');
    // The first link stays on the page until the new step arrives: wait for a different one
    // (each link works once).
    await zh.page.waitForFunction(
      (first) => document.querySelector('#oauth-link')?.getAttribute('href') !== first, href);
    const again = await zh.page.locator('#oauth-link').getAttribute('href');
    const tab2 = await zh.ctx.newPage();
    await tab2.goto(again);
    await tab2.waitForURL(/\/oauth2callback/);
    assert(await tab2.getAttribute('#oauth-callback', 'data-outcome') === 'updated', 'second sign-in not "updated"');
    await tab2.close();
    await zh.page.locator('#oauth-result .notice.ok', { hasText: '已更新凭据' }).waitFor();
  });
} catch (e) {
  setupFailed(e);
} finally {
  for (const b of browsers) await b.close().catch(() => {});
  child.kill('SIGTERM');
  for (const p of profiles) rmSync(p, { recursive: true, force: true });
}
finish();
