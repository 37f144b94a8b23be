import assert from 'node:assert/strict';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { describe, it } from 'node:test';
import pino from 'pino';
import { RequestContext } from '../../pipeline/context.js';
import type { CompiledRoute } from '../../router/compile.js';
import { DEFAULT_BUCKETS } from '../schema.js';
import { wantsOpenMetrics } from './handler.js';
import { GatewayMetricsRecorder } from './metrics.js';
import { Histo } from './series.js';

function ctx(route: string | undefined, status: number, extra: Partial<RequestContext> = {}): RequestContext {
  const req = { method: 'GET', rawHeaders: [] } as unknown as IncomingMessage;
  const c = new RequestContext(req, {} as ServerResponse, pino({ level: 'silent' }));
  c.route = route === undefined ? undefined : ({ name: route } as CompiledRoute);
  c.status = status;
  return Object.assign(c, extra);
}

/** Lines of the text exposition that start with `prefix`. */
async function lines(m: GatewayMetricsRecorder, prefix: string): Promise<string[]> {
  return (await m.registry.metrics()).split('\n').filter((l) => l.startsWith(prefix));
}

describe('GatewayMetricsRecorder', () => {
  const cfg = { enabled: true, processMetrics: false, buckets: DEFAULT_BUCKETS };

  it('counts auth failures by route and reason, and rate-limited requests by route', async () => {
    const m = new GatewayMetricsRecorder(cfg);
    m.record(ctx('orders', 401, { authFailure: 'expired' }), performance.now());
    m.record(ctx('orders', 401, { authFailure: 'expired' }), performance.now());
    m.record(ctx('orders', 403, { authFailure: 'insufficient_scope' }), performance.now());
    m.record(ctx('orders', 429, { rateLimited: true }), performance.now());
    m.record(ctx('orders', 200, { rateLimited: true }), performance.now()); // shadow mode: counted, not refused
    m.record(ctx('orders', 200), performance.now());
    assert.deepEqual(await lines(m, 'gateway_auth_failures_total{'), [
      'gateway_auth_failures_total{route="orders",reason="expired"} 2',
      'gateway_auth_failures_total{route="orders",reason="insufficient_scope"} 1',
    ]);
    assert.deepEqual(await lines(m, 'gateway_rate_limited_total{'), ['gateway_rate_limited_total{route="orders"} 2']);
  });

  it('bounds auth failure reasons per route', async () => {
    const m = new GatewayMetricsRecorder(cfg);
    for (let i = 0; i < 100; i++) m.record(ctx('r', 401, { authFailure: `reason-${i}` }), performance.now());
    const out = await lines(m, 'gateway_auth_failures_total{');
    assert.equal(out.length, 33);
    assert.ok(out.includes('gateway_auth_failures_total{route="r",reason="other"} 68'));
  });

  it('counts unmatched requests under route=""', async () => {
    const m = new GatewayMetricsRecorder(cfg);
    m.record(ctx(undefined, 404), performance.now());
    assert.deepEqual(await lines(m, 'gateway_http_requests_total{'), ['gateway_http_requests_total{route="",method="GET",status="404"} 1']);
  });

  it('implements the GatewayMetrics hooks', async () => {
    const m = new GatewayMetricsRecorder(cfg);
    m.rateLimitStoreError();
    m.rateLimitStoreError();
    m.jwksFetchError('https://a.example/');
    assert.deepEqual(await lines(m, 'gateway_rate_limit_store_errors_total'), ['gateway_rate_limit_store_errors_total 2']);
    assert.deepEqual(await lines(m, 'gateway_jwks_fetch_errors_total{'), ['gateway_jwks_fetch_errors_total{issuer="https://a.example/"} 1']);
  });
});

describe('Histo', () => {
  it('puts a value on a bound into that bucket (le is inclusive) and the rest into +Inf', () => {
    const h = new Histo([0.1, 1]);
    for (const v of [0.05, 0.1, 0.5, 1, 3]) h.observe(v);
    assert.deepEqual([...h.counts], [2, 2, 1]);
    assert.equal(h.count, 5);
    const out: Array<{ value: number; labels: Record<string, string | number> }> = [];
    h.samples('x', { route: 'r' }, out);
    assert.deepEqual(out.map((s) => s.value), [2, 4, 5, 4.65, 5]);
  });
});

describe('wantsOpenMetrics', () => {
  it('follows the Accept header and its q-values', () => {
    assert.equal(wantsOpenMetrics(undefined), false);
    assert.equal(wantsOpenMetrics('*/*'), false);
    assert.equal(wantsOpenMetrics('application/openmetrics-text; version=1.0.0'), true);
    assert.equal(wantsOpenMetrics('application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5,*/*;q=0.1'), true);
    assert.equal(wantsOpenMetrics('application/openmetrics-text;q=0.2,text/plain;q=0.9'), false);
    assert.equal(wantsOpenMetrics('application/openmetrics-text;q=0'), false);
  });
});
