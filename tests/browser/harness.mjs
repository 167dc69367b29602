// What every browser test file shares: a free port, `gcli2api --demo` started on it, and the
// step runner that prints "ok"/"FAIL" per step and "N passed, M failed" at the end.
import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { chromium } from 'playwright-core';

export const BIN = process.env.GCLI2API_BIN;
export const PASSWORD = process.env.PASSWORD || 'browser-test-password-42';
export const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';

if (!BIN) {
  console.error('set GCLI2API_BIN to the gcli2api binary');
  process.exit(2);
}

export async function freePort() {
  return new Promise((ok, fail) => {
    const s = createServer();
    s.once('error', fail);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => ok(port));
    });
  });
}

/// Starts `gcli2api --demo` on `port`. `ready` resolves to the panel's URL once the banner is
/// printed; `ready.sim` to the simulated Google's URL.
export function startGateway(port, logLevel = 'info') {
  const child = spawn(BIN, ['--demo'], {
    env: { ...process.env, PASSWORD, PORT: String(port), HOST: '127.0.0.1', LOG_LEVEL: logLevel },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let simFound;
  const sim = new Promise((ok) => { simFound = ok; });
  const ready = new Promise((ok, fail) => {
    const timer = setTimeout(() => fail(new Error('gateway did not start:\n' + out)), 60000);
    child.stdout.on('data', (d) => {
      out += d.toString();
      const g = out.match(/simulated Google at (http:\/\/[^\s)]+)/);
      if (g) simFound(g[1]);
      const m = out.match(/panel:\s+(http:\/\/\S+\/panel)/);
      if (m) {
        clearTimeout(timer);
        ok(m[1]);
      }
    });
    child.stderr.on('data', (d) => { out += d.toString(); });
    child.once('exit', (code) => { clearTimeout(timer); fail(new Error(`gateway exited (${code}):\n${out}`)); });
  });
  ready.sim = sim;
  return { child, ready };
}

const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic',
  '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

/// Starts headless Chromium on the throwaway `profile` directory. A browser that dies while
/// starting (it happens on a loaded CI machine) is started once more, and the first error is
/// printed so a real problem still shows.
export async function launchBrowser(profile, options = {}) {
  const opts = { executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS, ...options };
  try {
    return await chromium.launchPersistentContext(profile, opts);
  } catch (e) {
    console.log(`note: Chromium did not start, trying once more: ${String(e).split('\n')[0]}`);
    return chromium.launchPersistentContext(profile, opts);
  }
}

let passed = 0;
let failed = 0;

export async function step(name, fn) {
  try {
    await fn();
    passed += 1;
    console.log(`ok   ${name}`);
  } catch (e) {
    failed += 1;
    console.log(`FAIL ${name}\n     ${String(e && e.stack || e).split('\n').slice(0, 6).join('\n     ')}`);
  }
}

/// Counts an error thrown outside any step (the gateway or the browser did not start) as a failure.
export function setupFailed(e) {
  failed += 1;
  console.log(`FAIL setup\n     ${e && e.stack || e}`);
}

export function assert(cond, msg) {
  if (!cond) throw new Error(msg);
}

/// Prints the tally and exits: non-zero when any step failed.
export function finish() {
  console.log(`${passed} passed, ${failed} failed`);
  process.exit(failed === 0 ? 0 : 1);
}
