#!/usr/bin/env node
// User-space instructions a WebSocket tunnel costs per echo round trip, counted by valgrind's
// callgrind in the proxy process (repeatable within ~0.5% run to run, whatever else the machine is
// doing; the write system calls, most of a tunnel's cost, are not counted).
//
//   npm run build && node bench/ws-callgrind.mjs [gateway|bare] [round trips, default 20000]
//
// `gateway` runs `dist/cli.js start` with a `websocket: true` route; `bare` runs a node:http
// 'upgrade' handler that joins the two sockets with pipe (the floor to compare with). The proxy runs
// under `valgrind --tool=callgrind --instr-atstart=no`; 32 connections echo 64-byte messages through
// it, 20,000 round trips warm it up, then instrumentation is on for the counted ones.
// Needs valgrind (Debian: apt-get install -y valgrind). Loopback only; bounded by the round trips.
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { WebSocket, WebSocketServer } from 'ws';
import { freePorts, wsGatewayConfig } from './lib.mjs';

const ROOT = resolve(import.meta.dirname, '..');
const MODE = process.argv[2] ?? 'gateway';
const N = Number(process.argv[3] ?? 20000);
if (!['gateway', 'bare'].includes(MODE) || !(N > 0)) {
  console.error('usage: node bench/ws-callgrind.mjs [gateway|bare] [round trips]');
  process.exit(2);
}
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const wss = new WebSocketServer({ port: 0, host: '127.0.0.1', perMessageDeflate: false });
await new Promise((r) => wss.once('listening', r));
wss.on('connection', (ws) => ws.on('message', (d, binary) => ws.send(d, { binary })));
const backendPort = wss.address().port;

const [port, adminPort] = await freePorts(2);
const dir = mkdtempSync(join(tmpdir(), 'gw-ws-callgrind-'));
let args;
if (MODE === 'bare') {
  const bare = join(dir, 'bare.mjs');
  writeFileSync(
    bare,
    `import http from 'node:http';
import net from 'node:net';
http.createServer((req, res) => res.end()).on('upgrade', (req, sock, head) => {
  const up = net.connect(${backendPort}, '127.0.0.1');
  let h = req.method + ' ' + req.url + ' HTTP/1.1\\r\\n';
  for (let i = 0; i < req.rawHeaders.length; i += 2) h += req.rawHeaders[i] + ': ' + req.rawHeaders[i + 1] + '\\r\\n';
  up.write(h + '\\r\\n');
  if (head.length) up.write(head);
  sock.setNoDelay(true);
  up.setNoDelay(true);
  up.pipe(sock);
  sock.pipe(up);
  sock.on('error', () => up.destroy());
  up.on('error', () => sock.destroy());
}).listen(${port}, '127.0.0.1');
`,
  );
  args = [bare];
} else {
  const config = join(dir, 'gateway.yaml');
  writeFileSync(config, wsGatewayConfig(port, adminPort, backendPort));
  args = [join(ROOT, 'dist', 'cli.js'), 'start', '--config', config];
}
const out = join(dir, 'callgrind.out');
const proxy = spawn('valgrind', ['--tool=callgrind', '--instr-atstart=no', `--callgrind-out-file=${out}`, process.execPath, ...args], { stdio: 'ignore' });
const stop = () => proxy.kill('SIGKILL');
process.on('exit', () => {
  stop();
  rmSync(dir, { recursive: true, force: true });
});

const open = () =>
  new Promise((res, rej) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/e`, { perMessageDeflate: false });
    ws.once('open', () => res(ws));
    ws.once('error', rej);
  });
let sockets;
for (let i = 0; i < 600 && sockets === undefined; i++) {
  sockets = await Promise.all(Array.from({ length: 32 }, open)).catch(() => undefined);
  if (sockets === undefined) await sleep(200); // valgrind starts node slowly
}
if (sockets === undefined) throw new Error('the proxy did not accept WebSocket connections within 2 minutes');

const payload = Buffer.alloc(64, 'x');
async function echo(n) {
  let left = n;
  await Promise.all(
    sockets.map(
      (ws) =>
        new Promise((done) => {
          ws.on('message', () => {
            if (--left > 0) ws.send(payload);
            else done();
          });
          ws.send(payload);
        }),
    ),
  );
  for (const ws of sockets) ws.removeAllListeners('message');
}

await echo(20000); // warm-up: the proxy's code is optimized before it is counted
execFileSync('callgrind_control', ['--instr=on', String(proxy.pid)], { stdio: 'ignore' });
await echo(N);
execFileSync('callgrind_control', ['--instr=off', String(proxy.pid)], { stdio: 'ignore' });
execFileSync('callgrind_control', ['--dump', String(proxy.pid)], { stdio: 'ignore' });
await sleep(500);
let total = 0;
for (const f of readdirSync(dir).filter((f) => f.startsWith('callgrind.out'))) {
  total += Number(/^totals: (\d+)/m.exec(readFileSync(join(dir, f), 'utf8'))?.[1] ?? 0);
}
console.log(JSON.stringify({ mode: MODE, roundTrips: N, instructionsPerRoundTrip: Math.round(total / N) }));
for (const ws of sockets) ws.terminate();
wss.close();
process.exit(0);
