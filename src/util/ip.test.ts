import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { clientAddress } from '../server/handle.js';
import { canonicalIp, compileTrustedProxies, forwardedHopAddress, ipv6Network } from './ip.js';

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

describe('address canonical forms', () => {
  const trusted = compileTrustedProxies(['10.0.0.0/8']);
  it('IPv4-mapped IPv6 in any spelling is the IPv4 address; IPv6 in RFC 5952 form', () => {
    for (const a of ['::FFFF:1.2.3.4', '::ffff:1.2.3.4', '0:0:0:0:0:ffff:102:304', '0000::FFFF:0102:0304']) assert.equal(canonicalIp(a), '1.2.3.4', a);
    assert.equal(canonicalIp('2001:0DB8:0000:0000:0000:0000:0000:0001'), '2001:db8::1');
  });
  it('an X-Forwarded-For entry with a port or brackets is its address', () => {
    assert.equal(forwardedHopAddress(' 1.2.3.4:5555'), '1.2.3.4');
    assert.equal(forwardedHopAddress('[::1]:80'), '::1');
    assert.equal(forwardedHopAddress('[2001:DB8::1]'), '2001:db8::1');
    assert.equal(clientAddress('10.0.0.1', '203.0.113.9:4711', trusted), '203.0.113.9');
    assert.equal(clientAddress('10.0.0.1', '[2001:DB8::0001]:443', trusted), '2001:db8::1');
    assert.equal(clientAddress('10.0.0.1', '1.2.3.4:x', trusted), '10.0.0.1');
  });
  it('an IPv6 network of a prefix length', () => {
    assert.equal(ipv6Network('2001:db8:1:2:3:4:5:6', 64), '2001:db8:1:2::/64');
    assert.equal(ipv6Network('2001:db8:1:2:3:4:5:6', 56), '2001:db8:1::/56');
    assert.equal(ipv6Network('2001:db8:1:2:3:4:5:6', 128), '2001:db8:1:2:3:4:5:6');
  });
});
