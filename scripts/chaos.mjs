// `npm run chaos`: the gateway under steady load while things go wrong (loopback only, ~30 s, bounded).
//
// Two demo backends (processes of their own) behind one upstream with active health checks (1 s
// interval, 2 failures) and outlier detection; a gateway process started with --watch. 16 keep-alive
// clients send GET /api/x without pause while the script, in order: kills backend B and later
// restarts it, freezes backend A (SIGSTOP: connections open, nothing answers) and thaws it, sends
// SIGHUP with a valid then an invalid config, rewrites the file (the --watch reload), and finally
// sends SIGTERM. It prints how many requests got which status in each phase, how long each fault
// was visible to clients (first to last failed request), and any connection that failed other than
// a refused new connection after SIGTERM.
import { spawn } from 'node:child_process';
import { mkdtempSync, renameSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const CLI = new URL('../dist/cli.js', import.meta.url).pathname;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const t0 = Date.now();
const now = () => (Date.now() - t0) / 1000;

async function freePort() {
  const s = net.createServer();
  await new Promise((r) => s.listen(0, '127.0.0.1', r));
  const { port } = s.address();
  await new Promise((r) => s.close(r));
  return port;
}

function backend(port) {
  const child = spawn(process.execPath, [CLI, 'demo-backend', '--port', String(port)], { stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve) => child.stdout.once('data', () => resolve(child)));
}

// `npm run chaos -- --retries`: the same run with retries on the upstream (idempotent GETs go to the other target).
const RETRIES = process.argv.includes('--retries');
const [pa, pb, gwPort, adminPort] = [await freePort(), await freePort(), await freePort(), await freePort()];
const dir = mkdtempSync(join(tmpdir(), 'gw-chaos-'));
const file = join(dir, 'gateway.yaml');
const config = (extraRoute = '') => `
server: { port: ${gwPort}, gracePeriod: 5s }
admin: { port: ${adminPort} }
logging: { accessLog: false }
upstreams:
  demo:
    targets: [{ url: http://127.0.0.1:${pa} }, { url: http://127.0.0.1:${pb} }]
    timeouts: { connect: 500ms, response: 1s }
    healthCheck: { path: /health, interval: 1s, timeout: 500ms, healthyAfter: 2, unhealthyAfter: 2 }
    outlierDetection: { consecutiveFailures: 3, consecutive5xx: 5, ejectionTime: 2s, maxEjectionTime: 10s }
${RETRIES ? '    retries: { attempts: 2, on: [connect-failure, reset, timeout, 502, 503, 504], perTryTimeout: 500ms }\n' : ''}routes:
  - { name: api, match: { pathPrefix: /api }, upstream: demo }
${extraRoute}`;
writeFileSync(file, config());

let a = await backend(pa);
let b = await backend(pb);
const gw = spawn(process.execPath, [CLI, 'start', '--config', file, '--watch'], { stdio: ['ignore', 'pipe', 'inherit'] });
const events = [];
let buf = '';
gw.stdout.on('data', (d) => {
  buf += d.toString();
  let i;
  while ((i = buf.indexOf('\n')) >= 0) {
    try {
      const l = JSON.parse(buf.slice(0, i));
      if (l.event) events.push({ t: now(), event: l.event, msg: l.msg, trigger: l.trigger });
    } catch {}
    buf = buf.slice(i + 1);
  }
});
while (!events.some((e) => e.event === 'gateway.started')) await sleep(50);
const exited = new Promise((r) => gw.once('exit', (code) => r(code)));

// ---- load
let phase = 'steady';
const results = []; // { t, phase, status | error }
let refused = false;
const agent = new http.Agent({ keepAlive: true, maxSockets: 16 });
function request() {
  return new Promise((resolve) => {
    const r = { t: now(), phase };
    const req = http.get({ host: '127.0.0.1', port: gwPort, path: '/api/x', agent }, (res) => {
      r.status = res.statusCode;
      res.resume();
      res.on('end', () => ((r.end = now()), (r.phase = phase), resolve()));
      res.on('error', (err) => ((r.error = err.code ?? err.message), (r.end = now()), (r.phase = phase), resolve()));
    });
    req.setTimeout(10_000, () => req.destroy(new Error('client timeout')));
    req.on('error', (err) => {
      r.error = err.code ?? err.message;
      r.end = now();
      r.phase = phase;
      if (err.code === 'ECONNREFUSED') refused = true;
      resolve();
    });
    results.push(r);
  });
}
const deadline = Date.now() + 60_000; // hard bound
const loops = Array.from({ length: 16 }, async () => {
  while (!refused && Date.now() < deadline) await request();
});

// ---- faults
const faults = [];
const fault = async (name, start, end) => {
  phase = name;
  const from = now();
  await start();
  if (end) {
    await end();
  }
  faults.push({ name, from, to: now() });
};
await sleep(3000);
await fault('kill B', async () => {
  b.kill('SIGKILL');
  await sleep(5000);
});
await fault('restart B', async () => {
  b = await backend(pb);
  await sleep(4000);
});
await fault('hang A', async () => {
  a.kill('SIGSTOP');
  await sleep(5000);
});
await fault('thaw A', async () => {
  a.kill('SIGCONT');
  await sleep(4000);
});
await fault('SIGHUP valid', async () => {
  writeFileSync(file, config('  - { name: two, match: { pathPrefix: /two }, upstream: demo }'));
  gw.kill('SIGHUP');
  await sleep(2000);
});
await fault('SIGHUP invalid', async () => {
  writeFileSync(file, config('  - { name: two, match: { pathPrefix: /two }, upstream: nope }'));
  gw.kill('SIGHUP');
  await sleep(2000);
});
await fault('--watch rewrite', async () => {
  writeFileSync(join(dir, '.tmp'), config('  - { name: three, match: { pathPrefix: /three }, upstream: demo }'));
  renameSync(join(dir, '.tmp'), file);
  await sleep(2000);
});
phase = 'SIGTERM';
const termAt = now();
gw.kill('SIGTERM');
await Promise.all(loops);
const code = await exited;
agent.destroy();
a.kill('SIGTERM');
b.kill('SIGTERM');

// ---- report
const phases = [...new Set(results.map((r) => r.phase))];
const key = (r) => (r.status !== undefined ? String(r.status) : r.error);
const kinds = [...new Set(results.map(key))].sort();
console.log(`\nchaos run: ${results.length} requests in ${now().toFixed(1)} s, 16 keep-alive clients; gateway exit code ${code}\n`);
const rows = phases.map((p) => {
  const rs = results.filter((r) => r.phase === p);
  const bad = rs.filter((r) => r.status === undefined || r.status >= 500);
  // From the first failed request being sent to the last failed answer: how long clients saw the fault.
  const visible = bad.length > 0 ? `${(Math.max(...bad.map((r) => r.end)) - bad[0].t).toFixed(2)} s` : '-';
  return [p, String(rs.length), ...kinds.map((k) => String(rs.filter((r) => key(r) === k).length)), visible];
});
const head = ['phase (by answer time)', 'requests', ...kinds, 'errors visible'];
const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
for (const row of [head, ...rows]) console.log('| ' + row.map((c, i) => c.padEnd(widths[i])).join(' | ') + ' |');
const lost = results.filter((r) => r.error !== undefined && !(r.error === 'ECONNREFUSED' && r.t >= termAt));
for (const f of faults) console.log(`  fault ${f.name}: ${f.from.toFixed(2)} s .. ${f.to.toFixed(2)} s`);
const bad = results.filter((r) => r.status === undefined || r.status >= 500);
console.log('failed requests (sent-answered): ' + bad.map((r) => `${r.t.toFixed(2)}-${r.end.toFixed(2)}:${key(r)}`).join(' '));
console.log(`\nconnections failed other than refused after SIGTERM: ${lost.length}${lost.length ? ' ' + JSON.stringify(lost.slice(0, 5)) : ''}`);
const interesting = new Set(['config.reload_requested', 'config.problem', 'upstream.target_ejected', 'upstream.target_unhealthy', 'upstream.target_healthy', 'upstream.target_restored', 'config.reloaded', 'config.reload_failed', 'gateway.draining', 'gateway.stopped']);
console.log('\ngateway events:');
for (const e of events.filter((e) => interesting.has(e.event))) console.log(`  ${e.t.toFixed(2).padStart(6)} s  ${e.event}  ${e.msg ?? ''}${e.trigger ? ' (' + e.trigger + ')' : ''}`);
process.exit(code === 0 && lost.length === 0 ? 0 : 1);
