import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { UnsecuredJWT } from 'jose';
import { rawRequest, startDemoBackend, startGateway, type DemoBackend, type TestGateway } from './helpers.js';
import { SECRET, handmade, hmacKey, jose, jwks, keyPair, now, opensslRs256, tmp } from './jwt-fixtures.js';

const rsa = keyPair('rsa');
const ec = keyPair('ec');
const ed = keyPair('ed25519');
const otherRsa = keyPair('rsa');
const dir = tmp();
const rsaPem = rsa.publicKey.export({ type: 'spki', format: 'pem' }).toString();
writeFileSync(join(dir, 'rsa.pem'), rsaPem);
writeFileSync(join(dir, 'jwks.json'), JSON.stringify(jwks({ key: ec.publicKey, kid: 'ec-1', alg: 'ES256' }, { key: ed.publicKey, kid: 'ed-1', alg: 'EdDSA' })));

const LOCAL = 'https://auth.local';
const RSA_ISS = 'https://rsa.example.com/';
const EC_ISS = 'https://ec.example.com';
const base = (extra: Record<string, unknown> = {}) => ({ iss: LOCAL, aud: 'orders-api', sub: 'alice', iat: now(), exp: now() + 300, ...extra });

const yaml = (backendUrl: string) => `
logging: { level: debug }
jwt:
  clockTolerance: 30s
  maxTokenSize: 4kb
  issuers:
    - name: local
      issuer: ${LOCAL}
      audiences: [orders-api]
      algorithms: [HS256]
      secret: \${JWT_SECRET}
    - name: rsa
      issuer: ${RSA_ISS}
      audiences: [orders-api]
      algorithms: [RS256, PS256]
      publicKeyFile: ${join(dir, 'rsa.pem')}
    - name: ec
      issuer: ${EC_ISS}
      audiences: [orders-api, other-api]
      algorithms: [ES256, EdDSA]
      jwksFile: ${join(dir, 'jwks.json')}
  forwardClaims: { sub: X-User-Id, scope: X-User-Scopes, tenant: X-Tenant }
upstreams:
  backend: { targets: [{ url: ${backendUrl} }] }
routes:
  - name: open
    match: { pathPrefix: /open }
    upstream: backend
    auth: none
  - name: scoped
    match: { pathPrefix: /scoped }
    upstream: backend
    auth: { jwt: required, scopes: [orders:read, orders:write] }
  - name: rsa-only
    match: { pathPrefix: /rsa-only }
    upstream: backend
    auth: { jwt: required, issuers: [rsa] }
  - name: optional
    match: { pathPrefix: /optional }
    upstream: backend
    auth: { jwt: optional }
  - name: protected
    match: { pathPrefix: / }
    upstream: backend
    auth: { jwt: required }
`;

interface Echo {
  path: string;
  headers: Record<string, string>;
}

