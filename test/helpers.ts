/**
 * Test helpers: a gateway from a YAML string on port 0 (in this process, or `gateway start` in a
 * process of its own), the demo backend on port 0, captured log
 * lines, raw socket requests and Redis discovery. Everything talks over real sockets.
 */
import type { AnyPolicy } from '../src/pipeline/contract.js';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { Writable } from 'node:stream';
import pino from 'pino';
import { parseConfig } from '../src/config/load.js';
import { ConfigError } from '../src/errors.js';
import { Gateway, type GatewayOptions } from '../src/gateway.js';
import type { HealthTimers } from '../src/upstream/types.js';
import { startDemoBackend, type DemoBackend } from '../src/demo-backend.js';

export { startDemoBackend, type DemoBackend };

export interface TestGateway {
  gateway: Gateway;
  url: string;
  adminUrl: string;
  port: number;
  /** Every log line written so far, parsed. */
  logs: Array<Record<string, unknown>>;
  close(): Promise<void>;
}

/**
 * Start a gateway from YAML. `${VAR}` substitutions read `env` over process.env. The proxy and admin
 * ports are always ephemeral (0), whatever the YAML says.
 */
export async function startGateway(
  yaml: string,
  env: Record<string, string | undefined> = {},
  opts: { policies?: readonly AnyPolicy[] } & Pick<GatewayOptions, 'configFile' | 'timers'> = {},
): Promise<TestGateway> {
  const { config, warnings, policies } = parseConfig(yaml, { ...process.env, ...env }, 'config', opts.policies);
  const patched = structuredClone(config) as typeof config & { server: { port: number }; admin: { port: number } };
  patched.server.port = 0;
  patched.admin.port = 0;
  const logs: Array<Record<string, unknown>> = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const line of chunk.toString('utf8').split('\n')) {
        if (line.trim() !== '') logs.push(JSON.parse(line) as Record<string, unknown>);
      }
      cb();
    },
  });
  const logger = pino({ level: config.logging.level === 'info' ? 'debug' : config.logging.level, base: null }, sink);
  const gateway = await Gateway.create({ config: patched, warnings, logger, env: { ...process.env, ...env }, policies, ...(opts.configFile !== undefined ? { configFile: opts.configFile } : {}), ...(opts.timers !== undefined ? { timers: opts.timers } : {}) });
  const { port, adminPort } = await gateway.start();
  return {
    gateway,
    url: `http://127.0.0.1:${port}`,
    adminUrl: `http://127.0.0.1:${adminPort}`,
    port,
    logs,
    close: () => gateway.close(1000),
  };
}

/** The usual pair: demo backend + a gateway with one `api` route (pathPrefix /) to it, plus YAML extras. */
export function basicConfig(backendUrl: string, routeExtra = '', top = ''): string {
  return `
${top}
upstreams:
  backend:
    targets: [{ url: ${backendUrl} }]
routes:
  - name: api
    match: { pathPrefix: / }
    upstream: backend
${routeExtra}
`;
}

export interface RawResponse {
  status: number;
  head: string;
  headers: Record<string, string>;
  body: string;
  raw: string;
}

/** Send bytes exactly as given over a fresh TCP connection; resolves with the parsed first response. */
export function rawRequest(port: number, data: string | Buffer, timeoutMs = 3000): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => {
      socket.destroy();
      finish();
    }, timeoutMs);
    const finish = () => {
      clearTimeout(timer);
      const raw = Buffer.concat(chunks).toString('latin1');
      const split = raw.indexOf('\r\n\r\n');
      const head = split === -1 ? raw : raw.slice(0, split);
      const lines = head.split('\r\n');
      const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(lines[0] ?? '')?.[1] ?? 0);
      const headers: Record<string, string> = {};
      for (const line of lines.slice(1)) {
        const i = line.indexOf(':');
        if (i > 0) headers[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim();
      }
      let body = split === -1 ? '' : raw.slice(split + 4);
      const len = headers['content-length'];
      if (len !== undefined) body = body.slice(0, Number(len));
      resolve({ status, head, headers, body, raw });
    };
    socket.on('data', (d: Buffer) => {
      chunks.push(d);
      // Stop at the end of a complete content-length response so keep-alive does not make us wait.
      const raw = Buffer.concat(chunks).toString('latin1');
      const split = raw.indexOf('\r\n\r\n');
      const m = /\r\ncontent-length:\s*(\d+)/i.exec(raw.slice(0, split === -1 ? raw.length : split));
      if (split !== -1 && m && raw.length - split - 4 >= Number(m[1])) {
        socket.destroy();
        finish();
      }
    });
    socket.on('end', () => {
      socket.destroy();
      finish();
    });
    socket.on('error', (err) => {
      clearTimeout(timer);
      if (chunks.length > 0) finish();
      else reject(err);
    });
    socket.write(data);
  });
}

