import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { normaliseTarget, type PathRules } from './normalise.js';

const path = (url: string, rules?: PathRules) => {
  const r = normaliseTarget(url, rules);
  return typeof r === 'string' ? r : r.path;
};

describe('normaliseTarget', () => {
  it('leaves normal paths alone (fast path)', () => {
    assert.equal(path('/api/users/42'), '/api/users/42');
    assert.equal(path('/'), '/');
    assert.equal(path('/a/b/'), '/a/b/');
    assert.equal(path('/file.tar.gz'), '/file.tar.gz');
    assert.equal(path('/a/.well-known/x'), '/a/.well-known/x');
  });

  it('removes dot segments (RFC 3986 5.2.4)', () => {
    assert.equal(path('/public/../private'), '/private');
    assert.equal(path('/a/./b'), '/a/b');
    assert.equal(path('/a/b/..'), '/a/');
    assert.equal(path('/..'), '/');
    assert.equal(path('/../../etc/passwd'), '/etc/passwd');
    assert.equal(path('/a/b/../../..'), '/');
  });

  it('decodes percent-encoded unreserved characters before removing dot segments', () => {
    assert.equal(path('/public/%2e%2e/private'), '/private');
    assert.equal(path('/public/%2E%2E/private'), '/private');
    assert.equal(path('/public/.%2e/private'), '/private');
    assert.equal(path('/%61%70%69/x'), '/api/x');
    assert.equal(path('/a/%7euser'), '/a/~user');
  });

  it('keeps reserved escapes, with upper-case hex', () => {
    assert.equal(path('/a%20b'), '/a%20b');
    assert.equal(path('/a%3fb'), '/a%3Fb');
    assert.equal(path('/caf%c3%a9'), '/caf%C3%A9');
  });

  it('collapses empty segments', () => {
    assert.equal(path('//api///users'), '/api/users');
    assert.equal(path('/api//'), '/api/');
  });

  it('rejects encoded slashes and backslashes, raw backslashes and control characters', () => {
    for (const bad of ['/a%2fb', '/a%2Fb', '/a%5cb', '/a%5Cb', '/a\\b', '/a%00b', '/a%0ab', '/a%7fb', '/a%1fb', '/a%zz', '/a%2', '/a%']) {
      assert.equal(path(bad), 'GW_ERR_PATH_INVALID', bad);
    }
  });

  it('splits the query and keeps it unchanged', () => {
    const r = normaliseTarget('/a/../b?x=%2F..&y=1');
    assert.deepEqual(r, { path: '/b', query: '?x=%2F..&y=1', authority: undefined });
  });

  it('matches absolute-form targets by their path and reports the authority', () => {
    assert.deepEqual(normaliseTarget('http://Example.com:8080/a/../b?q'), { path: '/b', query: '?q', authority: 'example.com:8080' });
    assert.deepEqual(normaliseTarget('http://example.com'), { path: '/', query: '', authority: 'example.com' });
    assert.equal(normaliseTarget('http://user@example.com/'), 'GW_ERR_BAD_REQUEST');
    assert.equal(normaliseTarget('*'), 'GW_ERR_BAD_REQUEST');
    assert.equal(normaliseTarget('ftp://x/'), 'GW_ERR_BAD_REQUEST');
  });

  it('issue 15: refuses ";" (matrix parameters) by default, or strips it before anything else', () => {
    for (const bad of ['/admin;x/secret', '/x/..;/admin/secret', '/admin;/secret', '/a;b', '/%61dmin;x/s']) {
      assert.equal(path(bad), 'GW_ERR_PATH_INVALID', bad);
    }
    const strip: PathRules = { matrixParameters: 'strip', trailingDotOrSpace: 'refuse' };
    assert.equal(path('/admin;x/secret', strip), '/admin/secret');
    assert.equal(path('/x/..;/admin/secret', strip), '/admin/secret');
    assert.equal(path('/a;jsessionid=1', strip), '/a');
    assert.equal(path('/;x/a', strip), '/a');
    assert.equal(path('/a%3Bb'), '/a%3Bb', 'an encoded ";" is data, not a parameter');
  });

  it('issue 15: refuses segments ending in a dot or a space unless allowed', () => {
    for (const bad of ['/admin./secret', '/admin%2e/secret', '/admin%20/secret', '/admin.../x', '/a/...', '/file.', '/a/b./']) {
      assert.equal(path(bad), 'GW_ERR_PATH_INVALID', bad);
    }
    const allow: PathRules = { matrixParameters: 'refuse', trailingDotOrSpace: 'allow' };
    assert.equal(path('/admin./secret', allow), '/admin./secret');
    assert.equal(path('/admin%20/secret', allow), '/admin%20/secret');
    assert.equal(path('/a./../b'), '/b', 'judged after dot segments are removed: the backend gets /b');
    assert.equal(path('/.well-known/x'), '/.well-known/x');
    assert.equal(path('/a%20b/c'), '/a%20b/c');
  });
});
