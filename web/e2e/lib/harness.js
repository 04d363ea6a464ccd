// harness.js: start the real aiff binary for a browser test and drive it.
//
// startDemo() builds ./cmd/aiff (unless AIFF_BIN names a built binary), runs
// `aiff demo --data <tmp> --addr 127.0.0.1:<free port>`, waits for /readyz and returns the base
// URL plus a stop() that sends SIGTERM and waits for the process to exit. AIFF_E2E_BASE_URL
// points the tests at a server that is already running instead.
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

export const E2E_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const REPO = path.resolve(E2E_DIR, '../..');
export const SHOTS = path.join(E2E_DIR, 'screenshots');
export const PASSWORD = process.env.AIFF_E2E_PASSWORD || 'demo';

/** freePort asks the kernel for an unused TCP port on 127.0.0.1. */
function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => resolve(port)); });
  });
}

/** waitFor polls fn until it returns a truthy value or timeoutMs passes, then throws the last error. */
export async function waitFor(fn, { timeoutMs = 15000, intervalMs = 200, what = 'condition' } = {}) {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
      last = new Error(`${what} not met`);
    } catch (e) { last = e; }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}: ${last?.message}`);
    await new Promise(r => setTimeout(r, intervalMs));
  }
}

let built = null;
function binary(tmp) {
  if (process.env.AIFF_BIN) return process.env.AIFF_BIN;
  if (!built) {
    built = path.join(tmp, 'aiff');
    execFileSync('go', ['build', '-o', built, './cmd/aiff'], { cwd: REPO, stdio: ['ignore', 'inherit', 'inherit'] });
  }
  return built;
}

/** startDemo runs `aiff demo` on a fresh data dir and resolves once /readyz answers 200. */
export async function startDemo() {
  mkdirSync(SHOTS, { recursive: true });
  if (process.env.AIFF_E2E_BASE_URL) return { base: process.env.AIFF_E2E_BASE_URL.replace(/\/$/, ''), output: () => '', stop: async () => {} };
  const tmp = mkdtempSync(path.join(tmpdir(), 'aiff-e2e-'));
  const bin = binary(tmp);
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  let out = '';
  const proc = spawn(bin, ['demo', '--data', path.join(tmp, 'data'), '--addr', `127.0.0.1:${port}`, '--password', PASSWORD], {
    cwd: tmp, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, AIFF_DATA_DIR: '', AIFF_ADDR: '', DATABASE_URL: '', REDIS_URL: '' },
  });
  proc.stdout.on('data', d => { out += d; });
  proc.stderr.on('data', d => { out += d; });
  const exited = new Promise(resolve => proc.once('exit', (code, sig) => resolve({ code, sig })));
  let dead = null;
  exited.then(r => { dead = r; });
  try {
    await waitFor(async () => {
      if (dead) throw new Error(`aiff demo exited (${dead.code ?? dead.sig}):\n${out.slice(-3000)}`);
      const r = await fetch(`${base}/readyz`).catch(() => null);
      return r?.ok;
    }, { timeoutMs: 120000, intervalMs: 250, what: `${base}/readyz` });
  } catch (e) {
    proc.kill('SIGKILL');
    rmSync(tmp, { recursive: true, force: true });
    throw e;
  }
  return {
    base,
    output: () => out,
    async stop() {
      if (!dead) {
        proc.kill('SIGTERM');
        const t = setTimeout(() => proc.kill('SIGKILL'), 15000);
        await exited;
        clearTimeout(t);
      }
      rmSync(tmp, { recursive: true, force: true });
    },
  };
}

/** launch starts Debian's Chromium headless (no downloaded browser). */
export function launch() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync'],
  });
}

/**
 * desktopPage opens a dispatcher-sized page (1400×900, en-US, UTC) in a new context of browser,
 * with the permissions given granted for origin, and returns both.
 */
export async function desktopPage(browser, { permissions = [], origin } = {}) {
  const ctx = await browser.newContext({ viewport: { width: 1400, height: 900 }, locale: 'en-US', timezoneId: 'UTC' });
  if (permissions.length) await ctx.grantPermissions(permissions, { origin });
  const page = await ctx.newPage();
  page.setDefaultTimeout(15000);
  return { ctx, page };
}

/** watch collects uncaught page errors so a test can assert the UI threw none. */
export function watch(page) {
  const errors = [];
  page.on('pageerror', e => errors.push(e.message));
  return errors;
}

/** shot saves a full-page screenshot under web/e2e/screenshots. */
export function shot(page, name, fullPage = true) {
  return page.screenshot({ path: path.join(SHOTS, `${name}.png`), fullPage });
}

/** Client is a tiny JSON API client for arranging and checking state from the test. */
export class Client {
  constructor(base) { this.base = base; this.token = ''; this.user = null; }
  async login(username, password = PASSWORD) {
    const r = await this.call('POST', '/api/auth/login', { username, password });
    this.token = r.access_token;
    this.user = r.user;
    return this;
  }
  async call(method, p, body) {
    const res = await fetch(this.base + p, {
      method, headers: { 'Content-Type': 'application/json', ...(this.token ? { Authorization: `Bearer ${this.token}` } : {}) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    const data = text ? JSON.parse(text) : null;
    if (!res.ok) throw new Error(`${method} ${p}: ${res.status} ${text}`);
    return data;
  }
  get(p) { return this.call('GET', p); }
  post(p, b) { return this.call('POST', p, b); }
  put(p, b) { return this.call('PUT', p, b); }
}

/** slug mirrors hub/seed's username slug: lower case, umlauts spelled out, spaces as '-'. */
export function slug(name) {
  const map = { ä: 'ae', ö: 'oe', ü: 'ue', ß: 'ss', Ä: 'ae', Ö: 'oe', Ü: 'ue', ' ': '-' };
  return name.replace(/[äöüßÄÖÜ ]/g, c => map[c]).toLowerCase();
}

export const fmtNum = n => new Intl.NumberFormat('en-US').format(n);
