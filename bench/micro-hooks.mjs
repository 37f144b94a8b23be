#!/usr/bin/env node
// The all-on route's own per-request work outside Node and undici, timed in a loop: a RequestContext,
// trace propagation (ids + traceparent), the bearer token read, and a consumer rate limit (memory
// store) with its header lines. Best of 15 trials of 200k requests, in ns: on a shared machine the
// minimum is the steadiest figure. Compare two builds: `node bench/micro-hooks.mjs [distDir] [only]`
// (distDir defaults to ./dist; only = none | trace | bearer | rl for one part).
// Reads compiled internals on purpose (a bench, not an API user); see bench/README.md "Flame graph findings".
import { resolve } from 'node:path';
import pino from 'pino';
const dist = resolve(process.argv[2] ?? 'dist');
const only = process.argv[3] ?? '';
const { RequestContext } = await import(`file://${dist}/pipeline/context.js`);
const { createPropagator } = await import(`file://${dist}/observe/tracing/tracer.js`);
const { bearerToken } = await import(`file://${dist}/policies/jwt-auth/policy.js`);
const { rateLimitPolicy } = await import(`file://${dist}/policies/rate-limit/policy.js`);
const logger = pino({ level: 'silent' });
const settings = { store: 'memory', memory: { maxKeys: 1000000 }, headers: { draft11: true, legacy: true }, onStoreError: 'allow' };
const limits = [{ key: 'consumer', limit: 50000000, window: '1m', mode: 'enforce' }];
const config = { rateLimit: settings, defaults: {}, routes: [{ name: 'api', rateLimit: limits }] };
const metrics = { rateLimitStoreError() {} };
const shared = await rateLimitPolicy.setup({ document: config }, { logger, metrics }, undefined);
const rl = rateLimitPolicy.create(limits, { route: { name: 'api' }, shared });
const tracer = createPropagator({ enabled: true, sampled: true });
const principal = Object.freeze({ subject: 'user-42', issuer: 'bench', scopes: ['read'], claims: {} });
const token = 'Bearer eyJhbGciOiJIUzI1NiJ9.' + 'x'.repeat(180) + '.sig';
const base = ['user-agent', 'wrk', 'accept', '*/*', 'authorization', token];
const req = { method: 'GET', headers: {} };
const res = {};
function run(n) {
  let sink = 0;
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) {
    const ctx = new RequestContext(req, res, logger);
    const headers = base.slice();
    ctx.upstreamHeaders = headers;
    if (only === '' || only === 'trace') tracer.begin(ctx, headers);
    const t = only === '' || only === 'bearer' ? bearerToken(headers) : '';
    ctx.principal = principal;
    if (only === '' || only === 'rl') rl.onRequest(ctx);
    sink += t.length + ctx.responseHeaderLines.length + ctx.traceId.length;
  }
  return [Number(process.hrtime.bigint() - t0) / n, sink];
}
run(200000);
let best = Infinity;
for (let k = 0; k < 15; k++) best = Math.min(best, run(200000)[0]);
const what = { '': 'trace begin + bearer token + consumer rate limit', none: 'nothing', trace: 'trace begin', bearer: 'bearer token', rl: 'consumer rate limit' }[only];
console.log(`${dist}: ${best.toFixed(0)} ns per request (RequestContext + ${what}), best of 15`);
await shared.store.close();
