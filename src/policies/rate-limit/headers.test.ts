import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { policyHeader, rateLimitHeader, seconds, sfString, tightest } from './headers.js';

describe('rate-limit headers', () => {
  it('writes RateLimit-Policy as a structured-field list (draft-11 §3)', () => {
    assert.equal(
      policyHeader([
        { name: 'ip-1s', limit: 10, windowSeconds: 1 },
        { name: 'consumer-1m', limit: 100, windowSeconds: 60 },
      ]),
      '"ip-1s";q=10;w=1, "consumer-1m";q=100;w=60',
    );
  });
  it('writes RateLimit with r and t in whole seconds, rounded up (draft-11 §4)', () => {
    assert.equal(rateLimitHeader(['"a";r=', '"b";r='], [{ over: false, remaining: 9, reset: 100_000 }, { over: false, remaining: 0, reset: 2_000_001 }]), '"a";r=9;t=1, "b";r=0;t=3');
    assert.equal(seconds(1_000_000), 1);
  });
  it('escapes sf-strings (RFC 8941 §4.1.6)', () => {
    assert.equal(sfString('a"b\\c'), '"a\\"b\\\\c"');
  });
  it('picks the tightest limit: fewest remaining, then the longest wait', () => {
    assert.equal(tightest([{ over: false, remaining: 5, reset: 1 }, { over: false, remaining: 2, reset: 1 }]), 1);
    assert.equal(tightest([{ over: true, remaining: 0, reset: 10 }, { over: true, remaining: 0, reset: 20 }]), 1);
  });
});
