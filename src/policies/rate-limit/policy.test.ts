import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import pino from 'pino';
import { parseConfig } from '../../config/load.js';
import type { RequestContext } from '../../pipeline/context.js';
import { GatewayError } from '../../errors.js';
import { linesToPairs } from '../../server/response.js';
import { rateLimitPolicy } from './policy.js';
import { Registry } from 'prom-client';
import { policyView } from '../../config/policy-view.js';
import type { Config } from '../../config/schema.js';
import type { GatewayMetrics, PolicyServices } from '../../pipeline/contract.js';

const servicesWith = (metrics: GatewayMetrics): PolicyServices => ({ logger: pino({ level: 'silent' }), metrics, registry: new Registry(), env: {}, configDir: '' });
const view = (config: Config) => policyView(rateLimitPolicy, config);
const ROUTE = { name: 'r', index: 0, paramNames: [], upstreamName: 'b' };

function fakeCtx(over: Partial<RequestContext> = {}): RequestContext {
  const headers: Record<string, string> = {};
  return {
    clientIp: '192.0.2.1',
    start: performance.now(),
    principal: undefined,
    req: { headers: {} },
    rateLimited: false,
    responseHeaders: headers,
    setResponseHeader: (n: string, v: string) => (headers[n] = v),
    addResponseHeaderLines: (lines: string) => {
      const p = linesToPairs(lines);
      for (let i = 0; i < p.length; i += 2) headers[p[i]!] = p[i + 1]!;
    },
    log: pino({ level: 'silent' }),
    ...over,
  } as unknown as RequestContext;
}

const yaml = (top: string) => `
${top}
upstreams: { b: { targets: [{ url: "http://127.0.0.1:9" }] } }
routes:
  - name: r
    match: { pathPrefix: / }
    upstream: b
    rateLimit: [{ key: consumer, limit: 1, window: 1m }]
`;

describe('rate-limit policy', () => {
  it('keys consumer limits by the principal subject', async () => {
    const { config } = parseConfig(yaml(''), {});
    const services = servicesWith({ rateLimitStoreError() {}, jwksFetchError() {} });
    const shared = await rateLimitPolicy.setup!(view(config), services, undefined);
    const hooks = rateLimitPolicy.create(config.routes[0]!.rateLimit!, { ...services, route: ROUTE, shared })!;
    const alice = () => fakeCtx({ principal: { subject: 'alice', issuer: 'i', scopes: [], claims: {} } });
    assert.equal(hooks.onRequest!(alice()), undefined, 'synchronous: the memory store costs no promise');
    assert.ok(hooks.onRequest!(alice()) instanceof GatewayError);
    const bob = fakeCtx({ principal: { subject: 'bob', issuer: 'i', scopes: [], claims: {} } });
    assert.equal(hooks.onRequest!(bob), undefined, 'same ip, another consumer: another bucket');
    await rateLimitPolicy.dispose!(shared, undefined);
  });

  it('counts every store failure and decides it by onStoreError', async () => {
    const { config } = parseConfig(yaml('rateLimit: { store: redis, redis: { url: "redis://127.0.0.1:1", timeout: 20ms }, onStoreError: deny }'), {});
    let errors = 0;
    const services = servicesWith({ rateLimitStoreError: () => errors++, jwksFetchError() {} });
    const shared = await rateLimitPolicy.setup!(view(config), services, undefined);
    const hooks = rateLimitPolicy.create(config.routes[0]!.rateLimit!, { ...services, route: ROUTE, shared })!;
    for (let i = 0; i < 3; i++) {
      const r = await hooks.onRequest!(fakeCtx());
      assert.ok(r instanceof GatewayError && r.code === 'GW_ERR_RATE_LIMIT_STORE');
    }
    assert.equal(errors, 3);
    await rateLimitPolicy.dispose!(shared, undefined);
  });

  it('a reload with the same store settings keeps the store (and its buckets)', async () => {
    const { config } = parseConfig(yaml(''), {});
    const services = servicesWith({ rateLimitStoreError() {}, jwksFetchError() {} });
    const first = await rateLimitPolicy.setup!(view(config), services, undefined);
    const second = await rateLimitPolicy.setup!(view(config), services, first);
    assert.equal(second.store, first.store);
    await rateLimitPolicy.dispose!(first, second);
    const hooks = rateLimitPolicy.create(config.routes[0]!.rateLimit!, { ...services, route: ROUTE, shared: second })!;
    assert.equal(hooks.onRequest!(fakeCtx()), undefined, 'not closed by the retired snapshot');
    await rateLimitPolicy.dispose!(second, undefined);
  });
});