export const REDIS_URL = process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379';

/**
 * Whether a Redis answers at REDIS_URL. Tests that need Redis call this and skip with a printed
 * reason when it does not — except under CI (CI=true), where a missing Redis must fail the run.
 */
export async function redisAvailable(url = REDIS_URL): Promise<boolean> {
  const { hostname, port } = new URL(url);
  const ok = await new Promise<boolean>((resolve) => {
    const s = net.connect(Number(port || 6379), hostname || '127.0.0.1');
    const t = setTimeout(() => {
      s.destroy();
      resolve(false);
    }, 1000);
    s.on('connect', () => s.write('PING\r\n'));
    s.on('data', (d: Buffer) => {
      clearTimeout(t);
      s.destroy();
      resolve(d.toString().startsWith('+PONG'));
    });
    s.on('error', () => {
      clearTimeout(t);
      resolve(false);
    });
  });
  if (!ok && process.env['CI'] === 'true') throw new Error(`CI=true but no Redis answers at ${url}`);
  if (!ok) console.log(`# skipping Redis tests: no Redis answers at ${url} (set REDIS_URL)`);
  return ok;
}

/** Wait until `check` is true, polling; fails after `ms`. */
export async function waitFor(check: () => boolean | Promise<boolean>, ms = 3000, what = 'condition'): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** A port nothing listens on: bound, noted, closed. */
export async function closedPort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

/** The problems a config text is refused for ([] when it is accepted). */
export function configProblems(yaml: string, env: Record<string, string> = {}): string[] {
  try {
    parseConfig(yaml, env);
  } catch (err) {
    if (err instanceof ConfigError) return [...err.problems];
    throw err;
  }
  return [];
}

const CLI = join(import.meta.dirname, '..', 'dist', 'cli.js');

export interface GatewayProcess {
  child: ChildProcess;
  /** The config file it was started with (tests rewrite it to reload). */
  file: string;
  /** Every line of its standard output so far, parsed. */
  lines: Array<Record<string, unknown>>;
  /** The ports of the first `count` gateway.started lines (one per worker); rejects if it exits first. */
  started(count?: number): Promise<Array<{ port: number; adminPort: number }>>;
}

/** `gateway start [args]` in a process of its own, with `yaml` written to a temporary config file. */
export function spawnGateway(yaml: string, args: string[] = []): GatewayProcess {
  const cfg = join(mkdtempSync(join(tmpdir(), 'gw-proc-')), 'gateway.yaml');
  writeFileSync(cfg, yaml);
  const child = spawn(process.execPath, [CLI, 'start', '--config', cfg, ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  const lines: Array<Record<string, unknown>> = [];
  const exited = new Promise<never>((_, reject) => child.once('exit', (code) => reject(new Error(`gateway exited with ${code}`))));
  exited.catch(() => undefined);
  createInterface({ input: child.stdout! }).on('line', (line) => lines.push(JSON.parse(line) as Record<string, unknown>));
  const startedLines = () => lines.filter((l) => l['event'] === 'gateway.started') as unknown as Array<{ port: number; adminPort: number }>;
  return {
    child,
    file: cfg,
    lines,
    // An upper bound, not a speed check: --workers 2 starts three processes that each load the whole
    // module graph, which took over 10 s on the shared 2-core machine at load average 24.
    started: (count = 1) =>
      Promise.race([waitFor(() => startedLines().length >= count, 30_000, 'gateway.started').then(() => startedLines().slice(0, count)), exited]),
  };
}

/**
 * A hand-driven clock for health checks and ejections: advance() fires the timers that are due,
 * only those pending when it was called (a probe's own timeout, set while firing, waits for the next).
 */
export class ManualTimers implements HealthTimers {
  private seq = 0;
  private t = 1_000_000;
  private readonly pending = new Map<number, { at: number; fn: () => void }>();
  setTimeout(fn: () => void, ms: number): unknown {
    const id = ++this.seq;
    this.pending.set(id, { at: this.t + ms, fn });
    return id;
  }
  clearTimeout(handle: unknown): void {
    this.pending.delete(handle as number);
  }
  now(): number {
    return this.t;
  }
  random(): number {
    return 0.5;
  }
  advance(ms: number): void {
    const end = this.t + ms;
    const due = [...this.pending].filter(([, p]) => p.at <= end).sort((a, b) => a[1].at - b[1].at);
    for (const [id, p] of due) {
      if (!this.pending.has(id)) continue;
      this.pending.delete(id);
      this.t = Math.max(this.t, p.at);
      p.fn();
    }
    this.t = end;
  }
}

/** Write a config file for a gateway that reloads from it; returns its path. */
export function writeConfigFile(yaml: string): string {
  const file = join(mkdtempSync(join(tmpdir(), 'gw-cfg-')), 'gateway.yaml');
  writeFileSync(file, yaml);
  return file;
}
