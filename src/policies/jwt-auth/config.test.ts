import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseConfig } from '../../config/load.js';
import { configProblems } from '../../../test/helpers.js';

const SECRET = 'x'.repeat(32);
const doc = (jwt: string, routeAuth = 'auth: { jwt: required }', extra = '') => `
${jwt}
${extra}
upstreams:
  b: { targets: [{ url: http://127.0.0.1:1 }] }
routes:
  - name: r
    match: { pathPrefix: / }
    upstream: b
    ${routeAuth}
`;

const problems = (yaml: string): string[] => configProblems(yaml);

function expectProblem(yaml: string, re: RegExp): void {
  const list = problems(yaml);
  assert.ok(list.some((p) => re.test(p)), `expected ${re} in:\n  ${list.join('\n  ')}`);
}

const issuer = (fields: string) => `jwt:\n  issuers:\n    - { name: a, issuer: https://a, audiences: [x], algorithms: [HS256], secret: "${SECRET}" }\n    - { name: b, issuer: https://b, ${fields} }`;

describe('jwt config validation', () => {
  it('accepts the shape from the issue, with defaults filled in', () => {
    const { config, warnings } = parseConfig(
      doc(`jwt:
  clockTolerance: 30s
  issuers:
    - { name: local, issuer: https://auth.local, audiences: [orders-api], algorithms: [HS256], secret: "${SECRET}" }
    - { name: idp, issuer: https://idp.example.com/, jwksUri: https://idp.example.com/.well-known/jwks.json, algorithms: [RS256, ES256, EdDSA] }
  forwardClaims: { sub: X-User-Id, scope: X-User-Scopes }
  stripAuthorization: false`, 'auth: { jwt: optional, scopes: [orders:read], issuers: [local] }'),
      {},
    );
    assert.equal(config.jwt?.requireExp, true);
    assert.equal(config.jwt?.maxTokenSize, '8kb');
    assert.equal(config.jwt?.jwks.cooldown, '30s');
    assert.ok(warnings.some((w) => w.startsWith('jwt.issuers[1].audiences')));
  });

  it('names the field of an unknown algorithm', () => {
    expectProblem(doc(issuer('algorithms: [RS256, none], jwksUri: https://b/jwks')), /^jwt\.issuers\[1\]\.algorithms\[1\]: expected one of/);
  });

  it('refuses HS algorithms with a public key and asymmetric ones with a secret', () => {
    expectProblem(doc(issuer('algorithms: [RS256, HS256], publicKeyFile: k.pem')), /^jwt\.issuers\[1\]\.algorithms\[1\]: HS256 is an HMAC algorithm and needs a secret/);
    expectProblem(doc(issuer(`algorithms: [RS256], secret: "${SECRET}"`)), /^jwt\.issuers\[1\]\.algorithms\[0\]: RS256 needs a public key/);
  });

  it('refuses a secret shorter than the hash (RFC 7518 §3.2)', () => {
    expectProblem(doc(issuer('algorithms: [HS256], secret: short')), /^jwt\.issuers\[1\]\.secret: too short: 5 bytes; HS256 needs at least 32/);
    expectProblem(doc(issuer(`algorithms: [HS512], secret: "${SECRET}"`)), /^jwt\.issuers\[1\]\.secret: too short: 32 bytes; HS512 needs at least 64/);
  });

  it('needs exactly one key source', () => {
    expectProblem(doc(issuer('algorithms: [RS256]')), /^jwt\.issuers\[1\]: needs one of secret, jwksUri, jwksFile or publicKeyFile/);
    expectProblem(doc(issuer('algorithms: [RS256], jwksFile: a.json, publicKeyFile: b.pem')), /^jwt\.issuers\[1\]: give only one of jwksFile, publicKeyFile/);
  });

  it('accepts http JWKS only from loopback hosts', () => {
    expectProblem(doc(issuer('algorithms: [RS256], jwksUri: http://idp.example.com/jwks')), /^jwt\.issuers\[1\]\.jwksUri: must be https:\/\//);
    assert.deepEqual(problems(doc(issuer('audiences: [x], algorithms: [RS256], jwksUri: http://127.0.0.1:8080/jwks'))), []);
    assert.deepEqual(problems(doc(issuer('audiences: [x], algorithms: [RS256], jwksUri: http://localhost:8080/jwks'))), []);
  });

  it('refuses duplicate issuer names and iss values', () => {
    expectProblem(doc(issuer(`name: a, algorithms: [HS256], secret: "${SECRET}"`).replace('name: b, ', '')), /^jwt\.issuers\[1\]\.name: duplicate issuer name "a"/);
    expectProblem(doc(issuer(`algorithms: [HS256], secret: "${SECRET}"`).replace('issuer: https://b', 'issuer: https://a')), /^jwt\.issuers\[1\]\.issuer: the same iss as jwt\.issuers\[0\]/);
  });

  it('names a route that asks for an unknown issuer, with a hint', () => {
    expectProblem(doc(issuer('algorithms: [RS256], jwksUri: https://b/j'), 'auth: { jwt: required, issuers: [bb] }'), /^routes\[0\]\.auth\.issuers\[0\]: unknown issuer "bb" \(did you mean "b"\?/);
    expectProblem(doc(issuer('algorithms: [RS256], jwksUri: https://b/j'), 'auth: none', 'defaults: { auth: { jwt: required, issuers: [zzz] } }'), /^defaults\.auth\.issuers\[0\]: unknown issuer "zzz"/);
  });

  it('refuses auth without a jwt block, and unknown fields', () => {
    expectProblem(doc(''), /^routes\[0\]\.auth: needs a top-level jwt block/);
    expectProblem(doc(issuer('algorithms: [RS256], jwksUri: https://b/j'), 'auth: { jwt: required, scope: [a] }'), /^routes\[0\]\.auth/);
    expectProblem(doc(issuer('algorithms: [RS256], jwksUri: https://b/j, audience: [x]')), /^jwt\.issuers\[1\]\.audience: unknown field, did you mean "audiences"/);
    expectProblem(doc(issuer('algorithms: [RS256], jwksUri: https://b/j'), 'auth: { jwt: maybe }'), /^routes\[0\]\.auth/);
  });

  it('refuses forwarding a claim into a header the gateway owns', () => {
    expectProblem(doc(`${issuer('algorithms: [RS256], jwksUri: https://b/j')}\n  forwardClaims: { sub: Authorization }`), /^jwt\.forwardClaims\.sub: "Authorization" is a header/);
  });
});

describe('auth gaps under a protected prefix', () => {
  const yaml = `
jwt: { issuers: [{ name: l, issuer: x, algorithms: [HS256], secret: "${SECRET}", audiences: [a] }] }
upstreams: { u: { targets: [{ url: http://127.0.0.1:1 }] } }
routes:
  - { name: orders, match: { pathPrefix: /api/orders }, upstream: u, auth: { jwt: required } }
  - { name: items, match: { path: "/api/orders/:id/items" }, upstream: u }
  - { name: maybe, match: { pathPrefix: /api/orders/maybe }, upstream: u, auth: { jwt: optional } }
  - { name: public, match: { pathPrefix: /api/orders/public }, upstream: u, auth: none }
  - { name: other, match: { pathPrefix: /api/ordersx }, upstream: u }
`;
  it('warns about a more specific route that does not require the JWT', () => {
    const { warnings } = parseConfig(yaml, {});
    const gaps = warnings.filter((w) => w.includes('requires a JWT'));
    assert.equal(gaps.length, 2, gaps.join('\n'));
    assert.match(gaps.join('\n'), /routes\[1\]\.auth: route "items"/);
    assert.match(gaps.join('\n'), /routes\[2\]\.auth: route "maybe"/);
  });
});
