import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Writable } from 'node:stream';
import { describe, it } from 'node:test';
import pino from 'pino';
import { RequestContext } from '../../pipeline/context.js';
import { LineDestination } from '../../logger.js';
import { accessBytes, accessBytesMax, accessFields, accessRecord, createAccessLog } from './access-log.js';
import { putMs, putUint } from './bytes.js';
import { jsonMs } from './json.js';

function capture(opts: pino.LoggerOptions = { base: null }): { logger: pino.Logger; lines: Array<Record<string, unknown>>; raw: string[] } {
  const raw: string[] = [];
  const lines: Array<Record<string, unknown>> = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const l of chunk.toString().split('\n')) {
        if (l) {
          raw.push(l);
          lines.push(JSON.parse(l) as Record<string, unknown>);
        }
      }
      cb();
    },
  });
  return { logger: pino(opts, sink), lines, raw };
}

function ctx(status: number, extra: Partial<RequestContext> = {}): RequestContext {
  const req = { method: 'GET', rawHeaders: [] } as unknown as IncomingMessage;
  const c = new RequestContext(req, {} as ServerResponse, pino({ level: 'silent' }));
  c.status = status;
  return Object.assign(c, extra);
}

const tick = () => new Promise((r) => setImmediate(r));

describe('access log', () => {
  it('samples successes only; errors, rate-limited and auth-failed requests are always written', async () => {
    const { logger, lines } = capture();
    const log = createAccessLog(logger, { sample: 0.5, random: () => 0.9 });
    log.write(ctx(200), performance.now());
    log.write(ctx(304), performance.now());
    log.write(ctx(404), performance.now());
    log.write(ctx(499), performance.now());
    log.write(ctx(503), performance.now());
    log.write(ctx(200, { rateLimited: true }), performance.now());
    log.write(ctx(401, { authFailure: 'missing' }), performance.now());
    await tick();
    assert.deepEqual(lines.map((l) => l['status']), [404, 499, 503, 200, 401]);
    const kept = capture();
    createAccessLog(kept.logger, { sample: 0.5, random: () => 0.1 }).write(ctx(200), performance.now());
    await tick();
    assert.equal(kept.lines.length, 1);
  });

  it('writes the consumer (JWT sub), the user agent (capped) and nothing of other headers', async () => {
    const { logger, lines } = capture();
    // What the request scan hands over: the User-Agent only (Authorization 'Bearer abc.def.ghi' and
    // Cookie 'sid=1' never reach the context's log fields).
    createAccessLog(logger, { sample: 1 }).write(
      ctx(200, { principal: { subject: 'user-42', issuer: 'i', scopes: [], claims: { secret: 's3' } }, userAgent: 'x'.repeat(1000) }),
      performance.now(),
    );
    await tick();
    assert.equal(lines[0]!['consumer'], 'user-42');
    assert.equal((lines[0]!['userAgent'] as string).length, 256);
    const text = JSON.stringify(lines);
    for (const s of ['abc.def.ghi', 'sid=1', 's3']) assert.ok(!text.includes(s), s);
  });

  const nasty = () =>
    ctx(
      502,
      {
        requestId: 'req-1',
        traceId: '4bf92f3577b34da6a3ce929d0e0e4736',
        path: '/a"b\\c\n\u0000\u2028é😀\ud800',
        clientIp: '::1',
        principal: { subject: 'sub "quoted" \t', issuer: 'i', scopes: [], claims: {} },
        errorCode: 'GW_ERR_UPSTREAM_UNAVAILABLE',
        upstreamName: 'up',
        upstreamStart: 1,
        upstreamEnd: 3.5,
        bytesIn: 10,
        bytesOut: 20,
        userAgent: 'ua\r\n"x"',
      },
    );

  for (const [what, opts] of [
    ['the test logger (numeric level, no base)', { base: null }],
    ['the gateway logger shape (level label, pid, epoch time)', { base: { pid: 7 }, timestamp: pino.stdTimeFunctions.epochTime, formatters: { level: (l: string) => ({ level: l }) } }],
    ['an ISO time and a child binding', { base: { svc: 'x' }, timestamp: pino.stdTimeFunctions.isoTime }],
  ] as const) {
    it(`frames the line exactly as pino would, for ${what}`, async () => {
      const fast = capture(opts as pino.LoggerOptions);
      const slow = capture(opts as pino.LoggerOptions);
      const c = nasty();
      const end = performance.now();
      createAccessLog(fast.logger, { sample: 1 }).write(c, end);
      slow.logger.info(accessRecord(c, end));
      await tick();
      const strip = (l: Record<string, unknown>) => ({ ...l, time: typeof l['time'] });
      assert.deepEqual(strip(fast.lines[0]!), strip(slow.lines[0]!));
      assert.deepEqual(Object.keys(fast.lines[0]!), Object.keys(slow.lines[0]!), 'same key order');
      assert.equal(fast.lines[0]!['path'], '/a"b\\c\n\u0000\u2028é😀\ud800');
      assert.equal(fast.raw[0]!.includes('\n'), false);
    });
  }

  it('goes through logger.info when the logger has a mixin, and honours the level', async () => {
    const mixed = capture({ base: null, mixin: () => ({ region: 'eu' }) });
    createAccessLog(mixed.logger, { sample: 1 }).write(nasty(), performance.now());
    const quiet = capture({ base: null, level: 'warn' });
    const log = createAccessLog(quiet.logger, { sample: 1 });
    log.write(nasty(), performance.now());
    quiet.logger.level = 'info';
    log.write(nasty(), performance.now());
    await tick();
    assert.equal(mixed.lines[0]!['region'], 'eu');
    assert.equal(mixed.lines[0]!['event'], 'access');
    assert.equal(quiet.lines.length, 1, 'written only once the level allows info');
  });
});

