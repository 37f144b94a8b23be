// `node bench/reload.mjs [ROUTES]`: reload cost for a config of ROUTES (default 1000) routes.
// Starts the demo backend and a gateway on loopback, drives GET load with autocannon (bounded: 2 x 5 s),
// once steady and once while POST /reload runs every second (each reload alternates between two
// files that differ in one route), and prints the reload times the gateway logged (config.reloaded
// ms: compile + swap) and p50/p99 of both runs.
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import autocannon from 'autocannon';
import { startDemoBackend } from '../dist/demo-backend.js';

const ROUTES = Number(process.argv[2] ?? 1000);
const backend = await startDemoBackend();
const file = join(mkdtempSync(join(tmpdir(), 'gw-reload-')), 'gateway.yaml');
const config = (variant) => {
  const ups = Array.from({ length: 10 }, (_, i) => `  u${i}: { targets: [{ url: ${backend.url} }] }`).join('\n');
  const routes = Array.from({ length: ROUTES }, (_, i) => {
    const limit = i % 10 === 0 ? `, rateLimit: [{ key: ip, limit: 100000, window: 1s }]` : '';
    const path = i % 3 === 0 ? `path: /r${i}/items/:id` : `pathPrefix: /r${i}`;
    return `  - { name: r${i}${i === ROUTES - 1 ? variant : ''}, match: { ${path} }, upstream: u${i % 10}${limit} }`;
  }).join('\n');
  return `server: { port: 0 }\nadmin: { port: 0 }\nlogging: { accessLog: false }\nupstreams:\n${ups}\nroutes:\n${routes}\n`;
};
writeFileSync(file, config('a'));
const child = spawn(process.execPath, ['dist/cli.js', 'start', '--config', file], { stdio: ['ignore', 'pipe', 'inherit'] });
const reloads = [];
let ports;
await new Promise((resolve) => {
  let buf = '';
  child.stdout.on('data', (d) => {
    buf += d.toString();
    let i;
    while ((i = buf.indexOf('\n')) >= 0) {
      const line = JSON.parse(buf.slice(0, i));
      buf = buf.slice(i + 1);
      if (line.event === 'gateway.started') {
        ports = line;
        resolve();
      }
      if (line.event === 'config.reloaded') reloads.push(line.ms);
    }
  });
});
const url = `http://127.0.0.1:${ports.port}/r1/x`;
const run = () => autocannon({ url, connections: 16, duration: 5 });
await autocannon({ url, connections: 16, duration: 1 }); // warm-up
const steady = await run();
let variant = 0;
const posts = [];
const timer = setInterval(() => {
  writeFileSync(file, config(variant++ % 2 ? 'a' : 'b'));
  const at = performance.now();
  posts.push(
    fetch(`http://127.0.0.1:${ports.adminPort}/reload`, { method: 'POST' })
      .then(async (r) => ({ status: r.status, wallMs: Math.round(performance.now() - at), body: r.status === 200 ? '' : await r.text() }))
      .catch((err) => ({ error: err.message })),
  );
}, 1000);
const during = await run();
clearInterval(timer);
const answers = await Promise.all(posts);
await new Promise((r) => setTimeout(r, 200));
console.log('POST /reload answers (status, wall ms from POST to answer):', answers.map((a) => a.error ?? `${a.status} ${a.wallMs}ms${a.body ? ' ' + a.body.slice(0, 200) : ''}`).join(', '));
const sorted = [...reloads].sort((a, b) => a - b);
console.log(`routes: ${ROUTES}, reloads: ${reloads.length}, reload ms (compile + swap) median ${sorted[Math.floor(sorted.length / 2)]}, max ${sorted.at(-1)}`);
console.log(`steady:        ${Math.round(steady.requests.average)} req/s, p50 ${steady.latency.p50} ms, p99 ${steady.latency.p99} ms, non-2xx ${steady.non2xx}, errors ${steady.errors}`);
console.log(`during reload: ${Math.round(during.requests.average)} req/s, p50 ${during.latency.p50} ms, p99 ${during.latency.p99} ms, non-2xx ${during.non2xx}, errors ${during.errors}`);
child.kill('SIGTERM');
await new Promise((r) => child.once('exit', r));
await backend.close();
