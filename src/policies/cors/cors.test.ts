/**
 * CORS end to end over real sockets: preflights answered with 204 before JWT auth (even on a route
 * that does not list OPTIONS), Vary: Origin on every response, no CORS headers for an origin that is
 * not allowed, wildcard subdomains, an upstream's own CORS fields replaced, the top-level form for
 * requests no route matches, and config errors with field paths.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { configProblems, startDemoBackend, startGateway, type DemoBackend, type TestGateway } from '../../../test/helpers.js';
import { compileOrigins, originAllowed, originProblem, varyWithOrigin } from './origins.js';

const SECRET = 'cors-test-secret-that-is-long-enough-for-hs256';

const yaml = (backend: string, vary: string) => `
jwt:
  issuers: [{ name: local, issuer: https://auth.local, algorithms: [HS256], secret: ${SECRET} }]
upstreams:
  backend: { targets: [{ url: ${backend} }] }
  vary: { targets: [{ url: ${vary} }] }
routes:
  - name: app
    match: { pathPrefix: /app, methods: [GET, POST] }
    upstream: backend
    auth: { jwt: required }
    rateLimit: [{ key: ip, limit: 1000, window: 1m }]
    cors:
      origins: [https://app.example.com, "https://*.example.org"]
      credentials: true
      maxAge: 10m
      headers: [Authorization, Content-Type]
      exposedHeaders: [X-Total, RateLimit]
  - name: open
    match: { pathPrefix: /open }
    upstream: vary
    cors: { origins: ["*"] }
  - name: plain
    match: { pathPrefix: /plain, methods: [GET] }
    upstream: backend
    auth: { jwt: required }
`;

function preflight(origin: string, method = 'GET', headers: Record<string, string> = {}): Record<string, string> {
  return { origin, 'access-control-request-method': method, ...headers };
}

function corsFields(res: Response): string[] {
  return [...res.headers.keys()].filter((k) => k.startsWith('access-control-'));
}

describe('cors policy', () => {
  let backend: DemoBackend;
  let varyServer: http.Server;
  let gw: TestGateway;

  before(async () => {
    backend = await startDemoBackend();
    // An upstream with its own Vary and a permissive CORS field of its own.
    varyServer = http.createServer((req, res) => {
      req.resume();
      res.writeHead(200, { 'content-type': 'text/plain', vary: 'Accept-Encoding', 'access-control-allow-origin': 'https://upstream.example', 'access-control-allow-credentials': 'true' });
      res.end('ok');
    });
    await new Promise<void>((r) => varyServer.listen(0, '127.0.0.1', r));
    const varyUrl = `http://127.0.0.1:${(varyServer.address() as AddressInfo).port}`;
    gw = await startGateway(yaml(backend.url, varyUrl));
  });
  after(async () => {
    await gw?.close();
    await backend?.close();
    await new Promise((r) => varyServer?.close(r));
  });

  it('answers a preflight with 204 before JWT auth, on a route that does not list OPTIONS, without reaching the upstream', async () => {
    const before = backend.count();
    const res = await fetch(`${gw.url}/app/orders`, { method: 'OPTIONS', headers: preflight('https://app.example.com', 'POST', { 'access-control-request-headers': 'authorization' }) });
    assert.equal(res.status, 204);
    assert.equal(res.headers.get('access-control-allow-origin'), 'https://app.example.com');
    assert.equal(res.headers.get('access-control-allow-credentials'), 'true');
    assert.equal(res.headers.get('access-control-allow-methods'), 'GET, HEAD, POST, PUT, PATCH, DELETE');
    assert.equal(res.headers.get('access-control-allow-headers'), 'Authorization, Content-Type');
    assert.equal(res.headers.get('access-control-max-age'), '600');
    assert.equal(res.headers.get('access-control-expose-headers'), null);
    assert.equal(res.headers.get('vary'), 'Origin');
    assert.equal(res.headers.get('ratelimit'), null, 'answered before the rate limiter');
    assert.equal(backend.count(), before);
  });

  it('answers a preflight from an origin that is not allowed with a bare 204 (no CORS headers)', async () => {
    for (const origin of ['https://evil.example.com', 'https://example.org', 'http://a.example.org', 'https://a.example.org.evil.com', 'https://app.example.com:8443', 'null']) {
      const res = await fetch(`${gw.url}/app/orders`, { method: 'OPTIONS', headers: preflight(origin) });
      assert.equal(res.status, 204, origin);
      assert.deepEqual(corsFields(res), [], origin);
      assert.equal(res.headers.get('vary'), 'Origin');
    }
  });

  it('allows wildcard subdomains, one label or more', async () => {
    for (const origin of ['https://a.example.org', 'https://a.b.example.org']) {
      const res = await fetch(`${gw.url}/app/orders`, { method: 'OPTIONS', headers: preflight(origin) });
      assert.equal(res.headers.get('access-control-allow-origin'), origin);
    }
  });

  it('adds CORS headers and Vary: Origin to refusals too, so the page can read the 401', async () => {
    const res = await fetch(`${gw.url}/app/orders`, { headers: { origin: 'https://app.example.com' } });
    assert.equal(res.status, 401);
    assert.equal(res.headers.get('access-control-allow-origin'), 'https://app.example.com');
    assert.equal(res.headers.get('access-control-allow-credentials'), 'true');
    assert.equal(res.headers.get('access-control-expose-headers'), 'X-Total, RateLimit');
    assert.equal(res.headers.get('vary'), 'Origin');
  });

  it('sends Vary: Origin and no CORS fields to a request without Origin or from another origin', async () => {
    for (const headers of [{}, { origin: 'https://evil.example.com' }] as Record<string, string>[]) {
      const res = await fetch(`${gw.url}/app/orders`, { headers });
      assert.equal(res.status, 401);
      assert.deepEqual(corsFields(res), []);
      assert.equal(res.headers.get('vary'), 'Origin');
    }
  });

  it('with "*": Access-Control-Allow-Origin: *, the asked-for headers allowed, the upstream\'s own CORS fields replaced, its Vary kept', async () => {
    const pre = await fetch(`${gw.url}/open/x`, { method: 'OPTIONS', headers: preflight('https://anyone.test', 'PUT', { 'access-control-request-headers': 'x-custom, content-type' }) });
    assert.equal(pre.status, 204);
    assert.equal(pre.headers.get('access-control-allow-origin'), '*');
    assert.equal(pre.headers.get('access-control-allow-headers'), 'x-custom, content-type');
    assert.equal(pre.headers.get('access-control-allow-credentials'), null);

    const res = await fetch(`${gw.url}/open/x`, { headers: { origin: 'https://anyone.test' } });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('access-control-allow-origin'), '*');
    assert.equal(res.headers.get('access-control-allow-credentials'), null, "the upstream's credentials field is gone");
    assert.equal(res.headers.get('vary'), 'Accept-Encoding, Origin');

    const none = await fetch(`${gw.url}/open/x`);
    assert.deepEqual(corsFields(none), [], "the upstream's CORS fields are removed when the request is not CORS");
  });

  it('keeps 405 for a preflight to a route without cors', async () => {
    const res = await fetch(`${gw.url}/plain/x`, { method: 'OPTIONS', headers: preflight('https://app.example.com') });
    assert.equal(res.status, 405);
    assert.equal(res.headers.get('allow'), 'GET, HEAD');
    assert.deepEqual(corsFields(res), []);
  });

  it('keeps 405 for a preflight asking for a method the cors route does not take', async () => {
    const res = await fetch(`${gw.url}/app/x`, { method: 'OPTIONS', headers: preflight('https://app.example.com', 'DELETE') });
    assert.equal(res.status, 405);
  });
});

describe('top-level cors', () => {
  let backend: DemoBackend;
  let gw: TestGateway;
  before(async () => {
    backend = await startDemoBackend();
    gw = await startGateway(`
cors: { origins: [https://app.example.com], exposedHeaders: [X-Request-Id] }
upstreams:
  backend: { targets: [{ url: ${backend.url} }] }
routes:
  - { name: api, match: { pathPrefix: /api, methods: [GET] }, upstream: backend }
`);
  });
  after(async () => {
    await gw?.close();
    await backend?.close();
  });

  it('answers preflights for any path before routing, and decorates responses no route matches', async () => {
    const pre = await fetch(`${gw.url}/nowhere`, { method: 'OPTIONS', headers: preflight('https://app.example.com', 'DELETE') });
    assert.equal(pre.status, 204);
    assert.equal(pre.headers.get('access-control-allow-origin'), 'https://app.example.com');
    const missing = await fetch(`${gw.url}/nowhere`, { headers: { origin: 'https://app.example.com' } });
    assert.equal(missing.status, 404);
    assert.equal(missing.headers.get('access-control-allow-origin'), 'https://app.example.com');
    assert.equal(missing.headers.get('access-control-expose-headers'), 'X-Request-Id');
    const ok = await fetch(`${gw.url}/api/x`, { headers: { origin: 'https://app.example.com' } });
    assert.equal(ok.status, 200);
    assert.equal(ok.headers.get('access-control-allow-origin'), 'https://app.example.com');
    assert.equal(ok.headers.get('vary'), 'Origin');
  });
});

describe('cors config', () => {
  const base = (top: string, route: string) => `
${top}
upstreams: { b: { targets: [{ url: "http://127.0.0.1:1" }] } }
routes:
  - name: r
    match: { pathPrefix: / }
    upstream: b
${route}`;

  it('refuses "*" with credentials, naming the field', () => {
    assert.deepEqual(configProblems(base('', '    cors: { origins: ["*"], credentials: true }')), [
      'routes[0].cors.origins[0]: "*" cannot be combined with credentials: true (browsers refuse it); list the origins instead',
    ]);
    assert.match(configProblems(base('cors: { origins: ["*"], credentials: true }', ''))[0]!, /^cors\.origins\[0\]: "\*" cannot be combined/);
    assert.match(configProblems(base('defaults: { cors: { origins: ["*"], credentials: true } }', ''))[0]!, /^defaults\.cors\.origins\[0\]/);
  });

  it('refuses malformed origins and a top-level cors next to route-level ones', () => {
    const p = configProblems(base('', '    cors: { origins: ["https://app.example.com/", "app.example.com", "https://x.example.com:443"], maxAge: 1500ms }'));
    assert.equal(p.length, 4, p.join('\n'));
    assert.match(p[0]!, /^routes\[0\]\.cors\.origins\[0\]: expected an origin/);
    assert.match(p[1]!, /^routes\[0\]\.cors\.origins\[1\]: expected an origin/);
    assert.match(p[2]!, /^routes\[0\]\.cors\.origins\[2\]: browsers send https:\/\/… without :443/);
    assert.match(p[3]!, /^routes\[0\]\.cors\.maxAge: whole seconds/);
    assert.match(configProblems(base('cors: { origins: [https://a.example] }', '    cors: { origins: [https://a.example] }'))[0]!, /^routes\[0\]\.cors: the top-level cors already answers/);
  });
});

describe('cors helpers', () => {
  it('matches origins without regex', () => {
    const rules = compileOrigins(['https://App.example.com', 'https://*.example.org:8443', 'null']);
    assert.ok(originAllowed(rules, 'https://app.example.com'));
    assert.ok(originAllowed(rules, 'https://a.example.org:8443'));
    assert.ok(!originAllowed(rules, 'https://a.example.org'));
    assert.ok(!originAllowed(rules, 'https://.example.org:8443'));
    assert.ok(!originAllowed(rules, 'https://a..b.example.org:8443'));
    assert.ok(!originAllowed(rules, 'https://a/b.example.org:8443'));
    assert.ok(originAllowed(rules, 'null'));
    assert.equal(originProblem('https://[::1]:8080'), undefined);
  });

  it('merges Vary', () => {
    assert.equal(varyWithOrigin(undefined), 'Origin');
    assert.equal(varyWithOrigin('accept-encoding'), 'accept-encoding, Origin');
    assert.equal(varyWithOrigin('Accept, ORIGIN'), 'Accept, ORIGIN');
    assert.equal(varyWithOrigin('*'), '*');
    assert.deepEqual(varyWithOrigin(['Accept', 'Cookie']), ['Accept', 'Cookie', 'Origin']);
  });
});
