/**
 * IP filter end to end: allow and deny lists on the client address after trustedProxies (the test
 * client is 127.0.0.1, a trusted proxy here, so X-Forwarded-For names the client), per route and at
 * the top level before routing; a refusal is 403 problem+json GW_ERR_IP_FORBIDDEN and never reaches
 * the upstream.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { configProblems, startDemoBackend, startGateway, type DemoBackend, type TestGateway } from '../../../test/helpers.js';

describe('ipFilter policy', () => {
  let backend: DemoBackend;
  let gw: TestGateway;
  let untrusted: TestGateway;
  before(async () => {
    backend = await startDemoBackend();
    gw = await startGateway(`
server: { trustedProxies: [127.0.0.1] }
ipFilter: { deny: [172.16.0.0/12] }
upstreams:
  backend: { targets: [{ url: ${backend.url} }] }
routes:
  - name: internal
    match: { pathPrefix: /internal }
    upstream: backend
    ipFilter: { allow: [10.0.0.0/8, "2001:db8::/32"], deny: [10.9.9.9] }
  - name: public
    match: { pathPrefix: /public }
    upstream: backend
    ipFilter: { deny: [192.0.2.0/24] }
  - name: open
    match: { pathPrefix: /open }
    upstream: backend
`);
    untrusted = await startGateway(`
upstreams:
  backend: { targets: [{ url: ${backend.url} }] }
routes:
  - { name: public, match: { pathPrefix: / }, upstream: backend, ipFilter: { deny: [10.0.0.0/8] } }
`);
  });
  after(async () => {
    await gw?.close();
    await untrusted?.close();
    await backend?.close();
  });

  const from = (base: string, path: string, ip: string) => fetch(`${base}${path}`, { headers: { 'x-forwarded-for': ip } });

  async function forbidden(res: Response): Promise<void> {
    assert.equal(res.status, 403);
    assert.equal(res.headers.get('content-type'), 'application/problem+json');
    const body = (await res.json()) as { code: string };
    assert.equal(body.code, 'GW_ERR_IP_FORBIDDEN');
  }

  it('lets allowed addresses through and refuses the rest with 403, deny winning over allow', async () => {
    assert.equal((await from(gw.url, '/internal/x', '10.1.2.3')).status, 200);
    assert.equal((await from(gw.url, '/internal/x', '2001:db8::7')).status, 200);
    const before = backend.count();
    await forbidden(await from(gw.url, '/internal/x', '8.8.8.8'));
    await forbidden(await from(gw.url, '/internal/x', '10.9.9.9'));
    await forbidden(await from(gw.url, '/internal/x', '2001:db9::1'));
    assert.equal(backend.count(), before, 'refused requests never reach the upstream');
  });

  it('applies a deny-only list', async () => {
    assert.equal((await from(gw.url, '/public/x', '8.8.8.8')).status, 200);
    await forbidden(await from(gw.url, '/public/x', '192.0.2.10'));
    assert.equal((await from(gw.url, '/open/x', '192.0.2.10')).status, 200);
  });

  it('runs the top-level list before routing: requests no route matches are refused too', async () => {
    await forbidden(await from(gw.url, '/nowhere', '172.20.0.1'));
    await forbidden(await from(gw.url, '/open/x', '172.20.0.1'));
    assert.equal((await from(gw.url, '/nowhere', '8.8.8.8')).status, 404);
  });

  it('believes X-Forwarded-For only from trusted proxies', async () => {
    assert.equal((await from(untrusted.url, '/x', '10.1.1.1')).status, 200, 'the peer 127.0.0.1 is the client');
  });
});

describe('ipFilter config', () => {
  const cfg = (top: string, route: string) => `
${top}
upstreams: { b: { targets: [{ url: "http://127.0.0.1:1" }] } }
routes:
  - { name: r, match: { pathPrefix: / }, upstream: b${route} }
`;
  it('names the field of a bad entry', () => {
    assert.deepEqual(configProblems(cfg('', ', ipFilter: { allow: [10.0.0.0/33] }')), ['routes[0].ipFilter.allow[0]: expected an IP address or CIDR like 10.0.0.0/8 or ::1, got "10.0.0.0/33"']);
    assert.deepEqual(configProblems(cfg('ipFilter: {}', '')), ['ipFilter: set allow, deny or both']);
    assert.deepEqual(configProblems(cfg('defaults: { ipFilter: { allow: [] } }', '')), ['defaults.ipFilter.allow: an empty allow list refuses every client; remove the field to allow all']);
  });
});
