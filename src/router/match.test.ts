import { Registry } from 'prom-client';
import { BUILTIN_POLICIES } from '../policies/index.js';
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseConfig } from '../config/load.js';
import { compileSnapshot, type Snapshot } from './compile.js';
import { matchReference, type MatchResult } from './match.js';
import type { CompiledRoute } from './compile.js';
import { PoolSet } from '../upstream/upstream.js';
import { NO_METRICS } from '../pipeline/policy.js';
import pino from 'pino';

async function snapshotOf(routes: string, server = ''): Promise<Snapshot> {
  const { config, warnings } = parseConfig(`
${server}
upstreams: { u: { targets: [{ url: http://127.0.0.1:1 }] } }
routes:
${routes}
`);
  const pools = new PoolSet();
  const snap = await compileSnapshot(config, warnings, {
    services: { logger: pino({ level: 'silent' }), metrics: NO_METRICS, registry: new Registry(), env: {}, configDir: '' },
    pools,
    policies: BUILTIN_POLICIES,
  });
  await pools.closeAll();
  return snap;
}

function route(snap: Snapshot, method: string, path: string, host = 'localhost', headers: Record<string, string> = {}) {
  const req = { headers };
  const shown = (r: MatchResult<CompiledRoute>) => {
    if (r === undefined) return '404';
    if (r.route === undefined) return r.status === 405 ? `405 ${r.allow.join(',')}` : '400';
    return r.params.length ? `${r.route.name}(${r.params.join(',')})` : r.route.name;
  };
  const indexed = shown(snap.router.match(method, host, path, req));
  const reference = shown(matchReference(snap.routes, method, host, path, req, snap.config.server.paths.caseVariants));
  assert.equal(indexed, reference, `index and reference disagree on ${method} ${host}${path}`);
  return indexed;
}

