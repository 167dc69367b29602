// Shared harness for the real-client tests: starts `gcli2api --demo` (the gateway plus its
// built-in Google simulator, binary from GCLI2API_BIN), runs a client CLI with a hard timeout,
// and (with CLIENT_TRACE_DIR set) records every exchange between a client and the gateway.
//
// Replies come from the simulator (src/simulator/reply.rs): for a plain user turn the answer
// is `Echo: <text of the last user turn>`, so a test sends a prompt with a unique marker and
// checks that the marker came back after "Echo:".
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
export const BIN_DIR = join(here, 'node_modules', '.bin');
export const API_KEY = 'client-test-key';

/** Upper bound for one client run; a hanging CLI is killed and the test fails. */
export const CLIENT_TIMEOUT_MS = Number(process.env.CLIENT_TIMEOUT_MS || 120000);

/** A prompt with a marker that is unique to this run, and what the simulator echoes. */
export function prompt(client) {
  const marker = `marker-${client}-${randomBytes(4).toString('hex')}`;
  return { marker, text: `Please answer with the token ${marker} and nothing more.` };
}

async function freePort() {
  return new Promise((ok, fail) => {
    const s = createServer();
    s.once('error', fail);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => ok(port));
    });
  });
}

/**
 * Starts `gcli2api --demo` on a free loopback port and waits for /healthz.
 * Returns { base, url, simUrl, log(), stop() }; `url` is what clients are pointed at
 * (the gateway itself, or the recording proxy when CLIENT_TRACE_DIR is set).
 */
export async function startGateway(name) {
  const bin = process.env.GCLI2API_BIN;
  if (!bin) throw new Error('set GCLI2API_BIN to the gcli2api binary (cargo build --bin gcli2api)');
  const port = await freePort();
  const child = spawn(resolve(bin), ['--demo'], {
    env: {
      PATH: process.env.PATH || '/usr/bin:/bin',
      HOST: '127.0.0.1',
      PORT: String(port),
      PASSWORD: API_KEY,
      LOG_LEVEL: process.env.GATEWAY_LOG_LEVEL || 'info',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (d) => { out += d; });
  child.stderr.on('data', (d) => { out += d; });
  const exited = new Promise((ok) => child.once('exit', (code, signal) => ok({ code, signal })));
  const base = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 60000;
  for (;;) {
    const early = await Promise.race([exited, new Promise((ok) => setTimeout(() => ok(null), 200))]);
    if (early) throw new Error(`gcli2api --demo exited early (${JSON.stringify(early)}):\n${out}`);
    try {
      const r = await fetch(`${base}/healthz`, { signal: AbortSignal.timeout(1000) });
      if (r.ok) break;
    } catch {
      // not up yet
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`gcli2api --demo did not become healthy:\n${out}`);
    }
  }
  const simUrl = (out.match(/simulated Google at (http:\/\/\S+?)\)/) || [])[1];
  const trace = process.env.CLIENT_TRACE_DIR ? await startRecorder(base, join(process.env.CLIENT_TRACE_DIR, name)) : null;
  return {
    base,
    url: trace ? trace.url : base,
    simUrl,
    log: () => out,
    /** Requests the simulator received (its control API), i.e. what the gateway sent Google. */
    async upstreamRequests() {
      if (!simUrl) return [];
      const r = await fetch(`${simUrl}/__sim/requests`);
      return r.ok ? r.json() : [];
    },
    async stop() {
      if (trace) await trace.close();
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        const t = setTimeout(() => child.kill('SIGKILL'), 15000);
        await exited;
        clearTimeout(t);
      }
    },
  };
}

/**
 * A transparent HTTP proxy in front of the gateway that writes each exchange (request line,
 * headers, body; response status, headers, body) to `dir/NNN.json`. Only for diagnosis:
 * set CLIENT_TRACE_DIR to see exactly what a client sent and what it got back.
 */
async function startRecorder(target, dir) {
  mkdirSync(dir, { recursive: true });
  let n = 0;
  const server = http.createServer((req, res) => {
    const id = String(++n).padStart(3, '0');
    const reqChunks = [];
    const resChunks = [];
    const up = http.request(target + req.url, { method: req.method, headers: req.headers }, (ur) => {
      res.writeHead(ur.statusCode, ur.headers);
      ur.on('data', (c) => { resChunks.push(c); res.write(c); });
      ur.on('end', () => {
        res.end();
        const text = (chunks) => Buffer.concat(chunks).toString('utf8');
        const parse = (s) => { try { return JSON.parse(s); } catch { return s; } };
        writeFileSync(join(dir, `${id}.json`), JSON.stringify({
          request: { method: req.method, url: req.url, headers: req.headers, body: parse(text(reqChunks)) },
          response: { status: ur.statusCode, headers: ur.headers, body: parse(text(resChunks)) },
        }, null, 2));
      });
    });
    up.on('error', (e) => { res.writeHead(502); res.end(String(e)); });
    req.on('data', (c) => { reqChunks.push(c); up.write(c); });
    req.on('end', () => up.end());
  });
  await new Promise((ok) => server.listen(0, '127.0.0.1', ok));
  return {
    url: `http://127.0.0.1:${server.address().port}`,
    close: () => new Promise((ok) => { server.closeAllConnections(); server.close(ok); }),
  };
}

/** A throwaway HOME (and work folder) for one CLI run; removed by `cleanup()`. */
export function tempHome(client) {
  const root = mkdtempSync(join(tmpdir(), `gcli2api-${client}-`));
  const home = join(root, 'home');
  const work = join(root, 'work');
  mkdirSync(home);
  mkdirSync(work);
  return { root, home, work, cleanup: () => rmSync(root, { recursive: true, force: true }) };
}

/**
 * Runs a client CLI from node_modules/.bin with exactly `env` (plus PATH, whose first entry is
 * node_modules/.bin so the pinned Node.js runs Node-based CLIs), stdin closed, and a hard
 * timeout that kills the whole process group.
 */
export function runCli(command, args, { env, cwd, timeoutMs = CLIENT_TIMEOUT_MS }) {
  return new Promise((ok) => {
    const started = Date.now();
    const child = spawn(join(BIN_DIR, command), args, {
      cwd,
      env: { PATH: `${BIN_DIR}:/usr/local/bin:/usr/bin:/bin`, LANG: 'C.UTF-8', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    child.stdout.on('data', (d) => { stdout += d; });
    child.stderr.on('data', (d) => { stderr += d; });
    const timer = setTimeout(() => {
      timedOut = true;
      try { process.kill(-child.pid, 'SIGKILL'); } catch { child.kill('SIGKILL'); }
    }, timeoutMs);
    child.on('error', (e) => { stderr += String(e); });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      // Anything the CLI left running in its group goes too.
      try { process.kill(-child.pid, 'SIGKILL'); } catch { /* already gone */ }
      ok({ code, signal, stdout, stderr, timedOut, ms: Date.now() - started });
    });
  });
}

/** A readable account of a CLI run and the gateway's log, for assertion messages. */
export function explain(run, gateway) {
  const tail = (s, n) => s.split('\n').slice(-n).join('\n');
  return [
    `exit code ${run.code}${run.signal ? ` signal ${run.signal}` : ''}${run.timedOut ? ` (killed after ${CLIENT_TIMEOUT_MS} ms)` : ''}, ${run.ms} ms`,
    `--- stdout\n${tail(run.stdout, 40)}`,
    `--- stderr\n${tail(run.stderr, 40)}`,
    `--- gateway log (tail)\n${tail(gateway.log(), 30)}`,
  ].join('\n');
}