describe('access line as bytes (the gateway destination)', () => {
  const variants = (): Array<[string, RequestContext]> => [
    ['a proxied request', ctx(200, { requestId: 'a1b2', traceId: '4bf92f3577b34da6a3ce929d0e0e4736', path: '/api/x', clientIp: '10.0.0.1', upstreamName: 'backend', target: { origin: 'http://127.0.0.1:9000' } as RequestContext['target'], upstreamStart: 1, upstreamEnd: 2.0005, bytesIn: 12345678901, bytesOut: 0, userAgent: 'curl/8.0' })],
    ['a refused request (no route, no upstream, no trace id)', ctx(404, { requestId: 'r', path: '', clientIp: '::1', errorCode: 'GW_ERR_ROUTE_NOT_FOUND' })],
    ['a rate-limited consumer', ctx(429, { requestId: 'q', path: '/p', clientIp: '1.2.3.4', rateLimited: true, principal: { subject: 'user-7', issuer: 'i', scopes: [], claims: {} } })],
    ['a path, user agent and consumer that need escaping', ctx(200, { requestId: 'e', path: '/é"x', clientIp: '1.1.1.1', userAgent: 'ua\t"x"', principal: { subject: 'ü', issuer: 'i', scopes: [], claims: {} } })],
  ];

  for (const [what, c] of variants()) {
    it(`writes the same bytes as the string line, or gives up: ${what}`, () => {
      const end = c.start + 81.2754;
      const b = Buffer.alloc(accessBytesMax(c) + 10, 0xff);
      const n = accessBytes(c, end, b, 5);
      const text = accessFields(c, end);
      if (/^[\x20-\x7e]*$/.test(text.replace(/\\./g, ''))) {
        assert.ok(n > 0, 'printable ASCII: the byte path writes it');
        assert.equal(b.subarray(5, n).toString('utf8'), text);
        assert.equal(b[n], 0xff, 'nothing past the end');
      } else assert.equal(n, -1, 'a value needing escapes: the string path writes the line');
    });
  }

  it('frames lines for the gateway destination exactly as the string path does, escapes included', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'gw-al-')), 'out.log');
    writeFileSync(file, '');
    const dest = new LineDestination(file);
    const opts = { base: { pid: 7 }, timestamp: pino.stdTimeFunctions.epochTime, formatters: { level: (l: string) => ({ level: l }) } };
    const logger = pino(opts, dest);
    const slow = capture(opts);
    const log = createAccessLog(logger, { sample: 1 });
    for (const [, c] of variants()) {
      const end = performance.now();
      log.write(c, end);
      slow.logger.info(accessRecord(c, end));
    }
    await new Promise<void>((resolve, reject) => dest.flush((err) => (err ? reject(err) : resolve())));
    await tick();
    const lines = readFileSync(file, 'utf8').trim().split('\n');
    assert.equal(lines.length, slow.lines.length);
    lines.forEach((l, i) => {
      const fast = JSON.parse(l) as Record<string, unknown>;
      assert.ok(Math.abs((fast['time'] as number) - Date.now()) < 5000, 'wall-clock time');
      assert.deepEqual({ ...fast, time: 0 }, { ...slow.lines[i], time: 0 });
      assert.deepEqual(Object.keys(fast), Object.keys(slow.lines[i]!), 'same key order');
    });
    dest.end();
  });

  it('writes numbers as JSON does', () => {
    const b = Buffer.alloc(64);
    for (const n of [0, 7, 10, 99, 100, 12345, 2 ** 31, 2 ** 53 - 1, -1, 1.5, NaN, Infinity]) {
      const end = putUint(b, 0, n);
      assert.equal(b.subarray(0, end).toString(), Number.isFinite(n) ? String(n) : 'null', String(n));
    }
    for (const ms of [0, 0.0004, 0.0005, 0.001, 0.01, 0.1, 1, 1.2, 81.275, 999.9999, 1234.5678, 3e7, -2.5, NaN]) {
      const end = putMs(b, 0, ms);
      assert.equal(b.subarray(0, end).toString(), jsonMs(ms), String(ms));
    }
  });
});

describe('jsonMs', () => {
  it('equals Math.round(ms * 1000) / 1000 once parsed', async () => {
    const { jsonMs } = await import('./json.js');
    for (const ms of [0, 0.0004, 0.0005, 0.001, 0.01, 0.1, 1, 1.2, 81.275, 81.2, 999.9999, 1234.5678, 1e6 + 0.001, 3e7, 5e9, Math.PI]) {
      assert.equal(JSON.parse(jsonMs(ms)), Math.round(ms * 1000) / 1000, String(ms));
    }
    for (let i = 0; i < 10000; i++) {
      const ms = Math.random() * 10 ** Math.floor(Math.random() * 7);
      assert.equal(JSON.parse(jsonMs(ms)), Math.round(ms * 1000) / 1000, String(ms));
    }
    assert.equal(jsonMs(NaN), 'null');
  });
});