describe('route matching', () => {
  it('prefixes are segment-aware', async () => {
    const s = await snapshotOf(`
  - { name: api, match: { pathPrefix: /api }, upstream: u }
`);
    assert.equal(route(s, 'GET', '/api'), 'api');
    assert.equal(route(s, 'GET', '/api/'), 'api');
    assert.equal(route(s, 'GET', '/api/x/y'), 'api');
    assert.equal(route(s, 'GET', '/apix'), '404');
    assert.equal(route(s, 'GET', '/'), '404');
  });

  it('most specific wins regardless of declaration order', async () => {
    const s = await snapshotOf(`
  - { name: root, match: { pathPrefix: / }, upstream: u }
  - { name: api, match: { pathPrefix: /api }, upstream: u }
  - { name: user, match: { path: "/api/users/:id" }, upstream: u }
  - { name: me, match: { path: /api/users/me }, upstream: u }
  - { name: apiv2, match: { pathPrefix: /api/v2 }, upstream: u }
`);
    assert.equal(route(s, 'GET', '/api/users/me'), 'me');
    assert.equal(route(s, 'GET', '/api/users/7'), 'user(7)');
    assert.equal(route(s, 'GET', '/api/users/7/x'), 'api');
    assert.equal(route(s, 'GET', '/api/v2/x'), 'apiv2');
    assert.equal(route(s, 'GET', '/other'), 'root');
  });

  it('parameters match one non-empty segment', async () => {
    const s = await snapshotOf(`
  - { name: item, match: { path: "/orders/:id/items/:item" }, upstream: u }
`);
    assert.equal(route(s, 'GET', '/orders/1/items/2'), 'item(1,2)');
    assert.equal(route(s, 'GET', '/orders/1/items'), '404');
    assert.equal(route(s, 'GET', '/orders/1/items/2/3'), '404');
  });

  it('hosts: exact before wildcard before none; wildcards need a label', async () => {
    const s = await snapshotOf(`
  - { name: any, match: { pathPrefix: / }, upstream: u }
  - { name: wild, match: { pathPrefix: /, hosts: ["*.example.com"] }, upstream: u }
  - { name: exact, match: { pathPrefix: /, hosts: [api.example.com] }, upstream: u }
`);
    assert.equal(route(s, 'GET', '/x', 'api.example.com'), 'exact');
    assert.equal(route(s, 'GET', '/x', 'www.example.com'), 'wild');
    assert.equal(route(s, 'GET', '/x', 'a.b.example.com'), 'wild');
    assert.equal(route(s, 'GET', '/x', 'example.com'), 'any');
    assert.equal(route(s, 'GET', '/x', 'evil-example.com'), 'any');
  });

  it('methods: 405 with Allow when only the method differs; HEAD follows GET', async () => {
    const s = await snapshotOf(`
  - { name: read, match: { pathPrefix: /r, methods: [GET] }, upstream: u }
  - { name: write, match: { pathPrefix: /r, methods: [POST, PUT] }, upstream: u }
`);
    assert.equal(route(s, 'GET', '/r'), 'read');
    assert.equal(route(s, 'HEAD', '/r'), 'read');
    assert.equal(route(s, 'PUT', '/r/1'), 'write');
    assert.equal(route(s, 'DELETE', '/r'), '405 GET,HEAD,POST,PUT');
  });

  it('headers: exact value or presence', async () => {
    const s = await snapshotOf(`
  - { name: v1, match: { pathPrefix: / }, upstream: u }
  - { name: v2, match: { pathPrefix: /, headers: { X-Version: "2" } }, upstream: u }
  - { name: beta, match: { pathPrefix: /, headers: { x-version: "2", x-beta: "*" } }, upstream: u }
`);
    assert.equal(route(s, 'GET', '/', 'h', {}), 'v1');
    assert.equal(route(s, 'GET', '/', 'h', { 'x-version': '2' }), 'v2');
    assert.equal(route(s, 'GET', '/', 'h', { 'x-version': '3' }), 'v1');
    assert.equal(route(s, 'GET', '/', 'h', { 'x-version': '2', 'x-beta': 'yes' }), 'beta');
  });

  it('real ties: first declared wins and a warning names both', async () => {
    const s = await snapshotOf(`
  - { name: first, match: { pathPrefix: /a }, upstream: u }
  - { name: second, match: { pathPrefix: /a/ }, upstream: u }
`);
    assert.equal(route(s, 'GET', '/a/x'), 'first');
    assert.equal(s.warnings.length, 1);
    assert.match(s.warnings[0]!, /routes\[1\] \(second\).*routes\[0\] \(first\)/);
  });

  it('issue 15: the most specific path match decides the method; no fall-through to a less specific route', async () => {
    const s = await snapshotOf(`
  - { name: root, match: { pathPrefix: / }, upstream: u }
  - { name: orders, match: { pathPrefix: /api/orders, methods: [GET] }, upstream: u }
`);
    assert.equal(route(s, 'GET', '/api/orders/1'), 'orders');
    assert.equal(route(s, 'HEAD', '/api/orders/1'), 'orders');
    assert.equal(route(s, 'POST', '/api/orders/1'), '405 GET,HEAD');
    assert.equal(route(s, 'DELETE', '/api/orders'), '405 GET,HEAD');
    assert.equal(route(s, 'POST', '/api/other'), 'root');
  });

  it('routes at the same path match with different methods share Allow; a method list beats "any" there', async () => {
    const s = await snapshotOf(`
  - { name: any, match: { path: /x }, upstream: u }
  - { name: get, match: { path: /x, methods: [GET] }, upstream: u }
  - { name: a, match: { path: /y, methods: [GET] }, upstream: u }
  - { name: b, match: { path: /y, methods: [PUT] }, upstream: u }
  - { name: wider, match: { pathPrefix: /y, methods: [POST] }, upstream: u }
`);
    assert.equal(route(s, 'GET', '/x'), 'get');
    assert.equal(route(s, 'POST', '/x'), 'any');
    assert.equal(route(s, 'PUT', '/y'), 'b');
    assert.equal(route(s, 'POST', '/y'), '405 GET,HEAD,PUT');
    assert.equal(route(s, 'POST', '/y/z'), 'wider');
  });

  it('match.methodFallthrough: only when every route of the path match opts in', async () => {
    const s = await snapshotOf(`
  - { name: root, match: { pathPrefix: / }, upstream: u }
  - { name: read, match: { pathPrefix: /r, methods: [GET], methodFallthrough: true }, upstream: u }
  - { name: mixed1, match: { pathPrefix: /m, methods: [GET], methodFallthrough: true }, upstream: u }
  - { name: mixed2, match: { pathPrefix: /m, methods: [PUT] }, upstream: u }
  - { name: chain, match: { pathPrefix: /r/s, methods: [PUT], methodFallthrough: true }, upstream: u }
`);
    assert.equal(route(s, 'POST', '/r/1'), 'root');
    assert.equal(route(s, 'GET', '/r/s'), 'read');
    assert.equal(route(s, 'POST', '/r/s'), 'root');
    assert.equal(route(s, 'POST', '/m'), '405 GET,HEAD,PUT');
  });

  it('header conditions are part of the path match; a refusing header route is 405', async () => {
    const s = await snapshotOf(`
  - { name: plain, match: { pathPrefix: /h }, upstream: u }
  - { name: beta, match: { pathPrefix: /h, headers: { x-beta: "*" }, methods: [GET] }, upstream: u }
`);
    assert.equal(route(s, 'POST', '/h', 'h', {}), 'plain');
    assert.equal(route(s, 'GET', '/h', 'h', { 'x-beta': '1' }), 'beta');
    assert.equal(route(s, 'POST', '/h', 'h', { 'x-beta': '1' }), '405 GET,HEAD');
  });

  it('patterns: more literal segments first, then the first differing segment literal', async () => {
    const s = await snapshotOf(`
  - { name: pl, match: { path: "/:a/b" }, upstream: u }
  - { name: lp, match: { path: "/a/:b" }, upstream: u }
  - { name: ll, match: { path: "/a/:x/c" }, upstream: u }
  - { name: pp, match: { path: "/:x/:y/c" }, upstream: u }
`);
    assert.equal(route(s, 'GET', '/a/b'), 'lp(b)');
    assert.equal(route(s, 'GET', '/z/b'), 'pl(z)');
    assert.equal(route(s, 'GET', '/a/q/c'), 'll(q)');
    assert.equal(route(s, 'GET', '/z/q/c'), 'pp(z,q)');
  });

  it('hosts: a route counts at its best host key; the longest matching wildcard ranks', async () => {
    const s = await snapshotOf(`
  - { name: both, match: { pathPrefix: /, hosts: ["*.example.com", "api.example.com"], methods: [GET] }, upstream: u }
  - { name: deep, match: { pathPrefix: /, hosts: ["*.b.example.com"] }, upstream: u }
  - { name: exact, match: { pathPrefix: /x, hosts: [api.example.com] }, upstream: u }
`);
    assert.equal(route(s, 'GET', '/x', 'api.example.com'), 'exact');
    assert.equal(route(s, 'GET', '/y', 'api.example.com'), 'both');
    assert.equal(route(s, 'POST', '/y', 'api.example.com'), '405 GET,HEAD');
    assert.equal(route(s, 'POST', '/y', 'a.b.example.com'), 'deep');
    assert.equal(route(s, 'GET', '/y', 'a.c.example.com'), 'both');
  });

  it('letter case: a case variant of a more specific route is refused; caseInsensitive routes take it', async () => {
    const s = await snapshotOf(`
  - { name: root, match: { pathPrefix: / }, upstream: u }
  - { name: admin, match: { pathPrefix: /admin }, upstream: u }
  - { name: Docs, match: { path: "/Docs/:page" }, upstream: u }
  - { name: ci, match: { pathPrefix: /Files, caseInsensitive: true }, upstream: u }
`);
    assert.equal(route(s, 'GET', '/admin/secret'), 'admin');
    assert.equal(route(s, 'GET', '/ADMIN/secret'), '400');
    assert.equal(route(s, 'GET', '/Admin'), '400');
    assert.equal(route(s, 'GET', '/adminx'), 'root');
    assert.equal(route(s, 'GET', '/Docs/Intro'), 'Docs(Intro)');
    assert.equal(route(s, 'GET', '/docs/Intro'), '400');
    assert.equal(route(s, 'GET', '/FILES/A'), 'ci');
    assert.equal(route(s, 'GET', '/files'), 'ci');
    const loose = await snapshotOf(
      `
  - { name: root, match: { pathPrefix: / }, upstream: u }
  - { name: admin, match: { pathPrefix: /admin }, upstream: u }
`,
      'server: { paths: { caseVariants: route } }',
    );
    assert.equal(route(loose, 'GET', '/ADMIN/secret'), 'root');
  });

  it('validate warns when a method list refuses methods a weaker, less specific route would take', async () => {
    const s = await snapshotOf(
      `
  - { name: root, match: { pathPrefix: / }, upstream: u }
  - { name: orders, match: { pathPrefix: /api/orders, methods: [GET] }, upstream: u, auth: { jwt: required } }
  - { name: open, match: { pathPrefix: /open, methods: [GET], methodFallthrough: true }, upstream: u, auth: { jwt: required } }
  - { name: same, match: { pathPrefix: /same, methods: [GET] }, upstream: u }
`,
      'jwt: { issuers: [{ name: t, issuer: t, algorithms: [HS256], secret: "0123456789abcdef0123456789abcdef" }] }',
    );
    const w = s.warnings.join('\n');
    assert.match(w, /routes\[1\] \(orders\): POST, PUT, PATCH, DELETE, OPTIONS, TRACE \/api\/orders are refused with 405 here; with match.methodFallthrough they would go to routes\[0\] \(root\), which has no jwt-auth/);
    assert.match(w, /routes\[2\] \(open\): methodFallthrough sends POST.* \/open to routes\[0\] \(root\), which has no jwt-auth/);
    assert.doesNotMatch(w, /\(same\)/);
  });
});
