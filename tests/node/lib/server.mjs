// Starting and stopping the real ToggleMaster binary (and a throwaway
// PostgreSQL) for the Node tests. No mocks: every helper here runs a real
// process on a free loopback port and cleans it up, including when the test
// process dies (children are killed on exit; the PostgreSQL keeper removes its
// cluster when our end of its stdin closes).
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import http from 'node:http';

export const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
export const BINARY = process.env.TOGGLEMASTER_BIN || join(REPO, 'build', 'togglemaster');

const children = new Set();
const tempDirs = new Set();

function killAll() {
  for (const c of children) {
    try { c.kill('SIGKILL'); } catch { /* already gone */ }
  }
  for (const d of tempDirs) rmSync(d, { recursive: true, force: true });
}
process.on('exit', killAll);
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => { killAll(); process.exit(130); });
}

export function requireBinary() {
  if (!existsSync(BINARY)) {
    throw new Error(`${BINARY} is missing: run "make" at the repository root first`);
  }
}

export function tempDir(prefix = 'tm-node-') {
  const d = mkdtempSync(join(tmpdir(), prefix));
  tempDirs.add(d);
  return d;
}

export function removeTempDir(d) {
  rmSync(d, { recursive: true, force: true });
  tempDirs.delete(d);
}

/** A TCP port nobody listens on right now (127.0.0.1). */
export function freePort() {
  return new Promise((res, rej) => {
    const s = createServer();
    s.unref();
    s.on('error', rej);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => res(port));
    });
  });
}

/** Runs a togglemaster command (migrate, import FILE, ...) to completion. */
export function tmCommand(args, databaseUrl, { check = true } = {}) {
  const p = spawnSync(BINARY, args, {
    env: { ...process.env, DATABASE_URL: databaseUrl, LOG_LEVEL: 'warn' },
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
  });
  if (check && p.status !== 0) {
    throw new Error(`togglemaster ${args.join(' ')} failed (${p.status}):\n${p.stdout}\n${p.stderr}`);
  }
  return p;
}

/** GET/POST helper with a keep-alive agent; resolves {status, headers, text}. */
export function request(agent, port, method, path, body, headers = {}) {
  return new Promise((res, rej) => {
    const data = body === undefined ? undefined : Buffer.from(body);
    const req = http.request({
      host: '127.0.0.1', port, method, path, agent,
      headers: data ? { 'Content-Type': 'application/json', 'Content-Length': data.length, ...headers } : headers,
    }, (r) => {
      const chunks = [];
      r.on('data', (c) => chunks.push(c));
      r.on('end', () => res({ status: r.statusCode, headers: r.headers, text: Buffer.concat(chunks).toString('utf8') }));
      r.on('error', rej);
    });
    req.on('error', rej);
    req.setTimeout(15000, () => req.destroy(new Error(`timeout: ${method} ${path}`)));
    if (data) req.write(data);
    req.end();
  });
}

/**
 * A running `togglemaster serve`. Its stdout (JSON log lines) is kept in
 * `lines` (parsed) so tests can read the access log.
 */
export class TmServer {
  constructor(databaseUrl, { port, env = {} } = {}) {
    this.databaseUrl = databaseUrl;
    this.port = port;
    this.env = env;
    this.lines = [];
    this.proc = null;
  }

  async start() {
    requireBinary();
    if (!this.port) this.port = await freePort();
    this.lines = [];
    const proc = spawn(BINARY, ['serve'], {
      env: { ...process.env, DATABASE_URL: this.databaseUrl, PORT: String(this.port), BIND: '127.0.0.1',
        LOG_FORMAT: 'json', LOG_LEVEL: 'info', THREADS: '2', ...this.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.proc = proc;
    children.add(proc);
    this.exited = new Promise((res) => proc.on('exit', (code, sig) => { children.delete(proc); res({ code, sig }); }));
    let buffered = '';
    proc.stdout.setEncoding('utf8');
    proc.stdout.on('data', (chunk) => {
      buffered += chunk;
      let nl;
      while ((nl = buffered.indexOf('\n')) >= 0) {
        const line = buffered.slice(0, nl);
        buffered = buffered.slice(nl + 1);
        try { this.lines.push(JSON.parse(line)); } catch { this.lines.push({ raw: line }); }
      }
    });
    this.stderr = '';
    proc.stderr.setEncoding('utf8');
    proc.stderr.on('data', (c) => { this.stderr += c; });
    await this.waitReady();
    return this;
  }

  async waitReady(timeoutMs = 15000) {
    const agent = new http.Agent({ keepAlive: false });
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (this.proc.exitCode !== null) {
        throw new Error(`togglemaster serve exited early (${this.proc.exitCode}):\n${this.stderr}\n${this.lines.map((l) => JSON.stringify(l)).join('\n')}`);
      }
      try {
        const r = await request(agent, this.port, 'GET', '/ready');
        if (r.status === 200) return;
      } catch { /* not listening yet */ }
      if (Date.now() > deadline) throw new Error(`togglemaster on port ${this.port} not ready after ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  get url() { return `http://127.0.0.1:${this.port}`; }

  /** The access log lines ({"message":"request", "path", "status", ...}). */
  requests() { return this.lines.filter((l) => l.message === 'request'); }

  async stop() {
    if (!this.proc || this.proc.exitCode !== null) return;
    this.proc.kill('SIGTERM');
    const t = setTimeout(() => this.proc.kill('SIGKILL'), 15000);
    await this.exited;
    clearTimeout(t);
  }
}

/**
 * A throwaway PostgreSQL from tests/api/pgserver.py (Debian's initdb/pg_ctl,
 * run as the postgres user when we are root, on a free port). A small Python
 * keeper starts it, prints DSNs, and removes the cluster when its stdin
 * closes, so the cluster goes away even if this process is killed.
 */
export class PgKeeper {
  async start(databases = 1) {
    const code = [
      'import sys',
      `sys.path.insert(0, ${JSON.stringify(join(REPO, 'tests', 'api'))})`,
      'import pgserver',
      'pg = pgserver.PgServer()',
      'try:',
      '    pg.start()',
      `    for _ in range(${databases}):`,
      '        print(pg.dsn(pg.create_database()), flush=True)',
      '    print("READY", flush=True)',
      '    sys.stdin.read()',
      'finally:',
      '    pg.cleanup()',
    ].join('\n');
    // Not in `children`: killing the keeper would leave the cluster running;
    // if we die, its stdin closes and it stops and removes the cluster itself.
    this.proc = spawn('python3', ['-c', code], { stdio: ['pipe', 'pipe', 'pipe'] });
    this.exited = new Promise((res) => this.proc.on('exit', (c) => res(c)));
    this.dsns = [];
    let out = '';
    let err = '';
    this.proc.stderr.on('data', (c) => { err += c; });
    await new Promise((res, rej) => {
      const t = setTimeout(() => rej(new Error(`PostgreSQL did not start in 120 s\n${err}`)), 120000);
      this.proc.stdout.on('data', (c) => {
        out += c;
        if (out.includes('READY\n')) {
          clearTimeout(t);
          this.dsns = out.split('\n').filter((l) => l.startsWith('postgres://'));
          res();
        }
      });
      this.proc.on('exit', (c) => { clearTimeout(t); rej(new Error(`PostgreSQL keeper exited (${c})\n${err}`)); });
    });
    return this;
  }

  async stop() {
    if (!this.proc || this.proc.exitCode !== null) return;
    this.proc.stdin.end();
    const t = setTimeout(() => this.proc.kill('SIGKILL'), 60000);
    await this.exited;
    clearTimeout(t);
  }
}
