import { Registry } from 'prom-client';
import { BUILTIN_POLICIES } from '../policies/index.js';
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseConfig } from '../config/load.js';
import { compileSnapshot, type Snapshot } from './compile.js';
import { matchRoute } from './match.js';
import { PoolSet } from '../upstream/upstream.js';
import { NO_METRICS } from '../pipeline/policy.js';
import pino from 'pino';

async function snapshotOf(routes: string): Promise<Snapshot> {
  const { config, warnings } = parseConfig(`
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
  const r = matchRoute(snap.routes, method, host, path, { headers });
  if (r === undefined) return '404';
  if (r.route === undefined) return `405 ${r.allow.join(',')}`;
  return r.params.length ? `${r.route.name}(${r.params.join(',')})` : r.route.name;
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
});
