import assert from 'node:assert/strict';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Writable } from 'node:stream';
import { describe, it } from 'node:test';
import pino from 'pino';
import { RequestContext } from '../../pipeline/context.js';
import { createAccessLog } from './access-log.js';

function capture(): { logger: pino.Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const l of chunk.toString().split('\n')) if (l) lines.push(JSON.parse(l) as Record<string, unknown>);
      cb();
    },
  });
  return { logger: pino({ base: null }, sink), lines };
}

function ctx(status: number, extra: Partial<RequestContext> = {}, rawHeaders: string[] = []): RequestContext {
  const req = { method: 'GET', rawHeaders } as unknown as IncomingMessage;
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
    const raw = ['Authorization', 'Bearer abc.def.ghi', 'USER-AGENT', 'x'.repeat(1000), 'Cookie', 'sid=1'];
    createAccessLog(logger, { sample: 1 }).write(
      ctx(200, { principal: { subject: 'user-42', issuer: 'i', scopes: [], claims: { secret: 's3' } } }, raw),
      performance.now(),
    );
    await tick();
    assert.equal(lines[0]!['consumer'], 'user-42');
    assert.equal((lines[0]!['userAgent'] as string).length, 256);
    const text = JSON.stringify(lines);
    for (const s of ['abc.def.ghi', 'sid=1', 's3']) assert.ok(!text.includes(s), s);
  });
});
