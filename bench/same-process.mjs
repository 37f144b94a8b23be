#!/usr/bin/env node
// One gateway, several request paths, loaded in turns: what a route's policies cost with the
// spread between processes taken out (bench/README.md, "One process, two routes").
//
//   node bench/same-process.mjs CONFIG [--rounds 8] [--secs 3] [--pin] \
//     --path /api/x --path '/cors/x Origin: https://app.example.com'
//
// CONFIG is a gateway config whose routes answer the paths; it is started with PORT, ADMIN_PORT and
// BACKEND_URL in its environment (BACKEND_URL: a one-worker nginx started here when nginx is on PATH,
// else the demo backend). Each --path is a path, optionally followed by one `Name: value` header.
// Per round each path gets `wrk -t1 -c64` for --secs seconds (order alternating); the CPU time the
// gateway used per request is read from /proc/PID/stat (Linux). Prints per round and the medians.
// --pin: the gateway on CPU 1, backend and wrk on CPU 0. Needs wrk. Load goes to 127.0.0.1 only.
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { CLK_TCK, cpuTicks, freePorts, HOST, median, nginxArgs, onPath } from './lib.mjs';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { rounds: { type: 'string', default: '8' }, secs: { type: 'string', default: '3' }, pin: { type: 'boolean' }, path: { type: 'string', multiple: true } },
});
const config = positionals[0];
const paths = (values.path ?? []).map((p) => {
  const at = p.indexOf(' ');
  return at < 0 ? { path: p, header: undefined } : { path: p.slice(0, at), header: p.slice(at + 1).trim() };
});
const rounds = Number(values.rounds);
const secs = Number(values.secs);
if (!config || paths.length < 2 || !(rounds >= 1) || !(secs >= 1)) {
  console.error("usage: node bench/same-process.mjs CONFIG --path /api/x --path '/cors/x Origin: https://a.example' [--rounds 8] [--secs 3] [--pin]");
  process.exit(2);
}
if (!onPath('wrk')) {
  console.error('bench/same-process.mjs needs wrk (apt-get install -y wrk)');
  process.exit(2);
}
const pinned = (cpu, cmd, args) => (values.pin ? ['taskset', ['-c', cpu, cmd, ...args]] : [cmd, args]);
const children = [];
const tmp = mkdtempSync(join(os.tmpdir(), 'gatewayd-same-process-'));
function start(cpu, cmd, args, env) {
  const [file, argv] = pinned(cpu, cmd, args);
  const child = spawn(file, argv, { cwd: ROOT, env: { ...process.env, ...env }, stdio: 'ignore' });
  children.push(child);
  return child;
}
function stop() {
  for (const c of children) c.kill('SIGTERM');
  rmSync(tmp, { recursive: true, force: true });
}
process.on('exit', stop);
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => process.exit(130));

function get(port, path, headers) {
  return new Promise((ok) => {
    const req = http.get({ host: HOST, port, path, headers, agent: false, timeout: 2000 }, (res) => {
      res.resume();
      res.on('end', () => ok(res.statusCode));
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => ok(0));
  });
}
async function waitUp(port, path, headers = {}) {
  for (let i = 0; i < 600; i++) {
    const status = await get(port, path, headers);
    if (status >= 200 && status < 300) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`nothing answered 2xx on ${HOST}:${port}${path} within 60 s`);
}
const headerObject = (h) => (h === undefined ? {} : { [h.slice(0, h.indexOf(':')).trim()]: h.slice(h.indexOf(':') + 1).trim() });

const [backendPort, port] = await freePorts(2);
if (onPath('nginx')) start('0', 'nginx', nginxArgs(join(tmp, 'nginx'), backendPort));
else start('0', process.execPath, [join(ROOT, 'dist', 'cli.js'), 'demo-backend', '--port', String(backendPort), '--host', HOST]);
await waitUp(backendPort, '/api/x');
const gw = start('1', process.execPath, [join(ROOT, 'dist', 'cli.js'), 'start', '--config', config], { PORT: String(port), ADMIN_PORT: '0', BACKEND_URL: `http://${HOST}:${backendPort}` });
for (const p of paths) await waitUp(port, p.path, headerObject(p.header));

function wrk(p, s) {
  const args = ['-t1', '-c64', `-d${s}s`, ...(p.header ? ['-H', p.header] : []), `http://${HOST}:${port}${p.path}`];
  const [file, argv] = pinned('0', 'wrk', args);
  const out = execFileSync(file, argv, { encoding: 'utf8' });
  const n = Number(/(\d+) requests in/.exec(out)?.[1]);
  const non2xx = Number(/Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1] ?? 0);
  if (!(n > 0) || non2xx > 0) throw new Error(`${p.path}: ${n} requests, ${non2xx} not 2xx\n${out}`);
  return { n, rps: Number(/Requests\/sec:\s+([\d.]+)/.exec(out)[1]) };
}
for (const p of paths) wrk(p, 2); // warm-up
const per = paths.map(() => ({ us: [], rps: [] }));
const label = (p) => (p.header ? `${p.path} (${p.header.slice(0, p.header.indexOf(':'))})` : p.path);
for (let r = 1; r <= rounds; r++) {
  const order = r % 2 ? paths.map((_, i) => i) : paths.map((_, i) => paths.length - 1 - i);
  for (const i of order) {
    const c0 = cpuTicks(gw.pid);
    const w = wrk(paths[i], secs);
    per[i].us.push((((cpuTicks(gw.pid) - c0) / CLK_TCK) * 1e6) / w.n);
    per[i].rps.push(w.rps);
  }
  console.log(`r${r} ` + paths.map((p, i) => `${label(p)} ${per[i].us.at(-1).toFixed(1)} µs/req ${Math.round(per[i].rps.at(-1))} req/s`).join(' | '));
}
const base = median(per[0].us);
for (const [i, p] of paths.entries()) {
  const ratios = per[i].rps.map((x, k) => x / per[0].rps[k]);
  console.log(
    `${label(p).padEnd(40)} median ${median(per[i].us).toFixed(1)} CPU µs/req` +
      (i === 0 ? '' : ` (${((base / median(per[i].us)) * 100).toFixed(1)}% of the first path's requests per CPU second; req/s ${(median(ratios) * 100).toFixed(1)}% of it, median of rounds)`),
  );
}
process.exit(0);