describe('JWT authentication', () => {
  let backend: DemoBackend;
  let gw: TestGateway;
  before(async () => {
    backend = await startDemoBackend();
    gw = await startGateway(yaml(backend.url), { JWT_SECRET: SECRET });
  });
  after(async () => {
    await gw.close();
    await backend.close();
  });

  const call = (path: string, token?: string, headers: Record<string, string> = {}) =>
    fetch(`${gw.url}${path}`, { headers: { ...(token !== undefined ? { authorization: `Bearer ${token}` } : {}), ...headers } });

  async function accepted(path: string, token: string, headers: Record<string, string> = {}): Promise<Echo> {
    const before = backend.count();
    const res = await call(path, token, headers);
    const text = await res.text();
    assert.equal(res.status, 200, text);
    assert.equal(backend.count(), before + 1);
    return JSON.parse(text) as Echo;
  }

  /** A refusal: the status, the challenge, the stable code; the backend never saw it; the token is nowhere in the reply or the logs. */
  async function refused(path: string, token: string | undefined, status: number, code: string, error: string | undefined, headers: Record<string, string> = {}) {
    const before = backend.count();
    const res = await call(path, token, headers);
    const text = await res.text();
    assert.equal(res.status, status, text);
    const body = JSON.parse(text) as { code: string; detail: string; requestId: string };
    assert.equal(body.code, code);
    assert.equal(backend.count(), before, 'the upstream must not see a refused request');
    const challenge = res.headers.get('www-authenticate') ?? '';
    assert.match(challenge, /^Bearer realm="gateway"/);
    if (error === undefined) assert.doesNotMatch(challenge, /error=/);
    else assert.match(challenge, new RegExp(`error="${error}", error_description="[^"]+"`));
    if (token) {
      // The body's requestId is a random UUID: a short malformed token ('abc') can occur in it by chance.
      const reply = text.replace(body.requestId, '');
      assert.ok(!reply.includes(token) && !challenge.includes(token), 'token echoed in the reply');
      // A one-letter "signature" ('a.b.c') is in any access line; only a real secret part proves a leak.
      const secret = token.split('.')[2] || token;
      if (secret.length >= 8) assert.ok(!JSON.stringify(gw.logs).includes(secret), 'token written to the logs');
      assert.ok(!gw.logs.some((l) => typeof l['authorization'] === 'string' || JSON.stringify(l).includes(`Bearer ${token}`)), 'token written to the logs');
    }
    return { res, body, challenge };
  }

  describe('accepts', () => {
    it('HS256 from jose, forwarding claims as headers', async () => {
      const echo = await accepted('/x', await jose('HS256', hmacKey, base({ scope: 'a b', tenant: 't-1' })));
      assert.equal(echo.headers['x-user-id'], 'alice');
      assert.equal(echo.headers['x-user-scopes'], 'a b');
      assert.equal(echo.headers['x-tenant'], 't-1');
      assert.ok(echo.headers['authorization']?.startsWith('Bearer '), 'Authorization is forwarded unless stripAuthorization');
    });

    it('RS256 and PS256 from jose against a PEM public key', async () => {
      await accepted('/x', await jose('RS256', rsa.privateKey, base({ iss: RSA_ISS })));
      await accepted('/x', await jose('PS256', rsa.privateKey, base({ iss: RSA_ISS })));
    });

    it('RS256 signed by the openssl CLI', async () => {
      const pem = rsa.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
      await accepted('/x', opensslRs256(pem, { alg: 'RS256', typ: 'JWT' }, base({ iss: RSA_ISS })));
    });

    it('ES256 and EdDSA from jose against a JWKS file, by kid', async () => {
      await accepted('/x', await jose('ES256', ec.privateKey, base({ iss: EC_ISS }), { kid: 'ec-1' }));
      await accepted('/x', await jose('EdDSA', ed.privateKey, base({ iss: EC_ISS }), { kid: 'ed-1' }));
    });

    it('aud as an array containing an accepted audience', async () => {
      await accepted('/x', await jose('HS256', hmacKey, base({ aud: ['nope', 'orders-api'] })));
    });

    it('the Bearer scheme in any case, and times within the clock tolerance', async () => {
      const token = await jose('HS256', hmacKey, base({ exp: now() - 10, nbf: now() + 10, iat: now() + 10 }));
      const before = backend.count();
      const res = await fetch(`${gw.url}/x`, { headers: { authorization: `bEaReR ${token}` } });
      assert.equal(res.status, 200);
      assert.equal(backend.count(), before + 1);
    });

    it('all required scopes, from scope (space separated) or scp (array)', async () => {
      await accepted('/scoped', await jose('HS256', hmacKey, base({ scope: 'orders:write x orders:read' })));
      await accepted('/scoped', await jose('HS256', hmacKey, base({ scp: ['orders:read', 'orders:write'] })));
    });

    it('a repeated token (cache hit) with the same result', async () => {
      const token = await jose('HS256', hmacKey, base({ sub: 'cached' }));
      for (let i = 0; i < 3; i++) assert.equal((await accepted('/x', token)).headers['x-user-id'], 'cached');
    });

    it('optional routes pass anonymous requests, without identity headers', async () => {
      const echo = await accepted('/optional', undefined as unknown as string, { 'x-user-id': 'mallory' });
      assert.equal(echo.headers['x-user-id'], undefined);
    });
  });

  describe('refuses with 401 and never calls the backend', () => {
    it('no token: a challenge without error attributes', async () => {
      await refused('/x', undefined, 401, 'GW_ERR_AUTH_MISSING', undefined);
      await refused('/x', undefined, 401, 'GW_ERR_AUTH_MISSING', undefined, { authorization: 'Basic YTpi' });
    });

    it('alg none in any casing (jose and hand-made)', async () => {
      const claims = base();
      await refused('/x', new UnsecuredJWT(claims).encode(), 401, 'GW_ERR_AUTH_INVALID', 'invalid_token');
      for (const alg of ['none', 'None', 'NONE', 'nOnE']) {
        await refused('/x', handmade({ alg, typ: 'JWT' }, claims, undefined), 401, 'GW_ERR_AUTH_INVALID', 'invalid_token');
        await refused('/x', handmade({ alg, typ: 'JWT' }, claims), 401, 'GW_ERR_AUTH_INVALID', 'invalid_token');
      }
    });

    it('an algorithm the issuer does not allow', async () => {
      await refused('/x', await jose('HS384', new TextEncoder().encode(SECRET + SECRET), base()), 401, 'GW_ERR_AUTH_INVALID', 'invalid_token');
      await refused('/x', await jose('RS384', rsa.privateKey, base({ iss: RSA_ISS })), 401, 'GW_ERR_AUTH_INVALID', 'invalid_token');
    });

    it('key confusion: HS256 signed with the RSA public key as the secret', async () => {
      const token = handmade({ alg: 'HS256', typ: 'JWT' }, base({ iss: RSA_ISS }), rsaPem);
      await refused('/x', token, 401, 'GW_ERR_AUTH_INVALID', 'invalid_token');
      const der = rsa.publicKey.export({ type: 'spki', format: 'der' });
      await refused('/x', handmade({ alg: 'HS256' }, base({ iss: RSA_ISS }), der.toString('latin1')), 401, 'GW_ERR_AUTH_INVALID', 'invalid_token');
    });

    it('embedded jwk, jku, x5u and x5c headers, even with a valid signature', async () => {
      const jwk = otherRsa.publicKey.export({ format: 'jwk' });
      await refused('/x', await jose('RS256', otherRsa.privateKey, base({ iss: RSA_ISS }), { jwk: jwk as never }), 401, 'GW_ERR_AUTH_INVALID', 'invalid_token');
      await refused('/x', await jose('RS256', rsa.privateKey, base({ iss: RSA_ISS }), { jwk: rsa.publicKey.export({ format: 'jwk' }) as never }), 401, 'GW_ERR_AUTH_INVALID', 'invalid_token');
      for (const h of [{ jku: 'https://evil.example/jwks' }, { x5u: 'https://evil.example/cert' }, { x5c: ['MIIB'] }]) {
        await refused('/x', handmade({ alg: 'HS256', ...h }, base()), 401, 'GW_ERR_AUTH_INVALID', 'invalid_token');
      }
    });

    it('an unknown crit extension', async () => {
      await refused('/x', handmade({ alg: 'HS256', crit: ['exp-ext'], 'exp-ext': 1 }, base()), 401, 'GW_ERR_AUTH_INVALID', 'invalid_token');
      await refused('/x', handmade({ alg: 'HS256', crit: [] }, base()), 401, 'GW_ERR_AUTH_INVALID', 'invalid_token');
    });

    it('expired (past the tolerance), with its own code', async () => {
      const { challenge } = await refused('/x', await jose('HS256', hmacKey, base({ exp: now() - 60 })), 401, 'GW_ERR_AUTH_EXPIRED', 'invalid_token');
      assert.match(challenge, /expired/);
    });

    it('without exp (required by default)', async () => {
      const { exp: _exp, ...claims } = base();
      await refused('/x', await jose('HS256', hmacKey, claims), 401, 'GW_ERR_AUTH_INVALID', 'invalid_token');
    });

    it('nbf or iat in the future (past the tolerance)', async () => {
      await refused('/x', await jose('HS256', hmacKey, base({ nbf: now() + 120 })), 401, 'GW_ERR_AUTH_INVALID', 'invalid_token');
      await refused('/x', await jose('HS256', hmacKey, base({ iat: now() + 120 })), 401, 'GW_ERR_AUTH_INVALID', 'invalid_token');
    });

    it('a wrong or missing audience', async () => {
      await refused('/x', await jose('HS256', hmacKey, base({ aud: 'billing-api' })), 401, 'GW_ERR_AUTH_INVALID', 'invalid_token');
      await refused('/x', await jose('HS256', hmacKey, base({ aud: ['a', 'b'] })), 401, 'GW_ERR_AUTH_INVALID', 'invalid_token');
      const { aud: _aud, ...claims } = base();
      await refused('/x', await jose('HS256', hmacKey, claims), 401, 'GW_ERR_AUTH_INVALID', 'invalid_token');
    });

    it('an unknown or missing issuer', async () => {
      await refused('/x', await jose('HS256', hmacKey, base({ iss: 'https://evil.example' })), 401, 'GW_ERR_AUTH_INVALID', 'invalid_token');
      const { iss: _iss, ...claims } = base();
      await refused('/x', await jose('HS256', hmacKey, claims), 401, 'GW_ERR_AUTH_INVALID', 'invalid_token');
    });

    it('a bad signature (tampered payload, wrong secret, wrong RSA key)', async () => {
      const good = await jose('HS256', hmacKey, base());
      const [h, , s] = good.split('.');
      await refused('/x', `${h}.${Buffer.from(JSON.stringify(base({ sub: 'admin' }))).toString('base64url')}.${s}`, 401, 'GW_ERR_AUTH_INVALID', 'invalid_token');
      await refused('/x', handmade({ alg: 'HS256' }, base(), 'another-secret-of-sufficient-length-000'), 401, 'GW_ERR_AUTH_INVALID', 'invalid_token');
      await refused('/x', await jose('RS256', otherRsa.privateKey, base({ iss: RSA_ISS })), 401, 'GW_ERR_AUTH_INVALID', 'invalid_token');
    });

    it('an unknown kid in a JWKS file', async () => {
      await refused('/x', await jose('ES256', ec.privateKey, base({ iss: EC_ISS }), { kid: 'nope' }), 401, 'GW_ERR_AUTH_INVALID', 'invalid_token');
    });

    it('malformed tokens and an empty Bearer', async () => {
      for (const t of ['abc', 'a.b.c', 'e30.e30', '!!.??.**', `${Buffer.from('{"alg":"HS256"}').toString('base64')}==.e30.x`]) {
        await refused('/x', t, 401, 'GW_ERR_AUTH_INVALID', 'invalid_token');
      }
      await refused('/x', undefined, 401, 'GW_ERR_AUTH_INVALID', 'invalid_token', { authorization: 'Bearer' });
    });

    it('a token over the size cap, before parsing', async () => {
      const big = await jose('HS256', hmacKey, base({ pad: 'x'.repeat(5000) }));
      const { body } = await refused('/x', big, 401, 'GW_ERR_AUTH_INVALID', 'invalid_token');
      assert.match(body.detail, /too large/);
    });

    it('a valid token from an issuer this route does not accept (also from the cache)', async () => {
      const token = await jose('HS256', hmacKey, base());
      await accepted('/x', token);
      await refused('/rsa-only', token, 401, 'GW_ERR_AUTH_INVALID', 'invalid_token');
      await accepted('/rsa-only', await jose('RS256', rsa.privateKey, base({ iss: RSA_ISS })));
    });

    it('an invalid token on an optional route', async () => {
      await refused('/optional', handmade({ alg: 'none' }, base(), undefined), 401, 'GW_ERR_AUTH_INVALID', 'invalid_token');
    });

    it('more than one Authorization header: 400', async () => {
      const token = await jose('HS256', hmacKey, base());
      const before = backend.count();
      const res = await rawRequest(gw.port, `GET /x HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer ${token}\r\nAuthorization: Bearer ${token}\r\n\r\n`);
      assert.equal(res.status, 400);
      assert.equal(backend.count(), before);
    });
  });

  describe('scopes', () => {
    it('a missing scope: 403 insufficient_scope naming the scopes (also from the cache)', async () => {
      const token = await jose('HS256', hmacKey, base({ scope: 'orders:read' }));
      await accepted('/x', token);
      const { challenge } = await refused('/scoped', token, 403, 'GW_ERR_AUTH_SCOPE', 'insufficient_scope');
      assert.match(challenge, /scope="orders:read orders:write"/);
    });
  });

  describe('identity headers', () => {
    it('client copies are removed on protected and on auth: none routes', async () => {
      const spoof = { 'x-user-id': 'admin', 'X-User-Scopes': 'root', 'x-tenant': 'other' };
      const echo = await accepted('/x', await jose('HS256', hmacKey, base({ sub: 'bob' })), spoof);
      assert.equal(echo.headers['x-user-id'], 'bob');
      assert.equal(echo.headers['x-user-scopes'], undefined);
      assert.equal(echo.headers['x-tenant'], undefined);
      const res = await fetch(`${gw.url}/open/x`, { headers: spoof });
      const open = (await res.json()) as Echo;
      assert.equal(open.headers['x-user-id'], undefined);
      assert.equal(open.headers['x-user-scopes'], undefined);
      assert.equal(open.headers['x-tenant'], undefined);
    });

    it('claims with control characters cannot inject headers', async () => {
      const echo = await accepted('/x', await jose('HS256', hmacKey, base({ sub: 'eve\r\nx-admin: 1' })));
      assert.equal(echo.headers['x-admin'], undefined);
      // The one claim encoding (docs/auth.md): only %, controls, non-ASCII and edge spaces are escaped.
      assert.equal(echo.headers['x-user-id'], 'eve%0D%0Ax-admin: 1');
      assert.equal(decodeURIComponent(echo.headers['x-user-id']!), 'eve\r\nx-admin: 1');
    });
  });
});

