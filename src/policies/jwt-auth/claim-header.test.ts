import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { claimHeaderValue, encodeClaimText } from './claim-header.js';

describe('claim header encoding', () => {
  it('leaves printable ASCII without % as is', () => {
    assert.equal(encodeClaimText('alice@example.com'), 'alice@example.com');
    assert.equal(encodeClaimText('orders:read orders:write'), 'orders:read orders:write');
  });

  it('is injective where the old encoding was not: é and a literal %C3%A9, edge spaces', () => {
    const cases = ['é', '%C3%A9', 'a b', ' alice', 'alice ', 'alice', 'a\r\nb', 'a\u0000', '\ud800', '\ufffd', '😀', '%'];
    const out = cases.map((c) => encodeClaimText(c));
    assert.equal(new Set(out).size, cases.length, JSON.stringify(out));
    for (const [i, o] of out.entries()) {
      assert.match(o, /^[\x21-\x7e]([\x20-\x7e]*[\x21-\x7e])?$/, `${JSON.stringify(cases[i])} → ${o}`);
      if (!cases[i]!.includes('\ud800')) assert.equal(decodeURIComponent(o), cases[i]);
    }
  });

  it('arrays: a comma inside an element is encoded, so ["a,b"] and ["a","b"] differ', () => {
    assert.equal(claimHeaderValue(['a', 'b']), 'a,b');
    assert.equal(claimHeaderValue(['a,b']), 'a%2Cb');
    assert.equal(claimHeaderValue({ k: 'é' }), '{"k":"%C3%A9"}');
    assert.equal(claimHeaderValue(null), undefined);
  });
});
