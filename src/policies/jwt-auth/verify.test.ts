import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { describe, it } from 'node:test';
import { staticSource } from './jwks.js';
import { secretKey } from './keys.js';
import { scopesOf, verifyToken, type IssuerRuntime, type VerifyContext } from './verify.js';
import type { IssuerConfig } from './schema.js';

const SECRET = 's'.repeat(32);
const ISS = 'https://a';
const cfg: IssuerConfig = { name: 'a', issuer: ISS, audiences: ['api'], algorithms: ['HS256'], secret: SECRET };
const rules = { issuer: ISS, audiences: ['api'], clockToleranceMs: 0, requireExp: true };
const issuer: IssuerRuntime = { name: 'a', issuer: ISS, algorithms: new Set(['HS256']), source: staticSource([secretKey(SECRET, cfg, rules)]) };
const ctx: VerifyContext = { byIss: new Map([[ISS, issuer]]), maxTokenSize: 2048, clockToleranceMs: 0, forwardClaims: [['sub', 'x-user-id']] };

const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
const t = () => Math.floor(Date.now() / 1000);
function token(claims: Record<string, unknown>, header: Record<string, unknown> = { alg: 'HS256' }, secret = SECRET): string {
  const input = `${b64(header)}.${b64({ iss: ISS, aud: 'api', exp: t() + 60, ...claims })}`;
  return `${input}.${createHmac('sha256', secret).update(input).digest('base64url')}`;
}

/** The reason is a metrics label (gateway_auth_failures_total{reason}): it must be exact and bounded. */
describe('verifyToken reasons', () => {
  const cases: Array<[string, string, string]> = [
    ['valid', token({ sub: 'u' }), 'ok'],
    ['too large', token({ pad: 'x'.repeat(3000) }), 'too_large'],
    ['garbage', 'not-a-token', 'malformed'],
    ['alg none', token({}, { alg: 'NoNe' }), 'alg_not_allowed'],
    ['alg not allowed', token({}, { alg: 'HS512' }), 'alg_not_allowed'],
    ['jwk header', token({}, { alg: 'HS256', jwk: {} }), 'forbidden_header'],
    ['crit', token({}, { alg: 'HS256', crit: ['x'], x: 1 }), 'unknown_crit'],
    ['unknown iss', token({ iss: 'https://evil' }), 'wrong_issuer'],
    ['bad signature', token({}, { alg: 'HS256' }, 'z'.repeat(32)), 'bad_signature'],
    ['expired', token({ exp: t() - 10 }), 'expired'],
    ['nbf', token({ nbf: t() + 100 }), 'not_yet_valid'],
    ['iat', token({ iat: t() + 100 }), 'not_yet_valid'],
    ['aud', token({ aud: 'other' }), 'wrong_audience'],
    ['no exp', token({ exp: undefined }), 'missing_claim'],
  ];
  for (const [name, tok, reason] of cases) {
    it(`${name} → ${reason}`, () => {
      const r = verifyToken(ctx, tok);
      assert.ok(!(r instanceof Promise));
      assert.equal(typeof r === 'string' ? r : 'ok', reason);
    });
  }

  it('a verified token carries principal, forwarded headers and an expiry no later than exp', () => {
    const exp = t() + 60;
    const r = verifyToken(ctx, token({ sub: 'u', exp, scope: 'a b', scp: ['c'] }));
    assert.ok(typeof r === 'object' && !(r instanceof Promise));
    assert.equal(r.principal.subject, 'u');
    assert.deepEqual([...r.principal.scopes].sort(), ['a', 'b', 'c']);
    assert.deepEqual(r.forward, ['x-user-id', 'u']);
    assert.ok(r.expiresAt <= exp * 1000);
  });

  it('scopesOf reads scope (space separated) and scp (array or string)', () => {
    assert.deepEqual(scopesOf({ scope: ' a  b ' }), ['a', 'b']);
    assert.deepEqual(scopesOf({ scp: ['a', 3, 'b'] }), ['a', 'b']);
    assert.deepEqual(scopesOf({ scp: 'x y' }), ['x', 'y']);
    assert.deepEqual(scopesOf({}), []);
  });
});
