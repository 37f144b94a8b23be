import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { clientAddress } from '../server/handle.js';
import { compileTrustedProxies } from './ip.js';

describe('client address behind trusted proxies', () => {
  const trusted = compileTrustedProxies(['10.0.0.0/8', '::1']);
  it('is the peer when the peer is not trusted, whatever X-Forwarded-For says', () => {
    assert.equal(clientAddress('203.0.113.5', '1.2.3.4', trusted), '203.0.113.5');
  });
  it('is the right-most untrusted hop', () => {
    assert.equal(clientAddress('10.0.0.1', '198.51.100.7, 203.0.113.9, 10.0.0.2', trusted), '203.0.113.9');
    assert.equal(clientAddress('::ffff:10.0.0.1', '203.0.113.9', trusted), '203.0.113.9');
  });
  it('stops at a malformed entry and keeps the last address a trusted proxy vouched for', () => {
    assert.equal(clientAddress('10.0.0.1', '"evil", 10.0.0.2', trusted), '10.0.0.2');
    assert.equal(clientAddress('10.0.0.1', 'not-an-ip', trusted), '10.0.0.1');
  });
  it('is the left-most hop when every hop is trusted', () => {
    assert.equal(clientAddress('10.0.0.1', '10.0.0.3, 10.0.0.2', trusted), '10.0.0.3');
  });
});
