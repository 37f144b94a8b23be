#!/usr/bin/env node
// `npm run bench`: demo backend + gateway on free 127.0.0.1 ports, load with wrk (else autocannon),
// req/s, p50 and p99 straight to the backend and through the gateway, and their ratio.
// Plain Node ESM on the built gateway (dist/cli.js); `npm run bench` builds it first.
// Options and scenario format: bench/README.md.
import { spawn, execFileSync } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import os from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { CLK_TCK, cpuTicks, freePorts, HOST, median, nginxArgs, onPath } from './lib.mjs';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const SCENARIO_DIR = join(ROOT, 'bench', 'scenarios');
const CLI = join(ROOT, 'dist', 'cli.js');
const URL_PATH = '/api/x';

// ------------------------------------------------------------------ options (flag > env > default)
const USAGE = `Usage: npm run bench -- [options]        (or the env variables in brackets)
  --duration 10s      measured time of each load run                       [DURATION]
  --warmup 2s         unmeasured load before each measured run (0: none)   [WARMUP]
  --conns 64          connections                                          [CONNS]
  --scenarios plain   comma list of bench/scenarios/<name>.yaml            [SCENARIOS]
  --rounds 1          rounds, each with fresh gateways; medians           [ROUNDS]
  --slice 2s          targets take turns in slices of this length          [SLICE]
  --pin               taskset: gateway on CPU 1, backend + load on CPU 0   [PIN=1]
  --tool auto         wrk | autocannon | auto (wrk when installed)         [LOAD_TOOL]
  --backend demo      demo (the gateway's demo backend) | nginx (a fixed
                      JSON answer, as the shared peer harness uses)        [BACKEND]
  --bare              also run the bare node:http + undici proxy (bench/
                      bare-proxy.mjs) in the turns, pinned like a gateway  [BARE=1]
  --tls-peers auto    with an https scenario: nginx as a one-core reverse
                      proxy over HTTP and over TLS (and, with --bare, the
                      bare proxy over HTTPS) in the turns, for the cost of
                      TLS beside the gateway's | on | off               [TLS_PEERS]
  --latency           fixed-rate latency at 50% and 80% of plain's req/s
                      (bench/fixed-rate.c, built with cc), gateways and
                      bare proxy; needs plain among the scenarios;
                      implies --bare                                      [LATENCY=1]
  --fixed-rate auto   the latency generator: c (bench/fixed-rate.c, fail
                      if it does not build) | node (bench/fixed-rate.mjs)
                      | auto (c, else node with the reason printed)       [FIXED_RATE]
  --max-steal 5       a round with more CPU steal (%, /proc/stat) is run
                      again ...                                            [MAX_STEAL]
  --steal-repeats 2   ... at most this many times per round                [STEAL_REPEATS]
  --node-flags ''     node flags for every gateway process (e.g.
                      --max-semi-space-size=8); a scenario adds its own
                      with a \`# bench-node-flags:\` line                   [NODE_FLAGS]
  --list              list the scenarios and exit`;