describe('JWT: defaults and stripAuthorization', () => {
  let backend: DemoBackend;
  let gw: TestGateway;
  before(async () => {
    backend = await startDemoBackend();
    gw = await startGateway(`
jwt:
  issuers: [{ name: local, issuer: ${LOCAL}, audiences: [orders-api], algorithms: [HS256], secret: "${SECRET}" }]
  stripAuthorization: true
defaults:
  auth: { jwt: required }
upstreams:
  backend: { targets: [{ url: ${backend.url} }] }
routes:
  - { name: health, match: { path: /health }, upstream: backend, auth: none }
  - { name: api, match: { pathPrefix: / }, upstream: backend }
`);
  });
  after(async () => {
    await gw.close();
    await backend.close();
  });

  it('every route requires a token unless it opts out', async () => {
    const before = backend.count();
    assert.equal((await fetch(`${gw.url}/anything`)).status, 401);
    assert.equal(backend.count(), before);
    assert.equal((await fetch(`${gw.url}/health`)).status, 200);
  });

  it('stripAuthorization keeps the token from the upstream', async () => {
    const token = await jose('HS256', hmacKey, base());
    const res = await fetch(`${gw.url}/anything`, { headers: { authorization: `Bearer ${token}` } });
    assert.equal(res.status, 200);
    const echo = (await res.json()) as Echo;
    assert.equal(echo.headers['authorization'], undefined);
  });
});
