// WebSocket figures: the RSS that N idle tunnels add to the gateway, and echo round-trip throughput
// through the gateway against straight to the backend (same clients, same messages, one after the
// other on each connection). Loopback only; every phase is bounded in time.
//
//   npm run build && [PIN=1] node bench/websocket.mjs [--tunnels 10000] [--clients 32] [--seconds 5] [--size 64] [--rounds 3]
//
// The echo server and the load run in this process, the gateway in a child (`node dist/cli.js start`),
// so the gateway has an event loop (and with PIN=1 a core) of its own.
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { WebSocket, WebSocketServer } from 'ws';
import { freePorts, wsGatewayConfig } from './lib.mjs';

const ROOT = resolve(import.meta.dirname, '..');
const { values: opt } = parseArgs({
  options: {
    tunnels: { type: 'string', default: '10000' },
    clients: { type: 'string', default: '32' },
    seconds: { type: 'string', default: '5' },
    size: { type: 'string', default: '64' },
    rounds: { type: 'string', default: '3' },
  },
});
// This process holds both ends of every tunnel (client and echo server) and the gateway holds two
// sockets per tunnel too, so the open-files limit bounds the count: ask for more and it is lowered,
// with the reason printed, instead of the gateway answering 502 when it runs out of descriptors.
function openFilesLimit() {
  try {
    return Number(/Max open files\s+(\d+)/.exec(readFileSync('/proc/self/limits', 'utf8'))?.[1] ?? Infinity);
  } catch {
    return Infinity; // not Linux: nothing to read, ask for what was asked
  }
}
const fdLimit = openFilesLimit();
const TUNNELS = Math.min(Number(opt.tunnels), Math.floor((fdLimit - 200) / 2));
if (TUNNELS < Number(opt.tunnels)) {
  console.error(`--tunnels ${opt.tunnels} lowered to ${TUNNELS}: the open-files limit is ${fdLimit} (ulimit -n) and each tunnel takes two descriptors in this process and two in the gateway`);
}
const ROUNDS = Number(opt.rounds);
// PIN=1 (as in npm run bench): the gateway on the last CPU, this process (clients and echo server) on the others.
const cpus = availableParallelism();
const PIN = process.env.PIN === '1' && cpus >= 2;
if (PIN) execFileSync('taskset', ['-pc', `0-${cpus - 2}`, String(process.pid)], { stdio: 'ignore' });
const CLIENTS = Number(opt.clients);
const SECONDS = Number(opt.seconds);
const PAYLOAD = Buffer.alloc(Number(opt.size), 'x');

function rssKiB(pid) {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) : NaN;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// The echo backend, in this process.
const [backendPort, port, adminPort] = await freePorts(3);
const wss = new WebSocketServer({ port: backendPort, host: '127.0.0.1', perMessageDeflate: false });
wss.on('connection', (ws) => ws.on('message', (data, binary) => ws.send(data, { binary })));

const dir = mkdtempSync(join(tmpdir(), 'gw-ws-bench-'));
const config = join(dir, 'gateway.yaml');
writeFileSync(config, wsGatewayConfig(port, adminPort, backendPort));
const gwArgs = [join(ROOT, 'dist', 'cli.js'), 'start', '--config', config];
const gw = PIN
  ? spawn('taskset', ['-c', String(cpus - 1), process.execPath, ...gwArgs], { stdio: ['ignore', 'ignore', 'inherit'] })
  : spawn(process.execPath, gwArgs, { stdio: ['ignore', 'ignore', 'inherit'] });
const stop = () => gw.kill('SIGKILL');
process.on('exit', stop);
for (let i = 0; i < 200; i++) {
  try {
    if ((await fetch(`http://127.0.0.1:${adminPort}/ready`)).ok) break;
  } catch {}
  await sleep(100);
}

function open(url) {
  return new Promise((res, rej) => {
    const ws = new WebSocket(url, { perMessageDeflate: false });
    ws.once('open', () => res(ws));
    ws.once('error', rej);
  });
}

/** Echo round trips per second over CLIENTS connections for SECONDS. */
async function echo(url) {
  const sockets = await Promise.all(Array.from({ length: CLIENTS }, () => open(url)));
  let count = 0;
  const end = performance.now() + SECONDS * 1000;
  await Promise.all(
    sockets.map(
      (ws) =>
        new Promise((done) => {
          ws.on('message', () => {
            count++;
            if (performance.now() < end) ws.send(PAYLOAD);
            else done();
          });
          ws.send(PAYLOAD);
        }),
    ),
  );
  for (const ws of sockets) ws.terminate();
  return count / SECONDS;
}

const idleBefore = rssKiB(gw.pid);
// Idle tunnels, opened in batches so the accept queue never overflows.
const idle = [];
for (let i = 0; i < TUNNELS; i += 500) {
  idle.push(...(await Promise.all(Array.from({ length: Math.min(500, TUNNELS - i) }, () => open(`ws://127.0.0.1:${port}/idle`)))));
}
await sleep(2000);
const idleAfter = rssKiB(gw.pid);
for (const ws of idle) ws.terminate();
await sleep(1000);

// Echo: alternate direct and through the gateway, ROUNDS times each (which goes first alternates too),
// and report the best of each and the median of the per-round ratios.
const direct = [];
const via = [];
for (let round = 0; round < ROUNDS; round++) {
  const d = () => echo(`ws://127.0.0.1:${backendPort}/e`);
  const v = () => echo(`ws://127.0.0.1:${port}/e`);
  if (round % 2 === 0) {
    direct.push(await d());
    via.push(await v());
  } else {
    via.push(await v());
    direct.push(await d());
  }
  console.error(`round ${round + 1}: direct ${Math.round(direct[round])}/s, via the gateway ${Math.round(via[round])}/s (${(via[round] / direct[round]).toFixed(3)})`);
}
const best = (xs) => Math.max(...xs);
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const result = {
  tunnels: TUNNELS,
  pinned: PIN,
  rssIdleGatewayMiB: +(idleBefore / 1024).toFixed(1),
  rssWithTunnelsMiB: +(idleAfter / 1024).toFixed(1),
  addedMiB: +((idleAfter - idleBefore) / 1024).toFixed(1),
  perTunnelKiB: +((idleAfter - idleBefore) / TUNNELS).toFixed(2),
  echoDirectPerSec: Math.round(best(direct)),
  echoViaGatewayPerSec: Math.round(best(via)),
  echoRatio: +(best(via) / best(direct)).toFixed(3),
  echoRatioMedianOfRounds: +median(via.map((v, i) => v / direct[i])).toFixed(3),
  rounds: ROUNDS,
  clients: CLIENTS,
  seconds: SECONDS,
  messageBytes: PAYLOAD.length,
};
console.log(JSON.stringify(result, null, 2));
stop();
wss.close();
process.exit(0);
