/**
 * Header transforms end to end: request and response set/add/remove with templates over real
 * sockets, a client's own copy of a `set` header never getting through, values with CR/LF refused
 * (not set, logged), and the gateway's own headers out of reach (config errors naming the field).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ConfigError } from '../../errors.js';
import { configProblems, startDemoBackend, startGateway, type DemoBackend, type TestGateway } from '../../../test/helpers.js';
import { jose, now } from '../../../test/jwt-fixtures.js';
import { compileTemplate } from './template.js';

const SECRET = 'headers-test-secret-long-enough-for-hs256!';
const key = new TextEncoder().encode(SECRET);
const token = (claims: Record<string, unknown>) => jose('HS256', key, { iss: 'https://auth.local', iat: now(), exp: now() + 300, ...claims });

const yaml = (backend: string) => `
jwt:
  issuers: [{ name: local, issuer: https://auth.local, algorithms: [HS256], secret: ${SECRET} }]
  forwardClaims: { sub: X-User-Id }
upstreams:
  backend: { targets: [{ url: ${backend} }] }
routes:
  - name: users
    match: { path: /users/:id }
    upstream: backend
    auth: { jwt: optional }
    headers:
      request:
        remove: [X-Remove-Me]
        set:
          X-Sub: "\${claims.sub}"
          X-Tenant: "t=\${claims.org.tenant}"
          X-User: "\${params.id}"
          X-Client: "\${clientIp}"
          X-Req: "req-\${requestId}"
          X-Env: "\${env.HDR_ENV}"
          X-Who: "\${consumer}"
        add: { X-Multi: two }
      response:
        remove: [content-type]
        set: { X-Served-By: gateway, X-Sub: "\${claims.sub}" }
        add: { X-Extra: "1" }
`;

interface Echo {
  headers: Record<string, string>;
}

describe('headers policy', () => {
  let backend: DemoBackend;
  let gw: TestGateway;
  before(async () => {
    backend = await startDemoBackend();
    gw = await startGateway(yaml(backend.url), { HDR_ENV: 'from-env' });
  });
  after(async () => {
    await gw?.close();
    await backend?.close();
  });

  it('sets, adds and removes request and response headers with per-request values', async () => {
    const res = await fetch(`${gw.url}/users/42`, {
      headers: { authorization: `Bearer ${await token({ sub: 'alice', org: { tenant: 't1' } })}`, 'x-sub': 'spoofed', 'x-remove-me': 'x', 'x-multi': 'one' },
    });
    assert.equal(res.status, 200);
    const echo = (await res.json()) as Echo;
    const h = echo.headers;
    assert.equal(h['x-sub'], 'alice');
    assert.equal(h['x-tenant'], 't=t1');
    assert.equal(h['x-user'], '42');
    assert.equal(h['x-client'], '127.0.0.1');
    assert.equal(h['x-req'], `req-${res.headers.get('x-request-id')}`);
    assert.equal(h['x-env'], 'from-env');
    assert.equal(h['x-who'], 'alice');
    assert.equal(h['x-remove-me'], undefined);
    assert.equal(h['x-multi'], 'one, two');
    assert.equal(res.headers.get('x-served-by'), 'gateway');
    assert.equal(res.headers.get('x-sub'), 'alice');
    assert.equal(res.headers.get('x-extra'), '1');
    assert.equal(res.headers.get('content-type'), null);
  });

  it("removes the client's copy of a set header when the value is missing (anonymous)", async () => {
    const res = await fetch(`${gw.url}/users/7`, { headers: { 'x-sub': 'spoofed', 'x-tenant': 'spoofed', 'x-who': 'spoofed' } });
    const h = ((await res.json()) as Echo).headers;
    assert.equal(h['x-sub'], undefined);
    assert.equal(h['x-tenant'], undefined);
    assert.equal(h['x-who'], undefined);
    assert.equal(h['x-user'], '7');
    assert.equal(res.headers.get('x-sub'), null);
    assert.equal(res.headers.get('x-served-by'), 'gateway', 'response headers go on every response');
  });

  it('refuses a value with CR/LF (or a character a header cannot carry): not set, logged, the request goes on', async () => {
    for (const sub of ['alice\r\nx-injected: 1', 'nul\u0000', 'smile 😀']) {
      const res = await fetch(`${gw.url}/users/1`, { headers: { authorization: `Bearer ${await token({ sub })}`, 'x-sub': 'spoofed' } });
      assert.equal(res.status, 200);
      const h = ((await res.json()) as Echo).headers;
      assert.equal(h['x-sub'], undefined);
      assert.equal(h['x-injected'], undefined);
      assert.equal(res.headers.get('x-sub'), null);
    }
    const refused = gw.logs.filter((l) => l['event'] === 'headers.value_refused');
    assert.ok(refused.length >= 6, `${refused.length} refusals logged`);
    assert.deepEqual(Object.keys(refused[0]!).filter((k) => k === 'header' || k === 'variable'), ['header', 'variable']);
    assert.ok(!JSON.stringify(refused).includes('x-injected'), 'the value itself is not logged');
  });

  it('leaves a route without the policy alone', async () => {
    // The same gateway: a request no route matches gets no response transform.
    const res = await fetch(`${gw.url}/nope`);
    assert.equal(res.status, 404);
    assert.equal(res.headers.get('x-served-by'), null);
  });
});

describe('headers config', () => {
  const base = (headers: string, top = '', path = '/users/:id') => `
${top}
upstreams: { b: { targets: [{ url: "http://127.0.0.1:1" }] } }
routes:
  - name: r
    match: { path: "${path}" }
    upstream: b
    headers: ${headers}
`;

  it("refuses hop-by-hop, framing and the gateway's own headers, naming the field", () => {
    const p = configProblems(
      base('{ request: { set: { Connection: close, X-Forwarded-For: x, Host: h, x-request-id: r }, remove: [Transfer-Encoding, Proxy-Authorization, Forwarded, Content-Length, X-User-Id] }, response: { set: { Content-Length: "1", RateLimit: x }, remove: [Keep-Alive] } }', 'jwt: { issuers: [{ name: l, issuer: i, algorithms: [HS256], secret: "0123456789abcdef0123456789abcdef" }], forwardClaims: { sub: X-User-Id } }'),
    );
    const expected = [
      'routes[0].headers.request.remove[0]: cannot change Transfer-Encoding is a hop-by-hop header (RFC 9110 §7.6.1)',
      'routes[0].headers.request.remove[1]: cannot change Proxy-Authorization is a hop-by-hop header (RFC 9110 §7.6.1)',
      'routes[0].headers.request.remove[2]: cannot change Forwarded is set by the gateway itself',
      'routes[0].headers.request.remove[3]: cannot change Content-Length is set by the gateway itself',
      'routes[0].headers.request.remove[4]: cannot change X-User-Id carries a verified JWT claim (jwt.forwardClaims); change forwardClaims instead',
      'routes[0].headers.request.set.Connection: cannot change Connection is a hop-by-hop header (RFC 9110 §7.6.1)',
      'routes[0].headers.request.set.X-Forwarded-For: cannot change X-Forwarded-For is set by the gateway itself',
      'routes[0].headers.request.set.Host: cannot change Host is set by the gateway itself',
      'routes[0].headers.request.set.x-request-id: cannot change x-request-id is set by the gateway itself',
      'routes[0].headers.response.remove[0]: cannot change Keep-Alive is a hop-by-hop header (RFC 9110 §7.6.1)',
      'routes[0].headers.response.set.Content-Length: cannot change Content-Length is set by the gateway itself',
      'routes[0].headers.response.set.RateLimit: cannot change RateLimit is set by the gateway itself',
    ];
    assert.deepEqual(p, expected);
  });

  it('refuses unknown variables, params the route lacks and literal CR/LF', () => {
    const p = configProblems(base('{ request: { set: { X-A: "${nope.x}", X-B: "${params.name}", X-C: "${claims.}" }, add: { X-D: "a\\r\\nb" } } }'));
    assert.equal(p.length, 4, p.join('\n'));
    assert.match(p[0]!, /^routes\[0\]\.headers\.request\.set\.X-A: unknown variable \$\{nope\.x\}/);
    assert.match(p[1]!, /^routes\[0\]\.headers\.request\.set\.X-B: \$\{params\.name\}: the route has no :name parameter \(it has :id\)/);
    assert.match(p[2]!, /^routes\[0\]\.headers\.request\.set\.X-C: unknown variable/);
    assert.match(p[3]!, /^routes\[0\]\.headers\.request\.add\.X-D: the value holds a character/);
  });

  it('checks defaults.headers against every route that inherits it', () => {
    const p = configProblems(`
defaults: { headers: { request: { set: { X-Id: "\${params.id}", Connection: x } } } }
upstreams: { b: { targets: [{ url: "http://127.0.0.1:1" }] } }
routes:
  - { name: a, match: { path: "/a/:id" }, upstream: b }
  - { name: b, match: { path: /b }, upstream: b }
`);
    assert.deepEqual(p, [
      'defaults.headers.request.set.Connection: cannot change Connection is a hop-by-hop header (RFC 9110 §7.6.1)',
      'defaults.headers.request.set.X-Id: ${params.id}: the route has no :id parameter in routes[1] (b), which inherits it',
    ]);
  });

  it('refuses an environment variable that is not set when the gateway compiles the config', async () => {
    await assert.rejects(startGateway(base('{ request: { set: { X-E: "${env.HEADERS_TEST_UNSET}" } } }')), (err: unknown) => {
      assert.ok(err instanceof ConfigError);
      assert.deepEqual(err.problems, ['routes[0].headers.request.set.X-E: ${env.HEADERS_TEST_UNSET}: environment variable HEADERS_TEST_UNSET is not set']);
      return true;
    });
  });

  it('compiles templates into parts once', () => {
    const c = compileTemplate('Bearer ${claims.sub} (${clientIp})', { paramNames: [], env: {} });
    assert.ok(Array.isArray(c.template));
    assert.equal(c.template.length, 5);
    assert.equal(compileTemplate('plain ${env.X}', { paramNames: [], env: { X: 'y' } }).template, 'plain y');
  });
});
