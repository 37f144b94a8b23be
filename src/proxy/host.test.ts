import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { hostName } from './headers.js';

describe('hostName (issue 15 item 8)', () => {
  it('lower-cases, drops the port and one trailing dot', () => {
    assert.equal(hostName('Secure.Example.com'), 'secure.example.com');
    assert.equal(hostName('secure.example.com.'), 'secure.example.com');
    assert.equal(hostName('secure.example.com.:8443'), 'secure.example.com');
    assert.equal(hostName('localhost:'), 'localhost');
    assert.equal(hostName('127.0.0.1:80'), '127.0.0.1');
    assert.equal(hostName('[::1]:8080'), '[::1]');
    assert.equal(hostName('[2001:DB8::1]'), '[2001:db8::1]');
    assert.equal(hostName('[v1.x:y]'), '[v1.x:y]');
    assert.equal(hostName(''), '');
    assert.equal(hostName('a%41b'), 'a%41b');
  });

  it('refuses what is not uri-host [ ":" port ]', () => {
    for (const bad of ['[secure.example.com]', 'a@b', 'a b', 'x:80:80', 'x:8o', '[::1', '[::1]x', '[::1]:a', '[fe80::1%eth0]', 'a/b', 'a\\\\b', 'a%zz', 'é.example', '"x"', 'a<b']) {
      assert.equal(hostName(bad), undefined, bad);
    }
  });
});