let opts;
try {
  const { values } = parseArgs({
    options: {
      duration: { type: 'string' },
      warmup: { type: 'string' },
      conns: { type: 'string' },
      scenarios: { type: 'string' },
      rounds: { type: 'string' },
      slice: { type: 'string' },
      pin: { type: 'boolean' },
      tool: { type: 'string' },
      backend: { type: 'string' },
      bare: { type: 'boolean' },
      'tls-peers': { type: 'string' },
      latency: { type: 'boolean' },
      'fixed-rate': { type: 'string' },
      'max-steal': { type: 'string' },
      'steal-repeats': { type: 'string' },
      'node-flags': { type: 'string' },
      list: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  opts = values;
} catch (err) {
  console.error(`bench: ${err.message}\n${USAGE}`);
  process.exit(2);
}
if (opts.help) {
  console.log(USAGE);
  process.exit(0);
}
const allScenarios = readdirSync(SCENARIO_DIR).filter((f) => f.endsWith('.yaml')).map((f) => f.slice(0, -5)).sort();
if (opts.list) {
  console.log(allScenarios.join('\n'));
  process.exit(0);
}

function seconds(name, text, min) {
  const m = /^(\d+)(s|m)?$/.exec(String(text).trim());
  if (!m || Number(m[1]) * (m[2] === 'm' ? 60 : 1) < min) usageError(`${name} must be whole seconds (e.g. 10s, 1m), at least ${min}s; got "${text}"`);
  return Number(m[1]) * (m[2] === 'm' ? 60 : 1);
}
function int(name, text, min, max) {
  const n = Number(text);
  if (!Number.isInteger(n) || n < min || n > max) usageError(`${name} must be a whole number from ${min} to ${max}; got "${text}"`);
  return n;
}
function usageError(msg) {
  console.error(`bench: ${msg}\n${USAGE}`);
  process.exit(2);
}

const cfg = {
  duration: seconds('DURATION', opts.duration ?? process.env.DURATION ?? '10s', 1),
  warmup: seconds('WARMUP', opts.warmup ?? process.env.WARMUP ?? '2s', 0),
  conns: int('CONNS', opts.conns ?? process.env.CONNS ?? '64', 1, 10_000),
  rounds: int('ROUNDS', opts.rounds ?? process.env.ROUNDS ?? '1', 1, 100),
  slice: seconds('SLICE', opts.slice ?? process.env.SLICE ?? '2s', 1),
  pin: opts.pin ?? ['1', 'true', 'yes'].includes(process.env.PIN ?? ''),
  tool: opts.tool ?? process.env.LOAD_TOOL ?? 'auto',
  backend: opts.backend ?? process.env.BACKEND ?? 'demo',
  latency: opts.latency ?? ['1', 'true', 'yes'].includes(process.env.LATENCY ?? ''),
  fixedRate: opts['fixed-rate'] ?? process.env.FIXED_RATE ?? 'auto',
  bare: opts.bare ?? ['1', 'true', 'yes'].includes(process.env.BARE ?? ''),
  tlsPeers: opts['tls-peers'] ?? process.env.TLS_PEERS ?? 'auto',
  maxSteal: Number(opts['max-steal'] ?? process.env.MAX_STEAL ?? '5'),
  stealRepeats: int('STEAL_REPEATS', opts['steal-repeats'] ?? process.env.STEAL_REPEATS ?? '2', 0, 20),
  nodeFlags: (opts['node-flags'] ?? process.env.NODE_FLAGS ?? '').split(/\s+/).filter(Boolean),
  scenarios: (opts.scenarios ?? process.env.SCENARIOS ?? 'plain').split(',').map((s) => s.trim()).filter(Boolean),
};
for (const s of cfg.scenarios) {
  if (!allScenarios.includes(s)) usageError(`unknown scenario "${s}" (have: ${allScenarios.join(', ')})`);
}
if (cfg.scenarios.length === 0) usageError('SCENARIOS is empty');
if (!(cfg.maxSteal >= 0 && cfg.maxSteal <= 100)) usageError(`MAX_STEAL must be a percentage from 0 to 100; got "${opts['max-steal'] ?? process.env.MAX_STEAL}"`);
if (cfg.latency && !cfg.scenarios.includes('plain')) usageError('LATENCY=1 needs plain among the SCENARIOS (its req/s sets the rates)');
if (cfg.latency) cfg.bare = true;
if (!['auto', 'on', 'off'].includes(cfg.tlsPeers)) usageError(`TLS_PEERS must be auto, on or off; got "${cfg.tlsPeers}"`);
const LATENCY_LOADS = [0.5, 0.8];
const PEER_LABELS = { 'nginx-http': 'nginx proxy, HTTP', 'nginx-https': 'nginx proxy, HTTPS', 'bare-https': 'bare node proxy, HTTPS' };

if (!['auto', 'wrk', 'autocannon'].includes(cfg.tool)) usageError(`LOAD_TOOL must be wrk, autocannon or auto; got "${cfg.tool}"`);
if (!['auto', 'c', 'node'].includes(cfg.fixedRate)) usageError(`FIXED_RATE must be c, node or auto; got "${cfg.fixedRate}"`);
if (!['demo', 'nginx'].includes(cfg.backend)) usageError(`BACKEND must be demo or nginx; got "${cfg.backend}"`);
if (cfg.backend === 'nginx' && !onPath('nginx')) usageError('BACKEND=nginx but nginx is not on PATH (apt-get install -y nginx)');
if (cfg.tool === 'auto') cfg.tool = onPath('wrk') ? 'wrk' : 'autocannon';
if (cfg.tool === 'wrk' && !onPath('wrk')) usageError('LOAD_TOOL=wrk but wrk is not on PATH');
if (cfg.pin && !onPath('taskset')) {
  console.error('bench: PIN=1 but taskset is not installed: running unpinned');
  cfg.pin = false;
}
if (cfg.pin && os.availableParallelism() < 2) {
  console.error('bench: PIN=1 needs two CPUs: running unpinned');
  cfg.pin = false;
}
if (!existsSync(CLI)) {
  console.error(`bench: ${CLI} is missing: run \`npm run build\` (npm run bench builds it for you)`);
  process.exit(1);
}
const GATEWAY_CPU = '1';
const LOAD_CPU = '0';

// Defaults for scenarios that need a signed token (the same ones the shared peer harness uses).
const BASE_ENV = {
  BENCH_JWT_SECRET: 'bench-secret-0123456789abcdef0123456789abcdef',
  BENCH_JWT_ISSUER: 'bench-issuer',
  BENCH_JWT_AUDIENCE: 'bench-api',
  ...process.env,
};

// ------------------------------------------------------------------ child processes (killed by PID on every exit path)
const children = new Set();
const logDir = mkdtempSync(join(os.tmpdir(), 'gatewayd-bench-'));
let keepLogs = false;

class BenchError extends Error {}
const fail = (msg) => {
  throw new BenchError(msg);
};

function alive(child) {
  return child.exitCode === null && child.signalCode === null;
}

/** Start a long-running child (backend, gateway) with its output in a log file; pinned when asked. */
function startChild(name, cmd, args, { env, cpu } = {}) {
  const logFile = join(logDir, `${name}.log`);
  const fd = openSync(logFile, 'a');
  const [file, argv] = cpu !== undefined ? ['taskset', ['-c', cpu, cmd, ...args]] : [cmd, args];
  const child = spawn(file, argv, { cwd: ROOT, env: env ?? BASE_ENV, stdio: ['ignore', fd, fd] });
  closeSync(fd);
  child.benchName = name;
  child.logFile = logFile;
  children.add(child);
  child.on('exit', () => children.delete(child));
  child.on('error', () => children.delete(child));
  return child; // taskset execs the command, so child.pid is the process itself
}

function waitExit(child, ms) {
  if (!alive(child)) return Promise.resolve(true);
  return new Promise((done) => {
    const t = setTimeout(() => done(false), ms);
    child.once('exit', () => {
      clearTimeout(t);
      done(true);
    });
  });
}

async function stopChild(child) {
  if (!alive(child)) return;
  child.kill('SIGTERM');
  if (!(await waitExit(child, 5000))) {
    child.kill('SIGKILL');
    await waitExit(child, 2000);
  }
  children.delete(child);
}

async function stopAll() {
  await Promise.all([...children].map(stopChild));
}

// Last resort, synchronous: whatever is still running when this process exits is killed.
process.on('exit', () => {
  for (const c of children) if (alive(c)) c.kill('SIGKILL');
  if (!keepLogs) rmSync(logDir, { recursive: true, force: true });
});
let interrupted = false;
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(sig, () => {
    if (interrupted) process.exit(130);
    interrupted = true;
    console.error(`\nbench: ${sig}: stopping`);
    stopAll().finally(() => process.exit(130));
  });
}

function tail(file, lines = 20) {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

// ------------------------------------------------------------------ the fixed-rate generator (LATENCY=1)
// bench/fixed-rate.c, compiled once per bench run into the temp directory: the Node generator's own
// event-loop turns and GC pauses, on the load CPU beside the backend, showed in the p99 it measured.
// bench/fixed-rate.mjs when there is no C compiler (or FIXED_RATE=node).
const fixedRate = { cmd: process.execPath, args: [join(ROOT, 'bench', 'fixed-rate.mjs')], desc: 'bench/fixed-rate.mjs (Node)' };
if (cfg.latency && cfg.fixedRate !== 'node') {
  const bin = join(logDir, 'fixed-rate');
  const ccArgs = ['-O2', '-o', bin, join(ROOT, 'bench', 'fixed-rate.c'), '-lm'];
  let why;
  try {
    execFileSync('cc', ccArgs, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], timeout: 60_000 });
  } catch (err) {
    why = err.code === 'ENOENT' ? 'cc is not installed' : `cc failed: ${(String(err.stderr ?? '').trim().split('\n')[0] || err.message.split('\n')[0]).slice(0, 200)}`;
  }
  if (why === undefined) {
    // It must run from the temp directory (not mounted noexec): a rate of 0 is a usage error, exit 2.
    try {
      execFileSync(bin, ['--url', `http://${HOST}:1/`, '--rate', '0'], { stdio: 'ignore', timeout: 10_000 });
      why = 'the built binary did not reject --rate 0';
    } catch (err) {
      if (err.status !== 2) why = `the built binary does not run (${err.code ?? err.status ?? err.signal})`;
    }
  }
  if (why === undefined) Object.assign(fixedRate, { cmd: bin, args: [], desc: 'bench/fixed-rate.c (C, cc -O2)' });
  else {
    if (cfg.fixedRate === 'c') {
      console.error(`bench: FIXED_RATE=c but bench/fixed-rate.c cannot be used (${why})`);
      process.exit(1);
    }
    console.error(`bench: bench/fixed-rate.c cannot be used (${why}): latency runs use node bench/fixed-rate.mjs`);
  }
}

// ------------------------------------------------------------------ helpers
/** How a port is loaded: its scheme (https scenarios) and load tool (h2load scenarios); plain http by default. */
const portMode = new Map();

function get(port, path, headers = {}) {
  const secure = portMode.get(port)?.scheme === 'https';
  return new Promise((resolveGet) => {
    // The bench's own self-signed certificate: not verified (as wrk, autocannon and h2load do not).
    const req = (secure ? https : http).get({ host: HOST, port, path, headers, agent: false, timeout: 2000, rejectUnauthorized: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c) => (body += c.length + body.length > 4000 ? '' : c));
      res.on('end', () => resolveGet({ status: res.statusCode, body }));
      res.on('error', (e) => resolveGet({ status: 0, body: String(e) }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', (e) => resolveGet({ status: 0, body: e.code ?? e.message }));
  });
}

/** Poll until the child answers 2xx on path; fails when it exits, answers non-2xx at the end, or takes > 60 s. */
async function waitUp(child, port, path, headers) {
  let deadline = Date.now() + 60_000; // a 10,000-route config takes seconds to parse and validate
  let answered = false;
  let last = { status: 0, body: '' };
  while (Date.now() < deadline) {
    if (!alive(child)) break;
    last = await get(port, path, headers);
    if (last.status >= 200 && last.status < 300) return;
    // Once it answers at all, a non-2xx that lasts 3 s is an answer, not a slow start.
    if (last.status && !answered) [answered, deadline] = [true, Math.min(deadline, Date.now() + 3000)];
    await new Promise((r) => setTimeout(r, 100));
  }
  keepLogs = true;
  const why = !alive(child)
    ? `exited (code ${child.exitCode ?? child.signalCode})`
    : last.status
      ? `answered ${last.status} on ${path}: ${last.body.slice(0, 300)}`
      : `did not answer on ${HOST}:${port} within 60 s (${last.body})`;
  fail(`${child.benchName} ${why}\n--- ${child.logFile} (last lines):\n${tail(child.logFile)}`);
}

/** ${VAR} / ${VAR:-default} from env; an unset VAR without default is an error. */
function expand(text, env, where) {
  return text.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g, (_, name, def) => {
    const v = env[name];
    if (v !== undefined && v !== '') return v;
    if (def !== undefined) return def;
    fail(`${where}: environment variable ${name} is not set`);
  });
}

/** The `# bench-header:`, `# bench-setup:` and `# bench-redis:` comment directives of a scenario file. */
function readScenario(name) {
  const file = join(SCENARIO_DIR, `${name}.yaml`);
  const headers = [];
  const setup = [];
  const nodeFlags = [];
  let redis = false;
  let scheme = 'http';
  let tool;
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    const m = /^#\s*bench-(header|setup|redis|node-flags|scheme|tool):\s*(.*?)\s*$/.exec(line);
    if (!m) continue;
    if (m[1] === 'header') headers.push(m[2]);
    else if (m[1] === 'node-flags') nodeFlags.push(...m[2].split(/\s+/).filter(Boolean));
    else if (m[1] === 'redis') redis = m[2] === 'private';
    else if (m[1] === 'scheme') scheme = m[2] === 'https' ? 'https' : 'http';
    else if (m[1] === 'tool') tool = m[2];
    else setup.push(m[2]);
  }
  if (tool !== undefined && tool !== 'h2load') fail(`scenario ${name}: bench-tool must be h2load; got "${tool}"`);
  if (tool === 'h2load' && !onPath('h2load')) fail(`scenario ${name}: needs h2load (apt-get install -y nghttp2-client)`);
  return { name, file, headers, setup, redis, nodeFlags, scheme, tool };
}

/** Run the scenario's setup commands; their KEY=VALUE output lines extend the env. */
function runSetup(sc, env) {
  const out = { ...env };
  for (const cmd of sc.setup) {
    let stdout;
    try {
      stdout = execFileSync('sh', ['-c', cmd], { cwd: ROOT, env: out, encoding: 'utf8', timeout: 60_000, stdio: ['ignore', 'pipe', 'inherit'] });
    } catch (err) {
      fail(`scenario ${sc.name}: bench-setup \`${cmd}\` failed: ${err.message.split('\n')[0]}`);
    }
    for (const line of stdout.split('\n')) {
      const m = /^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)=(.*?)\s*$/.exec(line);
      if (!m) continue;
      out[m[1]] = m[2].replace(/^(['"])(.*)\1$/, '$2');
      // A generated config (e.g. 10,000 routes) replaces the scenario file for the gateway.
      if (m[1] === 'BENCH_CONFIG') sc.config = resolve(ROOT, out.BENCH_CONFIG);
    }
  }
  return out;
}

function parseHeaders(sc, env) {
  return sc.headers.map((h) => {
    const text = expand(h, env, `scenario ${sc.name}: bench-header`);
    const i = text.indexOf(':');
    if (i <= 0) fail(`scenario ${sc.name}: bench-header must read "Name: value"; got "${h}"`);
    return [text.slice(0, i).trim(), text.slice(i + 1).trim()];
  });
}

function procStatusKb(pid, field) {
  try {
    const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The machine's CPU time counters from /proc/stat (clock ticks): the `cpu` line (all CPUs) and the
 * lines of the CPUs the bench pins to. Steal is time a virtual CPU was ready but the hypervisor ran
 * someone else: on a shared host it makes a round slower by itself.
 */
function cpuStat() {
  const out = {};
  try {
    for (const line of readFileSync('/proc/stat', 'utf8').split('\n')) {
      const m = /^(cpu\d*)\s+(.*)$/.exec(line);
      if (!m) continue;
      const f = m[2].trim().split(/\s+/).map(Number);
      // user nice system idle iowait irq softirq steal (guest time is already in user)
      out[m[1]] = { total: f.slice(0, 8).reduce((a, b) => a + b, 0), steal: f[7] ?? 0 };
    }
  } catch {
    // no /proc/stat (not Linux): steal is unknown
  }
  return out;
}

/** Steal as a share of the time between two cpuStat() readings: all CPUs, and the worst pinned CPU. */
function stealShare(a, b) {
  const share = (k) => (a[k] && b[k] && b[k].total > a[k].total ? (b[k].steal - a[k].steal) / (b[k].total - a[k].total) : NaN);
  const pinned = cfg.pin ? Math.max(share(`cpu${GATEWAY_CPU}`), share(`cpu${LOAD_CPU}`)) : NaN;
  return { all: share('cpu'), worst: Number.isFinite(pinned) ? Math.max(pinned, share('cpu')) : share('cpu') };
}

// ------------------------------------------------------------------ load tools
/** wrk prints 812.00us / 1.23ms / 1.02s / 1.50m / 1.00h: milliseconds. */
function wrkMs(v) {
  const m = /^([\d.]+)(us|ms|s|m|h)$/.exec(v);
  if (!m) return NaN;
  return Number(m[1]) * { us: 0.001, ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[m[2]];
}

function parseWrk(out) {
  const num = (re) => {
    const m = re.exec(out);
    return m ? m[1] : undefined;
  };
  const se = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  return {
    rps: Number(num(/^Requests\/sec:\s+([\d.]+)/m)),
    p50: wrkMs(num(/^\s+50%\s+(\S+)/m) ?? ''),
    p99: wrkMs(num(/^\s+99%\s+(\S+)/m) ?? ''),
    requests: Number(num(/^\s*(\d+) requests in/m) ?? 0),
    non2xx: Number(num(/Non-2xx or 3xx responses:\s+(\d+)/) ?? 0),
    errors: se ? Number(se[1]) + Number(se[2]) + Number(se[3]) : 0,
    timeouts: se ? Number(se[4]) : 0,
  };
}

/** h2load's summary: req/s, requests, non-2xx and errors (it reports no percentiles per request). */
function parseH2load(out) {
  const num = (re) => {
    const m = re.exec(out);
    return m ? Number(m[1]) : NaN;
  };
  const requests = num(/^requests: (\d+) total/m);
  const ok = num(/^status codes: (\d+) 2xx/m);
  return {
    rps: num(/^finished in [\d.]+\w+, ([\d.]+) req\/s/m),
    requests,
    p50: NaN,
    p99: NaN,
    non2xx: Number.isFinite(ok) ? num(/^requests: \d+ total, \d+ started, (\d+) done/m) - ok : 0,
    errors: num(/ (\d+) errored/m) || 0,
    timeouts: num(/ (\d+) timeout/m) || 0,
  };
}

function runLoad(port, headers, secs, rate) {
  const mode = portMode.get(port) ?? {};
  const url = `${mode.scheme ?? 'http'}://${HOST}:${port}${URL_PATH}`;
  let cmd;
  let args;
  const tool = rate !== undefined ? 'fixed-rate' : mode.tool === 'h2load' ? 'h2load' : cfg.tool;
  if (tool === 'fixed-rate') {
    cmd = fixedRate.cmd;
    args = [...fixedRate.args, '--url', url, '--rate', String(Math.round(rate)), '--duration', String(secs), '--warmup', '1',
      '--conns', String(cfg.conns), ...headers.flatMap(([k, v]) => ['-H', `${k}: ${v}`])];
  } else if (tool === 'h2load') {
    // h2 load: 64 streams over 4 connections.
    cmd = 'h2load';
    args = ['-c4', '-m16', '-t1', '-D', String(secs), ...headers.flatMap(([k, v]) => ['-H', `${k}: ${v}`]), url];
  } else if (cfg.tool === 'wrk') {
    cmd = 'wrk';
    args = ['-t1', `-c${cfg.conns}`, `-d${secs}s`, '--latency', ...headers.flatMap(([k, v]) => ['-H', `${k}: ${v}`]), url];
  } else {
    cmd = process.execPath;
    args = [join(ROOT, 'node_modules', 'autocannon', 'autocannon.js'), '-c', String(cfg.conns), '-d', String(secs), '--json', '-n', '-t', '5',
      ...headers.flatMap(([k, v]) => ['-H', `${k}=${v}`]), url];
  }
  if (cfg.pin) [cmd, args] = ['taskset', ['-c', LOAD_CPU, cmd, ...args]];
  return new Promise((resolveLoad, rejectLoad) => {
    const child = spawn(cmd, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    child.benchName = tool;
    children.add(child);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c) => (stdout += c));
    child.stderr.on('data', (c) => (stderr += c));
    // The tool stops by itself after secs; this is the backstop.
    const killer = setTimeout(() => child.kill('SIGKILL'), (secs + 40) * 1000);
    child.on('error', (e) => {
      clearTimeout(killer);
      children.delete(child);
      rejectLoad(new BenchError(`${tool}: ${e.message}`));
    });
    child.on('close', (code, signal) => {
      clearTimeout(killer);
      children.delete(child);
      if (code !== 0) return rejectLoad(new BenchError(`${tool} exited with ${code ?? signal}: ${(stderr || stdout).trim().slice(0, 500)}`));
      if (tool === 'h2load') return resolveLoad({ ...parseH2load(stdout), raw: stdout });
      if (tool === 'wrk') return resolveLoad({ ...parseWrk(stdout), raw: stdout });
      if (tool === 'fixed-rate') {
        try {
          const r = JSON.parse(stdout);
          return resolveLoad({ ...r, requests: r.completed, timeouts: 0, raw: stdout });
        } catch (e) {
          return rejectLoad(new BenchError(`fixed-rate output unreadable (${e.message}): ${stdout.slice(0, 300)}`));
        }
      }
      try {
        const r = JSON.parse(stdout.slice(stdout.indexOf('{')));
        resolveLoad({
          rps: (r.requests.total ?? 0) / (r.duration || secs),
          p50: r.latency.p50,
          p99: r.latency.p99,
          requests: r.requests.total ?? 0,
          non2xx: r.non2xx ?? 0,
          errors: Math.max(0, (r.errors ?? 0) - (r.timeouts ?? 0)),
          timeouts: r.timeouts ?? 0,
          raw: stdout,
        });
      } catch (e) {
        rejectLoad(new BenchError(`autocannon output unreadable (${e.message}): ${stdout.slice(0, 300)}`));
      }
    });
  });
}

/** One measured load run; non-2xx, no requests at all or a dead gateway fail the bench. */
async function measure(label, port, headers, watch, secs, rate) {
  const r = await runLoad(port, headers, secs, rate);
  if (watch && !alive(watch)) {
    keepLogs = true;
    fail(`${label}: ${watch.benchName} died during the run\n--- ${watch.logFile}:\n${tail(watch.logFile)}`);
  }
  if (r.non2xx > 0) {
    const sample = await get(port, URL_PATH, Object.fromEntries(headers));
    fail(`${label}: ${r.non2xx} of ${r.requests} responses were not 2xx (one now: ${sample.status} ${sample.body.slice(0, 200)})`);
  }
  if (!(r.requests > 0) || !Number.isFinite(r.rps)) fail(`${label}: no requests completed\n${r.raw}`);
  if (r.errors > 0 || r.timeouts > 0) console.error(`bench: warning: ${label}: ${r.errors} socket errors, ${r.timeouts} timeouts`);
  return r;
}

// ------------------------------------------------------------------ report
const fmtInt = (n) => (Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : 'n/a');
const fmtMs = (n) => (Number.isFinite(n) ? (n < 10 ? n.toFixed(2) : n.toFixed(1)) : 'n/a');
const fmtMiB = (kb) => (Number.isFinite(kb) ? (kb / 1024).toFixed(0) : 'n/a');
const fmtPct = (n) => (Number.isFinite(n) ? `${(n * 100).toFixed(1)}%` : '');

function table(rows) {
  const head = ['target', 'req/s', 'p50 ms', 'p99 ms', 'gateway/direct req/s', 'CPU µs/req', 'vs plain (turns)', 'vs plain (paired)', 'RSS after MiB', 'peak RSS MiB'];
  const right = [false, true, true, true, true, true, true, true, true, true];
  const cells = rows.map((r) => [
    r.label,
    fmtInt(r.rps),
    fmtMs(r.p50),
    fmtMs(r.p99),
    r.ratio === undefined ? '' : fmtPct(r.ratio),
    r.cpuUs === undefined ? '' : fmtInt(r.cpuUs),
    r.vsPlain === undefined ? '' : fmtPct(r.vsPlain),
    r.paired === undefined ? '' : fmtPct(r.paired),
    r.rss === undefined ? '' : fmtMiB(r.rss),
    r.peak === undefined ? '' : fmtMiB(r.peak),
  ]);
  const w = head.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i].length)));
  const line = (c) => `| ${c.map((x, i) => (right[i] ? x.padStart(w[i]) : x.padEnd(w[i]))).join(' | ')} |`;
  return [line(head), `|${w.map((n, i) => (right[i] ? `${'-'.repeat(n + 1)}:` : '-'.repeat(n + 2))).join('|')}|`, ...cells.map(line)].join('\n');
}

// ------------------------------------------------------------------ main
/** Wait until something accepts TCP connections on the port (redis-server has no HTTP to ask). */
async function waitPort(child, port) {
  for (let i = 0; i < 100; i++) {
    if (!alive(child)) fail(`${child.benchName} exited at start (log: ${child.logFile})`);
    const ok = await new Promise((done) => {
      const s = net.connect(port, HOST);
      s.once('connect', () => {
        s.destroy();
        done(true);
      });
      s.once('error', () => done(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  fail(`${child.benchName} did not listen on ${port}`);
}

/** The TLS peers of this run (TLS_PEERS): nginx over HTTP and HTTPS, the bare proxy over HTTPS; [] for none. */
function tlsPeersFor(scenarios) {
  if (cfg.tlsPeers === 'off') return [];
  const sc = scenarios.find((x) => x.scheme === 'https' && x.tool === undefined && x.env?.TLS_DIR !== undefined);
  if (sc === undefined) {
    if (cfg.tlsPeers === 'on') fail('TLS_PEERS=on needs an https scenario whose setup prints TLS_DIR (SCENARIOS=plain,https)');
    return [];
  }
  const peers = [];
  if (onPath('nginx')) peers.push({ name: 'nginx-http', scheme: 'http' }, { name: 'nginx-https', scheme: 'https' });
  else if (cfg.tlsPeers === 'on') fail('TLS_PEERS=on needs nginx (apt-get install -y nginx)');
  else console.error('bench: no nginx on PATH: the TLS figures are not reported beside nginx (apt-get install -y nginx)');
  if (cfg.bare) peers.push({ name: 'bare-https', scheme: 'https' });
  return peers.map((p) => ({ ...p, tlsDir: sc.env.TLS_DIR, scenario: sc.name }));
}

async function main() {
  const node = process.execPath;
  const toolDesc = cfg.tool === 'wrk' ? `wrk -t1 -c${cfg.conns} --latency` : `autocannon -c ${cfg.conns}`;
  const header =
    `gatewayd bench: ${toolDesc} GET ${URL_PATH}, ${cfg.duration}s per target and round in ${cfg.slice}s turns; warm-up ${cfg.warmup}s; ${cfg.rounds} round(s)` +
    `${cfg.rounds > 1 ? ' (medians)' : ''}; ${cfg.pin ? `pinned: gateway CPU ${GATEWAY_CPU}, backend + load CPU ${LOAD_CPU}` : 'unpinned'}; ` +
    `node ${process.version}, ${os.availableParallelism()} CPUs, load avg ${os.loadavg()[0].toFixed(2)}` +
    `${cfg.latency ? `; fixed-rate latency with ${fixedRate.desc}` : ''}`;
  console.error(header);

  const scenarios = cfg.scenarios.map(readScenario);
  const [backendPort] = await freePorts(1);
  const backendUrl = `http://${HOST}:${backendPort}`;
  const backend =
    cfg.backend === 'nginx'
      ? startChild('backend', 'nginx', nginxArgs(join(logDir, 'nginx'), backendPort), { cpu: cfg.pin ? LOAD_CPU : undefined })
      : startChild('backend', node, [CLI, 'demo-backend', '--port', String(backendPort), '--host', HOST], { cpu: cfg.pin ? LOAD_CPU : undefined });
  await waitUp(backend, backendPort, '/health', {});
  await waitUp(backend, backendPort, URL_PATH, {});

  // A scenario that asks for `bench-redis: private` gets its own redis-server, pinned like the backend
  // (Redis is a backend of the gateway): the machine's shared Redis would float onto the gateway's core.
  let redisUrl;
  if (scenarios.some((sc) => sc.redis)) {
    if (!onPath('redis-server')) fail('a scenario needs redis-server (apt-get install -y redis-server)');
    const [redisPort] = await freePorts(1);
    const redis = startChild('redis', 'redis-server', ['--port', String(redisPort), '--bind', HOST, '--save', '', '--appendonly', 'no'], {
      cpu: cfg.pin ? LOAD_CPU : undefined,
    });
    await waitPort(redis, redisPort);
    redisUrl = `redis://${HOST}:${redisPort}`;
  }

  // Scenario setup runs once; its env feeds the headers and the gateway process.
  for (const sc of scenarios) {
    sc.env = runSetup(sc, { ...BASE_ENV, BACKEND_URL: backendUrl, BENCH_TMP: logDir, ...(sc.redis ? { REDIS_URL: redisUrl } : {}) });
    sc.headerList = parseHeaders(sc, sc.env);
  }

  // A round starts a fresh gateway per scenario (all of them idle but one at any time), warms each
  // up, then lets direct and the scenarios take turns in slices of SLICE seconds until each has had
  // DURATION, the order rotating every slice. A target's figure for the round is all its slices
  // together, so every target saw the same minutes of this shared machine: its drift (up to 25%
  // within minutes) cancels out of the ratios instead of landing on whichever target ran last.
  const results = { direct: [] };
  for (const sc of scenarios) results[sc.name] = [];
  if (cfg.bare) results.bare = [];
  const tlsPeers = tlsPeersFor(scenarios);
  for (const p of tlsPeers) results[p.name] = [];
  const slices = Math.max(1, Math.round(cfg.duration / cfg.slice));
  const sliceSecs = Math.max(1, Math.round(cfg.duration / slices));
  const stealLog = [];
  let repeats = 0;

  /** One round: fresh gateways (and bare proxy), turns, paired runs, latency; its figures by target name. */
  async function runRound(round) {
    const out = {};
    const targets = [{ name: 'direct', label: 'direct', port: backendPort, headers: [], watch: backend }];
    // Processes start in an order that rotates from round to round: in one 7-round run the gateway
    // started first ran 10-15% slower per request in 6 rounds (plain, then 55-58 CPU µs/req against
    // 45-49 for routes-1k on the same request path; started last it was the cheapest), so a fixed
    // order would bias every "vs plain" ratio. The tables keep the scenario order.
    const starts = scenarios.map((sc) => async () => {
      const [port, adminPort] = await freePorts(2);
      const env = { ...sc.env, BACKEND_URL: backendUrl, PORT: String(port), ADMIN_PORT: String(adminPort) };
      const flags = [...cfg.nodeFlags, ...sc.nodeFlags];
      const gw = startChild(`gateway-${sc.name}-r${round}`, node, [...flags, CLI, 'start', '--config', sc.config ?? sc.file], { env, cpu: cfg.pin ? GATEWAY_CPU : undefined });
      portMode.set(port, { scheme: sc.scheme, tool: sc.tool });
      await waitUp(gw, port, URL_PATH, Object.fromEntries(sc.headerList));
      return { name: sc.name, label: `gateway ${sc.name}`, port, headers: sc.headerList, watch: gw };
    });
    if (cfg.bare) {
      starts.push(async () => {
        const [port] = await freePorts(1);
        const env = { ...BASE_ENV, PORT: String(port), UPSTREAM: backendUrl };
        const p = startChild(`bare-proxy-r${round}`, node, [join(ROOT, 'bench', 'bare-proxy.mjs')], { env, cpu: cfg.pin ? GATEWAY_CPU : undefined });
        await waitUp(p, port, URL_PATH, {});
        return { name: 'bare', label: 'bare node proxy', port, headers: [], watch: p };
      });
    }
    for (const peer of tlsPeers) {
      starts.push(async () => {
        const [port] = await freePorts(1);
        portMode.set(port, { scheme: peer.scheme });
        const cpu = cfg.pin ? GATEWAY_CPU : undefined;
        const child = peer.name === 'bare-https'
          ? startChild(`${peer.name}-r${round}`, node, [join(ROOT, 'bench', 'bare-proxy.mjs')], {
              env: { ...BASE_ENV, PORT: String(port), UPSTREAM: backendUrl, TLS_CERT: `${peer.tlsDir}/tls.crt`, TLS_KEY: `${peer.tlsDir}/tls.key` },
              cpu,
            })
          : startChild(`${peer.name}-r${round}`, 'nginx', nginxArgs(join(logDir, `${peer.name}-r${round}`), port, {
              proxyTo: backendPort,
              tlsDir: peer.scheme === 'https' ? peer.tlsDir : undefined,
              single: true, // one process: its CPU time is read from /proc like a gateway's
            }), { cpu });
        await waitUp(child, port, URL_PATH, {});
        return { name: peer.name, label: peer.name, port, headers: [], watch: child, peer: true };
      });
    }
    const started = new Array(starts.length);
    const first = (round - 1) % starts.length;
    for (let i = 0; i < starts.length; i++) {
      const at = (first + i) % starts.length;
      started[at] = await starts[at]();
    }
    targets.push(...started);
    console.error(`  r${round} started in the order ${[...started.slice(first), ...started.slice(0, first)].map((t) => t.name).join(', ')}`);
    const steal0 = cpuStat();
    if (cfg.warmup > 0) for (const t of targets) await measure(`${t.label} r${round} warm-up`, t.port, t.headers, t.watch, cfg.warmup);
    const runs = new Map(targets.map((t) => [t, []]));
    const cpu = new Map(targets.map((t) => [t, 0]));
    for (let k = 0; k < slices; k++) {
      for (let j = 0; j < targets.length; j++) {
        const t = targets[(j + k) % targets.length];
        const c0 = cpuTicks(t.watch.pid);
        runs.get(t).push(await measure(`${t.label} r${round}`, t.port, t.headers, t.watch, sliceSecs));
        cpu.set(t, cpu.get(t) + cpuTicks(t.watch.pid) - c0);
      }
    }
    const sum = (t) => {
      const rs = runs.get(t);
      const requests = rs.reduce((a, r) => a + r.requests, 0);
      // CPU time the process used per request (all its threads): unlike req/s, it does not drop
      // when the process is not scheduled, so it is the steadier cost figure on a busy machine.
      const cpuUs = (cpu.get(t) / CLK_TCK / requests) * 1e6;
      return { rps: requests / (rs.length * sliceSecs), requests, p50: median(rs.map((r) => r.p50)), p99: median(rs.map((r) => r.p99)), cpuUs };
    };
    const d = sum(targets[0]);
    out.direct = d;
    console.error(`  r${round} direct             ${fmtInt(d.rps).padStart(9)} req/s  p50 ${fmtMs(d.p50).padStart(6)} ms  p99 ${fmtMs(d.p99).padStart(6)} ms`);
    for (const t of targets.slice(1)) {
      const g = sum(t);
      g.rss = procStatusKb(t.watch.pid, 'VmRSS');
      g.peak = procStatusKb(t.watch.pid, 'VmHWM');
      g.ratio = g.rps / d.rps;
      out[t.name] = g;
      console.error(
        `  r${round} ${t.name === 'bare' ? 'bare   ' : t.peer ? 'peer   ' : 'gateway'} ${t.name.padEnd(10)} ${fmtInt(g.rps).padStart(9)} req/s  p50 ${fmtMs(g.p50).padStart(6)} ms  p99 ${fmtMs(g.p99).padStart(6)} ms  ` +
          `${fmtPct(g.ratio)} of direct  ${fmtInt(g.cpuUs)} CPU µs/req  RSS ${fmtMiB(g.rss)} MiB (peak ${fmtMiB(g.peak)})`,
      );
    }
    // Paired runs: each scenario (and the bare proxy) and plain under load at the same time, both on
    // the one gateway CPU, each with its own load generator. The machine's drift then hits both alike,
    // so their ratio is the steadiest figure this machine gives (see bench/README.md).
    const plainT = targets.find((t) => t.name === 'plain');
    if (plainT !== undefined) {
      for (const t of targets.slice(1)) {
        if (t === plainT || t.peer) continue;
        const c0 = [cpuTicks(plainT.watch.pid), cpuTicks(t.watch.pid)];
        const [a, b] = await Promise.all([
          measure(`gateway plain (paired with ${t.name}) r${round}`, plainT.port, plainT.headers, plainT.watch, cfg.duration),
          measure(`${t.label} (paired) r${round}`, t.port, t.headers, t.watch, cfg.duration),
        ]);
        const cpuUsed = [cpuTicks(plainT.watch.pid) - c0[0], cpuTicks(t.watch.pid) - c0[1]];
        const g = out[t.name];
        g.paired = b.requests / a.requests;
        g.cpuShare = cpuUsed[1] / (cpuUsed[0] + cpuUsed[1]);
        console.error(
          `  r${round} paired  ${t.name.padEnd(10)} ${fmtInt(b.rps).padStart(9)} req/s beside plain ${fmtInt(a.rps)} req/s: ${fmtPct(g.paired)} of plain ` +
            `(CPU ${fmtPct(g.cpuShare)} / ${fmtPct(1 - g.cpuShare)})`,
        );
      }
    }
    // Fixed-rate latency: the rates are shares of plain's req/s in this round's turns; each target
    // (bare proxy first, then the gateways, the order rotating per load) gets the same rate in turn.
    if (cfg.latency) {
      const max = out.plain.rps;
      const lat = targets.filter((t) => t.name !== 'direct' && !t.peer);
      for (const [li, load] of LATENCY_LOADS.entries()) {
        const rate = Math.max(1, Math.round(max * load));
        for (let j = 0; j < lat.length; j++) {
          const t = lat[(j + li) % lat.length];
          const r = await measure(`${t.label} r${round} at ${rate} req/s`, t.port, t.headers, t.watch, cfg.duration, rate);
          if (r.errors > 0) console.error(`bench: warning: ${t.label} at ${rate} req/s: ${r.errors} requests failed`);
          (out[t.name].latency ??= {})[load] = { rate, p50: r.p50, p99: r.p99, p999: r.p999, rps: r.rps, late: r.late };
          console.error(
            `  r${round} latency ${t.name.padEnd(10)} at ${fmtInt(rate).padStart(7)} req/s (${load * 100}% of plain's max): ` +
              `p50 ${fmtMs(r.p50)} ms  p99 ${fmtMs(r.p99)} ms  p99.9 ${fmtMs(r.p999)} ms  (${fmtInt(r.rps)} req/s answered${r.late > 0 ? `, ${r.late} sent late: saturated` : ''})`,
          );
        }
      }
    }
    const steal = stealShare(steal0, cpuStat());
    for (const t of targets.slice(1)) {
      await stopChild(t.watch);
      if (t.watch.exitCode !== 0 && t.watch.exitCode !== null) console.error(`bench: warning: ${t.label} exited with ${t.watch.exitCode} on SIGTERM`);
    }
    return { out, steal };
  }

  for (let round = 1; round <= cfg.rounds; round++) {
    let attempt = 0;
    for (;;) {
      const { out, steal } = await runRound(round);
      const pct = steal.worst * 100;
      stealLog.push({ round, attempt, steal: pct });
      console.error(`  r${round} CPU steal ${Number.isFinite(pct) ? `${pct.toFixed(1)}%` : 'unknown'}${cfg.pin ? ' (worst of all CPUs and the pinned ones)' : ''}`);
      if (Number.isFinite(pct) && pct > cfg.maxSteal && attempt < cfg.stealRepeats) {
        attempt++;
        repeats++;
        console.error(`  r${round}: steal above ${cfg.maxSteal}%: the round is run again (${attempt} of at most ${cfg.stealRepeats})`);
        continue;
      }
      if (Number.isFinite(pct) && pct > cfg.maxSteal) console.error(`bench: warning: r${round} kept with ${pct.toFixed(1)}% steal (STEAL_REPEATS=${cfg.stealRepeats} used up)`);
      for (const [name, r] of Object.entries(out)) results[name].push(r);
      break;
    }
  }
  await stopAll();

  // Each scenario against plain in the same round, when plain ran: what a policy costs.
  if (results.plain) {
    for (const name of Object.keys(results)) {
      if (name === 'plain' || name === 'direct' || tlsPeers.some((p) => p.name === name)) continue;
      results[name].forEach((r, i) => (r.vsPlain = r.rps / results.plain[i].rps));
    }
  }
  const rows = [{ label: `direct (${cfg.backend === 'nginx' ? 'nginx' : 'demo backend'})`, rps: median(results.direct.map((r) => r.rps)), p50: median(results.direct.map((r) => r.p50)), p99: median(results.direct.map((r) => r.p99)) }];
  const names = [...scenarios.map((sc) => sc.name), ...(cfg.bare ? ['bare'] : []), ...tlsPeers.map((p) => p.name)];
  for (const name of names) {
    const rs = results[name];
    rows.push({
      label: name === 'bare' ? 'bare node:http + undici' : tlsPeers.some((p) => p.name === name) ? PEER_LABELS[name] : `gateway: ${name}`,
      rps: median(rs.map((r) => r.rps)),
      p50: median(rs.map((r) => r.p50)),
      p99: median(rs.map((r) => r.p99)),
      ratio: median(rs.map((r) => r.ratio)), // median of per-round ratios: each pair ran back to back
      cpuUs: median(rs.map((r) => r.cpuUs)),
      vsPlain: rs[0].vsPlain === undefined ? undefined : median(rs.map((r) => r.vsPlain)),
      paired: rs[0].paired === undefined ? undefined : median(rs.map((r) => r.paired)),
      rss: median(rs.map((r) => r.rss)),
      peak: Math.max(...rs.map((r) => r.peak ?? NaN)),
    });
  }
  console.log(`\n${header}\n\n${table(rows)}\n`);
  console.log('req/s, p50, p99, share of direct: the targets taking turns (SLICE-second turns, DURATION each per round).');
  console.log('CPU µs/req: CPU time the process used (user + system, all threads) over the requests of its turns, median over rounds.');
  if (results.plain && names.length > 1) {
    console.log('vs plain (turns): req/s over plain req/s from the turns of the same round (each alone on the gateway CPU), median over rounds.');
    console.log('vs plain (paired): the same with both under load at the same time on the gateway CPU (paired runs of DURATION), median over rounds;');
    console.log('  steadier against the machine drift; both still move with the per-process spread of fresh gateways (use several rounds, quote both).');
  }
  if (cfg.bare && results.plain) {
    const turns = median(results.plain.map((r, i) => r.rps / results.bare[i].rps));
    const paired = median(results.bare.map((r) => 1 / r.paired));
    console.log(`plain over the bare node:http + undici proxy: ${fmtPct(turns)} (turns), ${fmtPct(paired)} (paired).`);
  }
  if (tlsPeers.length > 0 && results.plain) {
    const sc = scenarios.find((x) => x.name === tlsPeers[0].scenario);
    const over = (a, b) => median(results[a].map((r, i) => r.rps / results[b][i].rps));
    const parts = [`gateway (${sc.name} over plain) ${fmtPct(over(sc.name, 'plain'))}`];
    if (results['bare-https']) parts.push(`bare node proxy ${fmtPct(over('bare-https', 'bare'))}`);
    if (results['nginx-https']) parts.push(`nginx ${fmtPct(over('nginx-https', 'nginx-http'))}`);
    console.log(`HTTPS/1.1 over plain HTTP, same turns (median of per-round ratios): ${parts.join(', ')}.`);
  }
  if (results.control && results.plain) {
    const spread = (xs) => `${fmtPct(Math.min(...xs))}–${fmtPct(Math.max(...xs))}`;
    const turns = results.control.map((r) => r.vsPlain);
    const paired = results.control.map((r) => r.paired).filter((x) => x !== undefined);
    console.log(
      `control (plain.yaml in a second process): ${fmtPct(median(turns))} (turns, rounds ${spread(turns)}), ` +
        `${paired.length > 0 ? `${fmtPct(median(paired))} (paired, rounds ${spread(paired)})` : 'no paired runs'}: ` +
        'the spread of the method itself in this run.',
    );
  }
  console.log('RSS: process after the measured run (VmRSS) and its high-water mark (VmHWM).');
  if (cfg.latency) {
    const lrows = [];
    for (const load of LATENCY_LOADS) {
      for (const name of ['bare', ...scenarios.map((sc) => sc.name)]) {
        const ls = results[name].map((r) => r.latency?.[load]).filter(Boolean);
        lrows.push({
          load: `${load * 100}%`,
          rate: median(ls.map((l) => l.rate)),
          label: name === 'bare' ? 'bare node:http + undici' : `gateway: ${name}`,
          p50: median(ls.map((l) => l.p50)),
          p99: median(ls.map((l) => l.p99)),
          p999: median(ls.map((l) => l.p999)),
          vsBare: median(results[name].map((r, i) => r.latency?.[load]?.p99 / results.bare[i].latency?.[load]?.p99)),
          late: ls.reduce((a, l) => a + l.late, 0),
        });
      }
    }
    const head = ['load (of plain max)', 'req/s', 'target', 'p50 ms', 'p99 ms', 'p99.9 ms', 'p99 vs bare', 'sent late'];
    const cells = lrows.map((r) => [r.load, fmtInt(r.rate), r.label, fmtMs(r.p50), fmtMs(r.p99), fmtMs(r.p999), r.label.startsWith('bare') ? '' : fmtPct(r.vsBare), String(r.late)]);
    const right = [true, true, false, true, true, true, true, true];
    const w = head.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i].length)));
    const line = (c) => `| ${c.map((x, i) => (right[i] ? x.padStart(w[i]) : x.padEnd(w[i]))).join(' | ')} |`;
    console.log(`\nFixed-rate latency, measured with ${fixedRate.desc}: open loop, ${cfg.conns} connections, latency from each request's scheduled time; medians over rounds.\n`);
    console.log([line(head), `|${w.map((n, i) => (right[i] ? `${'-'.repeat(n + 1)}:` : '-'.repeat(n + 2))).join('|')}|`, ...cells.map(line)].join('\n'));
    console.log('\np99 vs bare: the p99 over the bare proxy\'s p99 at the same rate in the same round, median over rounds. "sent late": requests');
    console.log('that waited > 1 ms for a free connection (the target could not keep up with the rate: its percentiles are a queue).');
  }
  const stealText = stealLog.map((s) => `r${s.round}${s.attempt > 0 ? `#${s.attempt + 1}` : ''} ${Number.isFinite(s.steal) ? `${s.steal.toFixed(1)}%` : '?'}`).join(', ');
  console.log(`CPU steal per round (/proc/stat): ${stealText}; rounds above ${cfg.maxSteal}% repeated: ${repeats}.`);
  // A slower machine shows as a dearer request in the same code, which steal does not always catch
  // (seen here: the same process swinging between 65 and 165 CPU µs per request within minutes).
  const gauge = results.plain ? 'plain' : scenarios[0].name;
  const costs = results[gauge].map((r) => r.cpuUs);
  const fastest = Math.min(...costs);
  const slow = costs.map((c, i) => [i + 1, c]).filter(([, c]) => c > fastest * 1.25);
  if (costs.length > 1) {
    console.log(`Machine speed per round (${gauge}'s CPU µs/req): ${costs.map((c, i) => `r${i + 1} ${fmtInt(c)}`).join(', ')}.`);
    if (slow.length > 0) {
      console.log(
        `Note: ${slow.map(([r]) => `r${r}`).join(', ')} ran more than 25% dearer than the fastest round: the machine slowed down ` +
          'during the run (or those processes started slow); their ratios are the least trustworthy.',
      );
    }
  }
  const busy = os.loadavg()[0];
  if (busy > os.availableParallelism() / 2) console.log(`Note: load average ${busy.toFixed(2)} on ${os.availableParallelism()} CPUs: other work was running, the figures are noisy.`);
  if (os.availableParallelism() <= 2 && !cfg.pin) console.log('Note: backend, gateway and load generator share the CPUs; compare ratios, not absolute req/s.');
}

main().then(
  () => process.exit(0),
  async (err) => {
    if (interrupted) return; // the signal handler is already stopping everything
    console.error(`bench: ${err instanceof BenchError ? err.message : err.stack}`);
    keepLogs = true;
    await stopAll();
    if (keepLogs) console.error(`bench: logs kept in ${logDir}`);
    process.exit(1);
  },
);
