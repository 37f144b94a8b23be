import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError } from '../errors.js';
import { parseConfig } from './load.js';

const BASE = `
upstreams:
  users: { targets: [{ url: http://127.0.0.1:9000 }] }
  orders: { targets: [{ url: http://127.0.0.1:9001 }] }
routes:
  - { name: a, match: { pathPrefix: /a }, upstream: users }
`;

function problems(yaml: string, env: Record<string, string> = {}): string[] {
  try {
    parseConfig(yaml, env);
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    return [...err.problems];
  }
  return [];
}

describe('config validation', () => {
  it('accepts a minimal file and fills defaults without touching the input', () => {
    const { config } = parseConfig(BASE, {});
    assert.equal(config.server.port, 8000);
    assert.equal(config.server.host, '127.0.0.1');
    assert.equal(config.admin.port, 8001);
    assert.equal(config.upstreams['users']!.balance, 'round-robin');
    assert.equal(config.upstreams['users']!.timeouts.connect, '2s');
    assert.equal(config.routes[0]!.stripPrefix, false);
    assert.ok(Object.isFrozen(config.routes[0]));
  });

  it('names an unknown upstream with the known ones', () => {
    const p = problems(BASE.replace('upstream: users', 'upstream: userz'));
    assert.deepEqual(p, ['routes[0].upstream: unknown upstream "userz" (did you mean "users"? known: users, orders)']);
  });

  it('rejects unknown fields with a suggestion', () => {
    const p = problems(BASE.replace('upstream: users }', 'upstream: users, ratelimit: [] }'));
    assert.equal(p.length, 1);
    assert.match(p[0]!, /^routes\[0\]\.ratelimit: unknown field/);
    const q = problems(`server: { prot: 80 }\n${BASE}`);
    assert.deepEqual(q, ['server.prot: unknown field, did you mean "port"?']);
  });

  it('reports every problem, each with its path', () => {
    const p = problems(`
server: { port: 99999, maxBodySize: lots }
upstreams:
  u: { targets: [], balance: fastest, timeouts: { connect: soon } }
routes:
  - { name: "bad name", match: { pathPrefix: api }, upstream: u }
`);
    const text = p.join('\n');
    assert.match(text, /server\.port: must be at most 65535/);
    assert.match(text, /server\.maxBodySize: expected a size like 512kb, 10mb or 1gb, got "lots"/);
    assert.match(text, /upstreams\.u\.targets: must have at least 1 item/);
    assert.match(text, /upstreams\.u\.balance: expected one of "round-robin", "least-connections", "random", got "fastest"/);
    assert.match(text, /upstreams\.u\.timeouts\.connect: expected a duration like 250ms, 5s, 1m or 1h, got "soon"/);
    assert.match(text, /routes\[0\]\.name: /);
    assert.match(text, /routes\[0\]\.match\.pathPrefix: /);
    assert.ok(!/\bat \w+ \(/.test(text), 'no stack traces');
  });

  it('checks cross-field rules', () => {
    const p = problems(`
upstreams: { u: { targets: [{ url: http://127.0.0.1:1 }] } }
routes:
  - { name: a, match: { path: /x, pathPrefix: /y }, upstream: u }
  - { name: a, match: { path: "/u/:id" }, upstream: u, rewrite: "/v/:name" }
  - { name: c, match: { path: /x }, upstream: u, stripPrefix: true }
  - { name: d, match: { path: "/u/:id/:id" }, upstream: u }
  - { name: e, match: { pathPrefix: /x, hosts: ["bad host"] }, upstream: u }
  - { name: f, match: {}, upstream: u }
`);
    const text = p.join('\n');
    assert.match(text, /routes\[0\]\.match: exactly one of path or pathPrefix is required/);
    assert.match(text, /routes\[1\]\.name: duplicate route name "a" \(also routes\[0\]\)/);
    assert.match(text, /routes\[1\]\.rewrite: parameter ":name" is not in match\.path/);
    assert.match(text, /routes\[2\]\.stripPrefix: only applies with match\.pathPrefix/);
    assert.match(text, /routes\[3\]\.match\.path: parameter ":id" appears twice/);
    assert.match(text, /routes\[4\]\.match\.hosts\[0\]: expected a host name/);
    assert.match(text, /routes\[5\]\.match: exactly one of path or pathPrefix is required/);
  });

  it('rejects bad target URLs and CIDRs', () => {
    const p = problems(`
server: { trustedProxies: [10.0.0.0/8, "10.0.0.0/33", nonsense] }
upstreams: { u: { targets: [{ url: "ftp://x" }, { url: "not a url" }] } }
routes: []
`);
    const text = p.join('\n');
    assert.match(text, /server\.trustedProxies\[1\]: expected an IP address or CIDR/);
    assert.match(text, /server\.trustedProxies\[2\]: /);
    assert.match(text, /upstreams\.u\.targets\[0\]\.url: expected an http:\/\/ or https:\/\/ URL, got "ftp:\/\/x"/);
    assert.match(text, /upstreams\.u\.targets\[1\]\.url: /);
  });

  it('substitutes ${VAR} and ${VAR:-default} inside values, never into YAML structure', () => {
    const yaml = `
server: { port: "\${PORT}", host: "\${HOST:-0.0.0.0}" }
upstreams: { u: { targets: [{ url: "http://\${BACKEND_HOST}:9000" }] } }
routes: [{ name: r, match: { pathPrefix: "/\${PREFIX:-api}" }, upstream: u }]
`;
    const { config } = parseConfig(yaml, { PORT: '8123', BACKEND_HOST: 'backend.local\nadmin: { port: 1 }' === '' ? '' : 'backend.local' });
    assert.equal(config.server.port, 8123);
    assert.equal(config.server.host, '0.0.0.0');
    assert.equal(config.upstreams['u']!.targets[0]!.url, 'http://backend.local:9000');
    assert.equal(config.routes[0]!.match.pathPrefix, '/api');
    // a value carrying YAML syntax stays a plain string
    const { config: c2 } = parseConfig(`server: { host: "\${EVIL}" }\n${BASE}`, { EVIL: '1.2.3.4\nadmin: { port: 1 }' });
    assert.equal(c2.admin.port, 8001);
    assert.equal(c2.server.host, '1.2.3.4\nadmin: { port: 1 }');
    // $\${ is a literal
    const { config: c3 } = parseConfig(`server: { host: "$\${X}" }\n${BASE}`, {});
    assert.equal(c3.server.host, '${X}');
  });

  it('names the field of a missing environment variable', () => {
    const p = problems(`upstreams: { u: { targets: [{ url: "\${BACKEND_URL}" }] } }\nroutes: []`);
    assert.deepEqual(p, ['upstreams.u.targets[0].url: environment variable BACKEND_URL is not set (write ${BACKEND_URL:-default} for a fallback)']);
  });

  it('reports the first YAML syntax error with its line, a caret and a hint for an unquoted ${VAR} in { }', () => {
    const p = problems(`server: { host: 127.0.0.1, port: \${PORT} }\n${BASE}`, { PORT: '8080' });
    assert.equal(p.length, 2, p.join('\n'));
    assert.match(p[0]!, /^config:1:34: YAML syntax: /);
    assert.match(p[0]!, /\n {4}server: \{ host: 127\.0\.0\.1, port: \$\{PORT\} \}\n {37}\^\n/);
    assert.match(p[0]!, /\$\{VAR\} must be quoted: "\$\{VAR\}"/);
    assert.match(p[1]!, /^config: \d+ further YAML syntax errors after the first, most likely caused by it$/);
    assert.deepEqual(problems(`server: { host: 127.0.0.1, port: "\${PORT}" }\n${BASE}`, { PORT: '8080' }), [], 'quoted, it is a port');
  });

  it('reports YAML syntax errors and duplicate keys without a stack trace', () => {
    const p = problems('server: { port: 1\nroutes: [');
    assert.ok(p.length >= 1);
    const q = problems(`server: { port: 1, port: 2 }\n${BASE}`);
    assert.match(q.join('\n'), /unique|duplicate/i);
  });

  it('admin.port equal to server.port on an overlapping address is refused, naming both fields', () => {
    const same = problems(`server: { port: 8080 }\nadmin: { port: 8080 }\n${BASE}`);
    assert.equal(same.length, 1, same.join('\n'));
    assert.match(same[0]!, /^admin\.port: 8080 is also server\.port/);
    assert.match(problems(`server: { port: 9000, host: 0.0.0.0 }\nadmin: { port: 9000, host: 127.0.0.1 }\n${BASE}`)[0]!, /^admin\.port: .*server\.port/);
    assert.match(problems(`server: { port: 9000, host: localhost }\nadmin: { port: 9000, host: "::1" }\n${BASE}`)[0]!, /^admin\.port:/);
    assert.deepEqual(problems(`server: { port: 9000, host: 10.0.0.1 }\nadmin: { port: 9000, host: 127.0.0.1 }\n${BASE}`), [], 'different addresses may share a port');
    // The same rule for every listener: h2c (and redirectHttp) take server.host unless they name one.
    assert.match(problems(`server: { port: 9000, h2c: { port: 9000 } }\n${BASE}`)[0]!, /^server\.h2c\.port: 9000 is also server\.port/);
    assert.deepEqual(problems(`server: { port: 9000, host: 10.0.0.1, h2c: { port: 9000, host: 10.0.0.2 } }\n${BASE}`), []);
    assert.deepEqual(problems(`server: { port: 9000 }\nadmin: { port: 9000, enabled: false }\n${BASE}`), []);
    assert.deepEqual(problems(`server: { port: 0 }\nadmin: { port: 0 }\n${BASE}`), [], 'two ephemeral ports never collide');
  });

  it('server.headersTimeout above server.requestTimeout is refused (Node would throw at listen)', () => {
    assert.deepEqual(problems(`server: { headersTimeout: 2m, requestTimeout: 1m }\n${BASE}`), ['server.headersTimeout: must be at most server.requestTimeout (1m): the head is part of the request']);
  });
});
