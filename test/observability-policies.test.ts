/**
 * The access line and metrics of requests refused by the JWT (401/403) and rate-limit (429)
 * policies, and of an authenticated request (consumer = sub): no token in the log.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { parseExposition, sampleValue } from './exposition.js';
import { startDemoBackend, startGateway, waitFor, type DemoBackend, type TestGateway } from './helpers.js';
import { SECRET, hmacKey, jose, now } from './jwt-fixtures.js';

const ISS = 'https://auth.local';
const claims = (extra: Record<string, unknown> = {}) => ({ iss: ISS, aud: 'api', sub: 'alice', iat: now(), exp: now() + 300, ...extra });

describe('observability of policy refusals', () => {
  let backend: DemoBackend;
  let gw: TestGateway;
  before(async () => {
    backend = await startDemoBackend();
    gw = await startGateway(
      `
jwt:
  issuers:
    - name: local
      issuer: "${ISS}"
      audiences: [api]
      algorithms: [HS256]
      secret: \${JWT_SECRET}
upstreams:
  backend: { targets: [{ url: ${backend.url} }] }
routes:
  - name: orders
    match: { pathPrefix: /orders }
    upstream: backend
    auth: { jwt: required, scopes: [orders:read] }
  - name: limited
    match: { pathPrefix: /limited }
    upstream: backend
    auth: none
    rateLimit: [{ key: ip, limit: 2, window: 1m }]
`,
      { JWT_SECRET: SECRET },
    );
  });
  after(async () => {
    await gw?.close();
    await backend.close();
  });

  async function line(requestId: string): Promise<Record<string, unknown>> {
    let found: Record<string, unknown> | undefined;
    await waitFor(() => (found = gw.logs.find((l) => l['event'] === 'access' && l['requestId'] === requestId)) !== undefined, 3000, requestId);
    return found!;
  }

  it('logs the consumer of an authenticated request and a 401/403 with its code, never the token', async () => {
    const good = await jose('HS256', hmacKey, claims({ scope: 'orders:read' }));
    const ok = await fetch(`${gw.url}/orders/1`, { headers: { authorization: `Bearer ${good}`, 'x-request-id': 'jwt-ok' } });
    assert.equal(ok.status, 200);
    await ok.text();
    const okLine = await line('jwt-ok');
    assert.equal(okLine['consumer'], 'alice');
    assert.equal(okLine['status'], 200);

    const expired = await jose('HS256', hmacKey, claims({ iat: now() - 600, exp: now() - 300 }));
    const r401 = await fetch(`${gw.url}/orders/1`, { headers: { authorization: `Bearer ${expired}`, 'x-request-id': 'jwt-401' } });
    assert.equal(r401.status, 401);
    await r401.text();
    const l401 = await line('jwt-401');
    assert.equal(l401['status'], 401);
    assert.equal(l401['route'], 'orders');
    assert.equal(l401['errorCode'], 'GW_ERR_AUTH_EXPIRED');
    assert.equal(l401['consumer'], null);
    assert.equal(l401['upstream'], null, 'never forwarded');

    const noScope = await jose('HS256', hmacKey, claims());
    const r403 = await fetch(`${gw.url}/orders/1`, { headers: { authorization: `Bearer ${noScope}`, 'x-request-id': 'jwt-403' } });
    assert.equal(r403.status, 403);
    await r403.text();
    assert.equal((await line('jwt-403'))['errorCode'], 'GW_ERR_AUTH_SCOPE');
    await (await fetch(`${gw.url}/orders/1`, { headers: { 'x-request-id': 'jwt-missing' } })).text();
    await line('jwt-missing');

    const text = JSON.stringify(gw.logs);
    for (const token of [good, expired, noScope]) assert.ok(!text.includes(token.split('.')[2]!), 'token signature in the log');

    const m = parseExposition(await (await fetch(`${gw.adminUrl}/metrics`)).text());
    const auth = (reason: string) => sampleValue(m, 'gateway_auth_failures_total', 'gateway_auth_failures_total', { route: 'orders', reason });
    assert.equal(auth('expired'), 1);
    assert.equal(auth('insufficient_scope'), 1);
    assert.equal(auth('missing'), 1);
    assert.equal(sampleValue(m, 'gateway_http_requests_total', 'gateway_http_requests_total', { route: 'orders', method: 'GET', status: '401' }), 2);
  });

  it('logs a 429 as rate limited and counts it', async () => {
    for (let i = 0; i < 3; i++) {
      const res = await fetch(`${gw.url}/limited`, { headers: { 'x-request-id': `rl-${i}` } });
      await res.text();
      assert.equal(res.status, i < 2 ? 200 : 429);
    }
    const l429 = await line('rl-2');
    assert.equal(l429['status'], 429);
    assert.equal(l429['rateLimited'], true);
    assert.equal(l429['errorCode'], 'GW_ERR_RATE_LIMITED');
    assert.equal((await line('rl-0'))['rateLimited'], false);
    const m = parseExposition(await (await fetch(`${gw.adminUrl}/metrics`)).text());
    assert.equal(sampleValue(m, 'gateway_rate_limited_total', 'gateway_rate_limited_total', { route: 'limited' }), 1);
    assert.equal(sampleValue(m, 'gateway_http_requests_total', 'gateway_http_requests_total', { route: 'limited', method: 'GET', status: '429' }), 1);
  });
});
