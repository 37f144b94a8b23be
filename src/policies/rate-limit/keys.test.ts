import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { configProblems } from '../../../test/helpers.js';
import { keyValue, MAX_RAW_VALUE, parseKey, type KeySource } from './keys.js';

const src = (over: Partial<{ ip: string; sub: string; iss: string; headers: Record<string, string> }> = {}): KeySource => ({
  clientIp: over.ip ?? '203.0.113.7',
  principal: over.sub !== undefined ? { subject: over.sub, issuer: over.iss ?? 'local' } : undefined,
  req: { headers: over.headers ?? {} },
});

describe('rate-limit keys', () => {
  it('ip is the resolved client address', () => {
    assert.equal(keyValue(parseKey('ip'), src()), 'ip:203.0.113.7');
  });
  it('consumer is the JWT issuer and subject, the ip when anonymous', () => {
    assert.equal(keyValue(parseKey('consumer'), src({ sub: 'user-42' })), 'c:local:user-42');
    assert.notEqual(keyValue(parseKey('consumer'), src({ sub: 'bob', iss: 'a' })), keyValue(parseKey('consumer'), src({ sub: 'bob', iss: 'b' })));
    assert.equal(keyValue(parseKey('consumer'), src()), 'ip:203.0.113.7');
    assert.equal(keyValue(parseKey('consumer'), src({ sub: '' })), 'ip:203.0.113.7');
  });
  it('header:NAME is case-insensitive and falls back to the ip when absent or empty', () => {
    const spec = parseKey('header:X-Api-Key');
    assert.equal(keyValue(spec, src({ headers: { 'x-api-key': 'k1' } })), 'h:k1');
    assert.equal(keyValue(spec, src()), 'ip:203.0.113.7');
    assert.equal(keyValue(spec, src({ headers: { 'x-api-key': '  ' } })), 'ip:203.0.113.7');
  });
  it('a header value can never land in an ip bucket', () => {
    assert.notEqual(keyValue(parseKey('header:x-k'), src({ headers: { 'x-k': 'ip:203.0.113.7' } })), keyValue(parseKey('ip'), src()));
  });
  it('an IPv6 client is its /64 (or the configured prefix); the fallbacks too', () => {
    assert.equal(keyValue(parseKey('ip'), src({ ip: '2001:db8:1:2:aaaa::1' })), 'ip:2001:db8:1:2::/64');
    assert.equal(keyValue(parseKey('ip', 48), src({ ip: '2001:db8:1:2:aaaa::1' })), 'ip:2001:db8:1::/48');
    assert.equal(keyValue(parseKey('consumer'), src({ ip: '2001:db8:1:2::9' })), 'ip:2001:db8:1:2::/64');
    assert.equal(keyValue(parseKey('ip', 128), src({ ip: '2001:db8::9' })), 'ip:2001:db8::9');
  });
  it('route is one bucket for everybody', () => {
    assert.equal(keyValue(parseKey('route'), src({ ip: '1.1.1.1' })), keyValue(parseKey('route'), src({ ip: '2.2.2.2' })));
  });
  it('long values are digested, so one bucket never costs kilobytes', () => {
    const v = keyValue(parseKey('header:x-k'), src({ headers: { 'x-k': 'a'.repeat(8000) } }));
    assert.ok(v.length < 64, v);
    assert.equal(keyValue(parseKey('header:x-k'), src({ headers: { 'x-k': 'a'.repeat(MAX_RAW_VALUE) } })).length, MAX_RAW_VALUE + 2);
  });
});

describe('API-key consumers', () => {
  it('have their own namespace (k:), apart from every JWT issuer', () => {
    assert.equal(keyValue(parseKey('consumer'), src({ sub: 'bob', iss: 'apikey' })), 'k:bob');
    assert.notEqual(keyValue(parseKey('consumer'), src({ sub: 'bob', iss: 'apikey' })), keyValue(parseKey('consumer'), src({ sub: 'bob', iss: 'local' })));
  });

  it('a JWT issuer may not be named apikey', () => {
    const problems = configProblems(`
jwt: { issuers: [{ name: apikey, issuer: i, algorithms: [HS256], secret: "0123456789abcdef0123456789abcdef" }] }
upstreams: { b: { targets: [{ url: "http://127.0.0.1:9" }] } }
routes: []
`);
    assert.ok(problems.some((p) => p.startsWith('jwt.issuers[0].name:')), problems.join('\n'));
  });
});
