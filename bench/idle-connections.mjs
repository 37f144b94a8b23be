// `node bench/idle-connections.mjs [N]`: the gateway's RSS with N (default 5000) idle keep-alive
// client connections, each having made one request. Loopback only, bounded: opens N sockets, waits,
// reads /proc/<pid>/status, closes everything. Needs `ulimit -n` above 2N + 100.
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync, mkdtempSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startDemoBackend } from '../dist/demo-backend.js';

const N = Number(process.argv[2] ?? 5000);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const rss = (pid) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))[1]) / 1024;

const backend = await startDemoBackend();
const file = join(mkdtempSync(join(tmpdir(), 'gw-idle-')), 'gateway.yaml');
writeFileSync(file, `
server: { port: 0, maxConnections: ${N + 100}, keepAliveTimeout: 5m }
admin: { port: 0 }
logging: { accessLog: false }
upstreams: { b: { targets: [{ url: ${backend.url} }] } }
routes: [{ name: r, match: { pathPrefix: / }, upstream: b }]
`);
const child = spawn(process.execPath, ['dist/cli.js', 'start', '--config', file], { stdio: ['ignore', 'pipe', 'inherit'] });
const port = await new Promise((resolve) => {
  child.stdout.on('data', (d) => {
    const m = /"event":"gateway.started".*?"port":(\d+)/.exec(d.toString());
    if (m) resolve(Number(m[1]));
  });
});

/** One request on a fresh connection, which then stays open and idle. */
function idleClient() {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1', () => s.write('GET /health HTTP/1.1\r\nHost: x\r\n\r\n'));
    let got = '';
    s.on('data', (d) => {
      got += d.toString();
      if (got.includes('\r\n\r\n') && /content-length: (\d+)/i.test(got)) resolve(s);
    });
    s.on('error', reject);
  });
}

for (let i = 0; i < 200; i++) (await idleClient()).destroy(); // warm up
await sleep(1000);
const before = rss(child.pid);
const sockets = [];
for (let i = 0; i < N; i += 100) sockets.push(...(await Promise.all(Array.from({ length: Math.min(100, N - i) }, idleClient))));
await sleep(2000);
const after = rss(child.pid);
console.log(`idle keep-alive connections: ${sockets.length}`);
console.log(`gateway RSS before: ${before.toFixed(1)} MiB, with them: ${after.toFixed(1)} MiB, difference: ${(after - before).toFixed(1)} MiB (${(((after - before) * 1024) / sockets.length).toFixed(1)} KiB per connection)`);
for (const s of sockets) s.destroy();
child.kill('SIGTERM');
await new Promise((r) => child.once('exit', r));
await backend.close();
