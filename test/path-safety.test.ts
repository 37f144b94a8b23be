import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { rawRequest, startDemoBackend, startGateway, type DemoBackend, type TestGateway } from './helpers.js';

/**
 * A public route and a private one on different upstream paths: no spelling of a path may reach
 * /private through the public route, and what the upstream receives is the normalised path.
 */
describe('path safety and request smuggling guards', () => {
  let backend: DemoBackend;
  let gw: TestGateway;
  before(async () => {
    backend = await startDemoBackend();
    gw = await startGateway(`
upstreams:
  backend: { targets: [{ url: ${backend.url} }] }
routes:
  - { name: public, match: { pathPrefix: /public }, upstream: backend }
  - { name: private, match: { pathPrefix: /private, headers: { x-internal: "yes" } }, upstream: backend }
`);
  });
  after(async () => {
    await gw.close();
    await backend.close();
  });

  const get = (target: string, extra = '') =>
    rawRequest(gw.port, `GET ${target} HTTP/1.1\r\nHost: localhost\r\n${extra}Connection: close\r\n\r\n`);

  for (const target of ['/public/../private', '/public/%2e%2e/private', '/public/%2E%2e/private', '/public/.%2e/private', '/public/./../private/x', '//public/..//private']) {
    it(`never routes ${target} through /public`, async () => {
      const before = backend.count();
      const res = await get(target);
      // normalised to /private…, which needs the header: 404, and the backend never sees it
      assert.equal(res.status, 404, res.raw);
      assert.equal(res.headers['content-type'], 'application/problem+json');
      assert.equal(backend.count(), before);
    });
  }

  it('forwards the normalised path upstream', async () => {
    const res = await get('/public/a/./b/../c//d%7e%41?q=%2F..');
    assert.equal(res.status, 200);
    const body = JSON.parse(res.body) as { rawPath: string; query: Record<string, string> };
    assert.equal(body.rawPath, '/public/a/c/d~A');
    assert.deepEqual(body.query, { q: '/..' });
  });

  for (const target of ['/public/a%2fb', '/public/a%2Fb', '/public/a%5cb', '/public/a\\b', '/public/a%00b', '/public/%0d%0aX:1', '/public/%zz']) {
    it(`rejects ${JSON.stringify(target)} with 400`, async () => {
      const before = backend.count();
      const res = await get(target);
      assert.equal(res.status, 400, res.raw);
      const body = JSON.parse(res.body) as { code: string; status: number; requestId: string; type: string; title: string };
      assert.equal(body.code, 'GW_ERR_PATH_INVALID');
      assert.equal(body.status, 400);
      assert.ok(body.requestId);
      assert.equal(backend.count(), before);
    });
  }

  it('matches an absolute-form target by its path and never uses its host as upstream', async () => {
    const res = await rawRequest(gw.port, 'GET http://localhost/public/x HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n');
    assert.equal(res.status, 200);
    const body = JSON.parse(res.body) as { rawPath: string; headers: Record<string, string> };
    assert.equal(body.rawPath, '/public/x');
    assert.equal(body.headers['host'], new URL(backend.url).host);
  });

  it('refuses a Host that disagrees with the absolute-form target', async () => {
    const before = backend.count();
    const res = await rawRequest(gw.port, 'GET http://evil.example/public/x HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n');
    assert.equal(res.status, 400);
    assert.equal((JSON.parse(res.body) as { code: string }).code, 'GW_ERR_HOST_MISMATCH');
    assert.equal(backend.count(), before);
  });

  it('refuses two Host headers', async () => {
    const before = backend.count();
    const res = await rawRequest(gw.port, 'GET /public/x HTTP/1.1\r\nHost: localhost\r\nHost: evil.example\r\nConnection: close\r\n\r\n');
    assert.equal(res.status, 400);
    assert.equal(backend.count(), before);
  });

  it('refuses two Authorization headers', async () => {
    const before = backend.count();
    const res = await rawRequest(gw.port, 'GET /public/x HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer a\r\nauthorization: Bearer b\r\nConnection: close\r\n\r\n');
    assert.equal(res.status, 400);
    assert.equal((JSON.parse(res.body) as { code: string }).code, 'GW_ERR_HEADER_DUPLICATE');
    assert.equal(backend.count(), before);
  });

  it('answers unparsable requests with problem+json 400 and never forwards them', async () => {
    const before = backend.count();
    const res = await rawRequest(gw.port, 'GET /public/x HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n');
    assert.equal(res.status, 400);
    assert.equal(res.headers['content-type'], 'application/problem+json');
    const noHost = await rawRequest(gw.port, 'GET /public/x HTTP/1.1\r\nConnection: close\r\n\r\n');
    assert.equal(noHost.status, 400);
    assert.equal(backend.count(), before);
  });

  it('refuses CONNECT with a problem+json 405', async () => {
    const res = await rawRequest(gw.port, 'CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n');
    assert.equal(res.status, 405);
    assert.equal(res.headers['content-type'], 'application/problem+json');
  });

  it('answers an oversized head with 431', async () => {
    const res = await rawRequest(gw.port, `GET /public/x HTTP/1.1\r\nHost: localhost\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`);
    assert.equal(res.status, 431);
  });
});

