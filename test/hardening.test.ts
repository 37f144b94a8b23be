/**
 * Issue 15 (adversarial review): each describe is one item, black-box over real sockets against a
 * real gateway and the demo backend.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { rawRequest, startDemoBackend, startGateway, type DemoBackend, type TestGateway } from './helpers.js';
import { SECRET, hmacKey, jose, now } from './jwt-fixtures.js';

const LOCAL = 'https://auth.local';
const claims = (extra: Record<string, unknown> = {}) => ({ iss: LOCAL, aud: 'api', sub: 'alice', iat: now(), exp: now() + 300, ...extra });

const jwtBlock = `
jwt:
  issuers:
    - { name: local, issuer: ${LOCAL}, audiences: [api], algorithms: [HS256], secret: "\${JWT_SECRET}" }
    - { name: other, issuer: https://other.example, audiences: [api], algorithms: [HS256], secret: "\${JWT_SECRET}-other" }
  forwardClaims: { sub: X-User-Id, scope: X-User-Scopes, tenant: X-Tenant }
`;

interface Echo {
  headers: Record<string, string>;
  rawPath: string;
}

describe('15.3 malformed Authorization on JWT routes', () => {
  let backend: DemoBackend;
  let gw: TestGateway;
  before(async () => {
    backend = await startDemoBackend();
    gw = await startGateway(
      `${jwtBlock}
upstreams:
  backend: { targets: [{ url: ${backend.url} }] }
routes:
  - { name: optional, match: { pathPrefix: /optional }, upstream: backend, auth: { jwt: optional } }
  - { name: basic-ok, match: { pathPrefix: /legacy }, upstream: backend, auth: { jwt: optional, otherSchemes: forward } }
  - { name: required, match: { pathPrefix: / }, upstream: backend, auth: { jwt: required } }
`,
      { JWT_SECRET: SECRET },
    );
  });
  after(async () => {
    await gw?.close();
    await backend?.close();
  });

  /** Raw bytes, so TAB and NBSP reach the gateway exactly as a hostile client sends them. */
  const send = (path: string, authorization: string) =>
    rawRequest(gw.port, Buffer.from(`GET ${path} HTTP/1.1\r\nHost: x\r\nAuthorization: ${authorization}\r\nConnection: close\r\n\r\n`, 'latin1'));

  it('Bearer<TAB>, Bearer<NBSP>, Bearer,token and an empty Bearer are 401 invalid_token on optional and required routes; the backend sees nothing', async () => {
    const forged = await jose('HS256', new TextEncoder().encode('not-the-secret-not-the-secret-xx'), claims({ sub: 'admin' }));
    for (const path of ['/optional/x', '/x']) {
      for (const value of [`Bearer\t${forged}`, `Bearer\u00a0${forged}`, `Bearer,${forged}`, `,Bearer ${forged}`, `Bearer`]) {
        const before = backend.count();
        const res = await send(path, value);
        assert.equal(res.status, 401, `${path} ${JSON.stringify(value.slice(0, 8))}: ${res.raw.slice(0, 200)}`);
        assert.equal((JSON.parse(res.body) as { code: string }).code, 'GW_ERR_AUTH_INVALID');
        assert.match(res.headers['www-authenticate'] ?? '', /^Bearer realm="gateway", error="invalid_token"/);
        assert.equal(backend.count(), before, 'a refused request never reaches the backend');
      }
    }
  });

  it('another scheme on an optional route is a 401 challenge (RFC 6750 §3.1), unless the route forwards other schemes', async () => {
    const before = backend.count();
    const res = await send('/optional/x', 'Basic YWRtaW46eA==');
    assert.equal(res.status, 401);
    assert.equal(res.headers['www-authenticate'], 'Bearer realm="gateway"');
    assert.equal(backend.count(), before);
    const fwd = await send('/legacy/x', 'Basic YWRtaW46eA==');
    assert.equal(fwd.status, 200);
    assert.equal((JSON.parse(fwd.body) as Echo).headers['authorization'], 'Basic YWRtaW46eA==');
    const bad = await send('/legacy/x', 'Bearer\tabc');
    assert.equal(bad.status, 401, 'a malformed Bearer is refused even where other schemes are forwarded');
  });

  it('an anonymous request on an optional route carries no Authorization upstream; a valid token still passes', async () => {
    const anon = await fetch(`${gw.url}/optional/x`);
    assert.equal(anon.status, 200);
    assert.equal(((await anon.json()) as Echo).headers['authorization'], undefined);
    const ok = await send('/optional/x', `Bearer ${await jose('HS256', hmacKey, claims())}`);
    assert.equal(ok.status, 200);
    assert.equal((JSON.parse(ok.body) as Echo).headers['x-user-id'], 'alice');
  });
});
