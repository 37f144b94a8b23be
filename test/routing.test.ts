import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { rawRequest, startDemoBackend, startGateway, type DemoBackend, type TestGateway } from './helpers.js';
import { SECRET } from './jwt-fixtures.js';

/**
 * Issue 15 item 1: the most specific path match decides the method. A GET-only, JWT-protected
 * /api/orders beside a public catch-all: no other method reaches the backend through the catch-all.
 */
describe('routing: the most specific path match decides', () => {
  let backend: DemoBackend;
  let gw: TestGateway;
  before(async () => {
    backend = await startDemoBackend();
    gw = await startGateway(
      `
jwt: { issuers: [{ name: local, issuer: https://auth.local, algorithms: [HS256], secret: "\${JWT_SECRET}" }] }
upstreams:
  backend: { targets: [{ url: ${backend.url} }] }
routes:
  - { name: public, match: { pathPrefix: / }, upstream: backend }
  - { name: orders, match: { pathPrefix: /api/orders, methods: [GET] }, upstream: backend, auth: { jwt: required } }
  - { name: reports, match: { pathPrefix: /reports, methods: [GET], methodFallthrough: true }, upstream: backend, auth: { jwt: required } }
  - { name: admin, match: { pathPrefix: /admin }, upstream: backend, auth: { jwt: required } }
`,
      { JWT_SECRET: SECRET },
    );
  });
  after(async () => {
    await gw.close();
    await backend.close();
  });

  const send = (method: string, target: string) =>
    rawRequest(gw.port, `${method} ${target} HTTP/1.1\r\nHost: localhost\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`);

  for (const method of ['POST', 'PUT', 'DELETE', 'PATCH']) {
    it(`${method} /api/orders/1 without a token is 405 with Allow, not proxied by the catch-all`, async () => {
      const before = backend.count();
      const res = await send(method, '/api/orders/1');
      assert.equal(res.status, 405, res.raw);
      assert.equal(res.headers['allow'], 'GET, HEAD');
      assert.equal(res.headers['content-type'], 'application/problem+json');
      assert.equal((JSON.parse(res.body) as { code: string }).code, 'GW_ERR_METHOD_NOT_ALLOWED');
      assert.equal(backend.count(), before);
    });
  }

  it('GET /api/orders/1 still needs the token; other paths go to the catch-all', async () => {
    assert.equal((await send('GET', '/api/orders/1')).status, 401);
    assert.equal((await send('POST', '/api/other')).status, 200);
  });

  it('match.methodFallthrough sends the other methods on to the less specific route', async () => {
    assert.equal((await send('GET', '/reports/1')).status, 401);
    assert.equal((await send('POST', '/reports/1')).status, 200);
  });

  it('/routes warns about the route whose refused methods would reach a route without auth', async () => {
    const body = (await (await fetch(`${gw.adminUrl}/routes`)).json()) as { warnings: string[] };
    const w = body.warnings.join('\n');
    assert.match(w, /routes\[1\] \(orders\): POST, PUT, PATCH, DELETE, OPTIONS, TRACE \/api\/orders are refused with 405 here; .* routes\[0\] \(public\), which has no jwt-auth/);
    assert.match(w, /routes\[2\] \(reports\): methodFallthrough sends POST, .* to routes\[0\] \(public\), which has no jwt-auth/);
    const reports = (body as unknown as { routes: Array<{ name: string; match: Record<string, unknown> }> }).routes.find((r) => r.name === 'reports');
    assert.equal(reports?.match['methodFallthrough'], true);
  });

  for (const target of ['/ADMIN/secret', '/Admin/secret', '/aDmIn']) {
    it(`refuses the case variant ${target} of the protected /admin (400, never proxied)`, async () => {
      const before = backend.count();
      const res = await send('GET', target);
      assert.equal(res.status, 400, res.raw);
      assert.equal((JSON.parse(res.body) as { code: string }).code, 'GW_ERR_PATH_INVALID');
      assert.equal(backend.count(), before);
    });
  }
});

describe('routing: Host canonical form and syntax (issue 15 item 8)', () => {
  let backend: DemoBackend;
  let gw: TestGateway;
  before(async () => {
    backend = await startDemoBackend();
    gw = await startGateway(
      `
jwt: { issuers: [{ name: local, issuer: https://auth.local, algorithms: [HS256], secret: "\${JWT_SECRET}" }] }
upstreams:
  backend: { targets: [{ url: ${backend.url} }] }
routes:
  - { name: public, match: { pathPrefix: / }, upstream: backend }
  - { name: secure, match: { pathPrefix: /, hosts: [secure.example.com, "*.internal.example.com"] }, upstream: backend, auth: { jwt: required } }
`,
      { JWT_SECRET: SECRET },
    );
  });
  after(async () => {
    await gw.close();
    await backend.close();
  });
  const get = (host: string) => rawRequest(gw.port, `GET /x HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`);

  for (const host of ['secure.example.com', 'secure.example.com.', 'SECURE.example.com.:8000', 'a.internal.example.com.']) {
    it(`Host: ${host} takes the host-based route`, async () => {
      const before = backend.count();
      assert.equal((await get(host)).status, 401);
      assert.equal(backend.count(), before);
    });
  }

  for (const host of ['[secure.example.com]', 'a@b', 'secure.example.com:x', 'a b']) {
    it(`Host: ${host} is refused with 400 GW_ERR_HOST_INVALID`, async () => {
      const before = backend.count();
      const res = await get(host);
      assert.equal(res.status, 400, res.raw);
      assert.equal(res.headers['content-type'], 'application/problem+json');
      assert.equal((JSON.parse(res.body) as { code: string }).code, 'GW_ERR_HOST_INVALID');
      assert.equal(backend.count(), before);
    });
  }

  it('other valid hosts go to the catch-all', async () => {
    assert.equal((await get('other.example.com')).status, 200);
    assert.equal((await get('[::1]:80')).status, 200);
  });
});
