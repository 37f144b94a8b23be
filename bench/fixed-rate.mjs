#!/usr/bin/env node
// A constant-rate (open-loop) HTTP/1.1 load generator, as wrk2 does it: requests are *scheduled* at
// a fixed rate, each one's latency is measured from the time it was due to be sent, not from when a
// connection was free to send it (no coordinated omission: a stall shows in the percentiles as the
// queue it makes, as it would for real clients). `npm run bench` with LATENCY=1 uses its C twin,
// bench/fixed-rate.c (this one's event-loop and GC pauses showed in its p99), and this one when
// the C one cannot be built or with FIXED_RATE=node.
//
// Why not autocannon's --overallRate: autocannon gives each connection a per-second quota that it
// sends back to back at the start of every second, then waits for the next second, so "50% load"
// is a burst at full speed for half a second and silence for the other half: its percentiles
// measure that burst's queue. wrk2 is not packaged in Debian; this is the same method in ~150 lines.
//
// Usage: node bench/fixed-rate.mjs --url http://127.0.0.1:8080/api/x --rate 5000 --duration 10
//          [--conns 64] [--warmup 2] [-H 'Name: value' ...]
// Prints one JSON object: { rate, sent, completed, non2xx, errors, late, rps, p50, p90, p99, p999, max } (ms).
// Only 127.0.0.1 / ::1 / localhost targets are accepted; it stops by itself after warmup + duration
// (+ 5 s for the last answers).
import net from 'node:net';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    url: { type: 'string' },
    rate: { type: 'string' },
    duration: { type: 'string', default: '10' },
    warmup: { type: 'string', default: '0' },
    conns: { type: 'string', default: '64' },
    header: { type: 'string', short: 'H', multiple: true, default: [] },
  },
});
const url = new URL(values.url ?? '');
if (!['127.0.0.1', 'localhost', '[::1]'].includes(url.hostname)) {
  console.error('fixed-rate: only loopback targets');
  process.exit(2);
}
const rate = Number(values.rate);
const duration = Number(values.duration);
const warmup = Number(values.warmup);
const conns = Number(values.conns);
if (!(rate > 0) || !(duration > 0) || !(warmup >= 0) || !(conns > 0)) {
  console.error('fixed-rate: --rate, --duration, --conns must be positive numbers');
  process.exit(2);
}
const extra = values.header.map((h) => `${h}\r\n`).join('');
const request = Buffer.from(`GET ${url.pathname}${url.search} HTTP/1.1\r\nHost: ${url.host}\r\n${extra}\r\n`, 'latin1');

// ---- one keep-alive connection, one request at a time (no pipelining)
const idle = [];
const backlog = []; // due times of requests waiting for a free connection
let inFlight = 0;
let latencies = new Float64Array(1 << 16);
let count = 0;
let sent = 0;
let completed = 0;
let non2xx = 0;
let errors = 0;
let late = 0; // requests sent more than 1 ms after they were due (no free connection): shows a saturated target

function record(ms) {
  if (count === latencies.length) {
    const bigger = new Float64Array(latencies.length * 2);
    bigger.set(latencies);
    latencies = bigger;
  }
  latencies[count++] = ms;
}

class Conn {
  constructor() {
    this.buf = Buffer.alloc(0);
    this.due = 0;
    this.measured = false;
    this.busy = false;
    this.socket = net.connect(Number(url.port || 80), url.hostname.replace(/^\[|\]$/g, ''));
    this.socket.setNoDelay(true);
    this.socket.on('connect', () => release(this));
    this.socket.on('data', (chunk) => this.onData(chunk));
    this.socket.on('error', () => {});
    this.socket.on('close', () => {
      const at = idle.indexOf(this);
      if (at >= 0) idle.splice(at, 1); // closed while idle (the target's keep-alive timeout): never hand it out again
      if (this.busy) {
        errors++;
        inFlight--;
      }
      this.busy = false;
      if (!stopping) setTimeout(() => all.push(new Conn()), 10); // reconnect (the target closed: counted as an error above)
    });
  }
  send(due) {
    this.busy = true;
    this.due = due;
    this.measured = due >= measureFrom && due < endAt;
    inFlight++;
    sent++;
    this.socket.write(request);
  }
  onData(chunk) {
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    for (;;) {
      const end = this.buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      const head = this.buf.toString('latin1', 0, end);
      const status = Number(head.slice(9, 12));
      const m = /\r\ncontent-length:\s*(\d+)/i.exec(head);
      let total;
      if (m) total = end + 4 + Number(m[1]);
      else if (/\r\ntransfer-encoding:\s*chunked/i.test(head)) {
        const z = this.buf.indexOf('\r\n0\r\n\r\n', end);
        if (z < 0) return;
        total = z + 7;
      } else total = end + 4;
      if (this.buf.length < total) return;
      this.buf = this.buf.subarray(total);
      this.done(status);
    }
  }
  done(status) {
    const ms = performance.now() - this.due;
    this.busy = false;
    inFlight--;
    if (this.measured) {
      completed++;
      if (status >= 200 && status < 300) record(ms);
      else non2xx++;
    }
    release(this);
  }
}

function release(c) {
  if (backlog.length > 0) {
    const due = backlog.shift();
    if (performance.now() - due > 1) late++;
    c.send(due);
  } else idle.push(c);
}

// ---- the schedule: request k is due at t0 + k / rate, whatever happened to the ones before it
let stopping = false;
const all = [];
for (let i = 0; i < conns; i++) all.push(new Conn());
await new Promise((r) => setTimeout(r, 200)); // let the connections open
const interval = 1000 / rate;
const t0 = performance.now();
var measureFrom = t0 + warmup * 1000; // var: read by Conn.send, declared before the first send
var endAt = measureFrom + duration * 1000;
let k = 0;
function tick() {
  const now = performance.now();
  const until = Math.min(now, endAt);
  for (; t0 + k * interval <= until; k++) {
    const due = t0 + k * interval;
    const c = idle.pop();
    if (c !== undefined) c.send(due);
    else backlog.push(due);
  }
  if (now < endAt) {
    // Sub-millisecond gaps: spin through the event loop; otherwise sleep until the next one is due.
    const next = t0 + k * interval - performance.now();
    if (next > 1.5) setTimeout(tick, Math.floor(next - 0.5));
    else setImmediate(tick);
  } else finish();
}
function finish() {
  // Wait (at most 5 s) for the answers still in flight, then report.
  const deadline = performance.now() + 5000;
  const wait = () => {
    if ((inFlight > 0 || backlog.length > 0) && performance.now() < deadline) return void setTimeout(wait, 10);
    stopping = true;
    errors += inFlight + backlog.length;
    for (const c of all) c.socket.destroy();
    const s = latencies.subarray(0, count).sort();
    const q = (p) => (count === 0 ? NaN : s[Math.min(count - 1, Math.ceil((p / 100) * count) - 1)]);
    const out = {
      rate,
      duration,
      sent,
      completed,
      non2xx,
      errors,
      late,
      rps: completed / duration,
      p50: q(50),
      p90: q(90),
      p99: q(99),
      p999: q(99.9),
      max: count === 0 ? NaN : s[count - 1],
    };
    process.stdout.write(JSON.stringify(out) + '\n');
    process.exit(0);
  };
  wait();
}
tick();