/**
 * Issue 15 item 2: path forms that common backends read as /admin/secret must not reach the public
 * catch-all past a protected /admin prefix.
 */
describe('path forms backends treat as the same path', () => {
  let backend: DemoBackend;
  let strict: TestGateway;
  let loose: TestGateway;
  const config = (paths: string) => `
server: { paths: ${paths} }
jwt: { issuers: [{ name: local, issuer: https://auth.local, algorithms: [HS256], secret: "0123456789abcdef0123456789abcdef" }] }
upstreams:
  backend: { targets: [{ url: ${backend.url} }] }
routes:
  - { name: public, match: { pathPrefix: / }, upstream: backend }
  - { name: admin, match: { pathPrefix: /admin }, upstream: backend, auth: { jwt: required } }
`;
  before(async () => {
    backend = await startDemoBackend();
    strict = await startGateway(config('{}'));
    loose = await startGateway(config('{ matrixParameters: strip, trailingDotOrSpace: allow, caseVariants: route }'));
  });
  after(async () => {
    await strict.close();
    await loose.close();
    await backend.close();
  });
  const get = (gw: TestGateway, target: string) => rawRequest(gw.port, `GET ${target} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n`);

  for (const target of ['/admin;x/secret', '/x/..;/admin/secret', '/ADMIN/secret', '/admin./secret', '/admin%2e/secret', '/admin%20/secret', '/Admin;x/secret']) {
    it(`refuses ${target} by default (400 GW_ERR_PATH_INVALID, never proxied)`, async () => {
      const before = backend.count();
      const res = await get(strict, target);
      assert.equal(res.status, 400, res.raw);
      assert.equal((JSON.parse(res.body) as { code: string }).code, 'GW_ERR_PATH_INVALID');
      assert.equal(backend.count(), before);
    });
  }

  for (const target of ['/admin;x/secret', '/x/..;/admin/secret']) {
    it(`matrixParameters: strip matches ${target} as /admin/secret (the protected route answers)`, async () => {
      const before = backend.count();
      const res = await get(loose, target);
      assert.equal(res.status, 401, res.raw);
      assert.equal(backend.count(), before);
    });
  }

  it('matrixParameters: strip forwards the stripped path', async () => {
    const res = await get(loose, '/files;jsessionid=1/a;v=2?q=1');
    assert.equal(res.status, 200);
    assert.equal((JSON.parse(res.body) as { rawPath: string }).rawPath, '/files/a');
  });

  it('the looser options route by the exact spelling, as Envoy and nginx do', async () => {
    for (const target of ['/ADMIN/secret', '/admin./secret', '/admin%20/secret']) {
      const res = await get(loose, target);
      assert.equal(res.status, 200, `${target}: ${res.raw}`);
    }
  });
});
