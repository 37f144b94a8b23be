/**
 * `gateway explain` and `gateway test`, end to end through the CLI: the request runs through the
 * real handler over an in-memory connection, so answers are the proxy's own; nothing reaches an
 * upstream (a real listener stands in as the target and must see no connection).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { loadConfigFile } from '../src/config/load.js';
import { explain, type Explanation } from '../src/explain/explain.js';
import { OfflineGateway, splitUrl } from '../src/explain/offline.js';
import { headerLines } from '../src/cli/explain.js';

const ROOT = join(import.meta.dirname, '..');
const CLI = join(ROOT, 'dist', 'cli.js');
const EXAMPLE = join(ROOT, 'gateway.example.yaml');
const dir = mkdtempSync(join(tmpdir(), 'gw-explain-'));

function file(name: string, text: string): string {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
}

const env = { ...process.env };
delete env['DEMO_BACKEND_URL'];
delete env['JWT_SECRET'];

function cli(...args: string[]) {
  return spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 30_000, env, cwd: dir });
}

/** Explanations in process, through the same offline gateway the CLI uses (each CLI start costs seconds on a busy machine). */
async function offline(config: string): Promise<{ explain(method: string, url: string, headers?: [string, string][]): Promise<Explanation>; close(): Promise<void> }> {
  const gw = await OfflineGateway.open(await loadConfigFile(config, env), config, env);
  return { explain: (method, url, headers = []) => explain(gw, { method, url, headers }), close: () => gw.close() };
}

describe('gateway explain and gateway test', () => {
  // A real listener where the upstream targets point: explain and test must never connect to it.
  let upstream: Server;
  let port = 0;
  let connections = 0;
  let routes: string;
  let ex: Awaited<ReturnType<typeof offline>>;
  let rt: Awaited<ReturnType<typeof offline>>;
  before(async () => {
    upstream = createServer((s) => {
      connections++;
      s.destroy();
    });
    await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
    port = (upstream.address() as { port: number }).port;
    const typebox = import.meta.resolve('@sinclair/typebox');
    file(
      'plugin.mjs',
      `import { Type } from ${JSON.stringify(typebox)};
export default [{
  name: 'tenant', phase: 'transform', order: 5,
  config: Type.Object({ header: Type.String({ description: 'Header naming the tenant.' }) }, { additionalProperties: false }),
  create(cfg) { return { onRequest(ctx) { if (ctx.header(cfg.header) === undefined) return { status: 400, body: 'tenant?' }; ctx.setRequestHeader('x-tenant-seen', ctx.header(cfg.header)); } }; },
}, {
  name: 'preflight', phase: 'pre-route', order: 1,
  config: Type.Object({ maxAge: Type.Integer({ description: 'Seconds a preflight is cached.' }) }, { additionalProperties: false }),
  create(cfg) { return { onRequest(ctx) { if (ctx.method === 'OPTIONS') return { status: 204, headers: { 'access-control-max-age': String(cfg.maxAge) } }; } }; },
}];
`,
    );
    routes = file(
      'routes.yaml',
      `plugins: [./plugin.mjs]
preflight: { maxAge: 600 }
server: { trustedProxies: [10.0.0.0/8] }
upstreams:
  a: { targets: [{ url: http://127.0.0.1:${port}/base }, { url: http://localhost:${port} }] }
  b: { targets: [{ url: http://127.0.0.1:${port} }] }
routes:
  - name: blue-users
    match: { pathPrefix: /users, hosts: [api.example.com], headers: { x-tenant: blue } }
    upstream: b
    tenant: { header: x-tenant }
  - name: users
    match: { pathPrefix: /users, hosts: [api.example.com] }
    upstream: a
    stripPrefix: true
  - name: items
    match: { path: /items/:id, hosts: ["*.example.org"], methods: [GET, PUT] }
    upstream: a
    rewrite: /v2/items/:id/detail
`,
    );
    ex = await offline(EXAMPLE);
    rt = await offline(routes);
  });
  after(async () => {
    await ex.close();
    await rt.close();
    await new Promise<void>((resolve) => upstream.close(() => resolve()));
    assert.equal(connections, 0, 'explain and test never connect to an upstream');
  });

  it('explain names the matched route, why it matched, and the rewritten upstream URL', () => {
    const r = cli('explain', '-c', EXAMPLE, 'GET', 'http://api.example.com/api/users/42?fields=name');
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /Route: users /);
    assert.match(r.stdout, /"\/api\/users\/42" matches prefix \/api\/users/);
    assert.match(r.stdout, /GET is in \[GET, POST\]/);
    assert.match(r.stdout, /^ {2}http:\/\/127\.0\.0\.1:9000\/users\/42\?fields=name$/m);
    assert.match(r.stdout, /1\. cors\s+auth[\s\S]*2\. rate-limit\s+admission/); // the example sets defaults.cors

    const j = cli('explain', '--json', '-c', EXAMPLE, 'GET', 'http://api.example.com/api/users/42?fields=name');
    assert.equal(j.status, 0, j.stderr);
    const e = JSON.parse(j.stdout) as Explanation;
    assert.equal(e.outcome.kind, 'forwarded');
    assert.equal(e.route?.name, 'users');
    assert.deepEqual(e.upstream?.urls, ['http://127.0.0.1:9000/users/42?fields=name']);
    assert.deepEqual(e.policies, [{ name: 'cors', phase: 'auth', answered: false }, { name: 'rate-limit', phase: 'admission', answered: false }]);
  });

  it('explain: a pattern rewrite, several targets with base paths, host and header conditions', async () => {
    const items = await rt.explain('GET', 'http://shop.example.org/items/9?z=1');
    assert.equal(items.route?.name, 'items');
    assert.match(items.route!.why['path']!, /id=9/);
    assert.deepEqual(items.upstream?.urls, [`http://127.0.0.1:${port}/base/v2/items/9/detail?z=1`, `http://localhost:${port}/v2/items/9/detail?z=1`]);

    const blue = await rt.explain('GET', 'https://api.example.com/users/7', [['x-tenant', 'blue']]);
    assert.equal(blue.route?.name, 'blue-users');
    assert.deepEqual(blue.policies.map((p) => [p.name, p.phase]), [['preflight', 'pre-route'], ['tenant', 'transform']]);
    assert.deepEqual(blue.upstream?.urls, [`http://127.0.0.1:${port}/users/7`]);

    // Another tenant falls through to the less specific route, and says why the first did not take it.
    const red = await rt.explain('GET', 'https://API.example.com:8443/users/7', [['x-tenant', 'red']]);
    assert.equal(red.matchedAs?.host, 'api.example.com');
    assert.equal(red.route?.name, 'users');
    assert.deepEqual(red.upstream?.urls, [`http://127.0.0.1:${port}/base/7`, `http://localhost:${port}/7`]);
    assert.equal(red.passedOver[0]?.route, 'blue-users');
    assert.match(red.passedOver[0]!.why.join(), /x-tenant: "blue" \(got "red"\)/);
  });

  it('explain: same path, other method is a 405 with Allow and the route as candidate', async () => {
    const r = cli('explain', '-c', EXAMPLE, 'DELETE', '/api/users/1');
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /405 GW_ERR_METHOD_NOT_ALLOWED, Allow: GET, HEAD, POST/);
    assert.match(r.stdout, /users \(#\d+\), same path, other method: DELETE is not in \[GET, POST\]/);
    const e = await rt.explain('POST', 'http://x.example.org/items/1');
    assert.equal(e.outcome.kind, 'method-not-allowed');
    assert.equal(e.outcome.allow, 'GET, HEAD, PUT');
    assert.deepEqual(e.candidates.map((c) => [c.route, c.kind]), [['items', 'method']]);
  });

  it('explain: no route, with the closest candidates (other host; nearest path)', async () => {
    const host = await rt.explain('GET', 'http://other.com/users/1');
    assert.equal(host.outcome.kind, 'no-route');
    assert.equal(host.outcome.status, 404);
    assert.equal(host.outcome.code, 'GW_ERR_ROUTE_NOT_FOUND');
    assert.deepEqual(host.candidates.map((c) => [c.route, c.kind]), [['blue-users', 'host'], ['users', 'host']]);
    assert.match(host.candidates[1]!.why.join(), /host "other.com" is not one of \[api.example.com\]/);

    const r = cli('explain', '-c', EXAMPLE, 'GET', '/api/orderz/1');
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /No route matches: 404 GW_ERR_ROUTE_NOT_FOUND/);
    assert.match(r.stdout, /Closest routes:\n {2}orders \(#\d+\), nearest path: "\/api\/orderz\/1" does not match prefix \/api\/orders/);
  });

  it('explain: refusals before routing, pre-route answers and route policies that answer', async () => {
    const bad = await ex.explain('GET', '/api/echo/a%2Fb');
    assert.equal(bad.outcome.kind, 'refused-before-routing');
    assert.equal(bad.outcome.status, 400);
    assert.equal(bad.outcome.code, 'GW_ERR_PATH_INVALID');

    const pre = await rt.explain('OPTIONS', 'http://api.example.com/users/1');
    assert.equal(pre.outcome.kind, 'answered-before-routing');
    assert.equal(pre.outcome.status, 204);
    assert.equal(pre.outcome.answeredBy, 'preflight');

    const jwt = cli('explain', '-c', EXAMPLE, 'GET', '/api/orders/7/items');
    assert.equal(jwt.status, 0, jwt.stderr);
    assert.match(jwt.stdout, /2\. jwt-auth\s+auth\s+<- answered 401 GW_ERR_AUTH_MISSING/);
    assert.match(jwt.stdout, /where it would go once past the policies:\n {2}http:\/\/127\.0\.0\.1:9000\/orders\/7\/items\n/);
  });

  it('explain: usage errors exit 2, an invalid config 1', () => {
    const usage = cli('explain', '-c', EXAMPLE, 'GET');
    assert.equal(usage.status, 2);
    assert.match(usage.stderr, /expected METHOD and URL/);
    assert.match(String(splitUrl('ftp://x/y')), /only http and https/);
    assert.match(String(splitUrl('x/y')), /expected an absolute URL/);
    assert.deepEqual(splitUrl('http://h:8/a/../b?q'), { target: '/a/../b?q', authority: 'h:8' }, 'nothing normalised before the gateway does');
    assert.deepEqual(splitUrl('http://h?q'), { target: '/?q', authority: 'h' });
    assert.match(String(headerLines(['novalue'])), /-H expects "name: value"/);
    assert.deepEqual(headerLines(['X-A:  1 ', 'b: c:d']), [['X-A', '1'], ['b', 'c:d']]);
    const r = cli('explain', '-c', file('bad.yaml', 'upstreams: {}\nroutes: [{ name: a, match: { pathPrefix: /a }, upstream: nope }]\n'), 'GET', '/a');
    assert.equal(r.status, 1);
    assert.match(r.stderr, /routes\[0\]\.upstream: unknown upstream "nope"/);
  });

  it('test: the example route tests pass against the example config (exit 0)', () => {
    const r = cli('test', join(ROOT, 'examples', 'routes.test.yaml'));
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /(\d+) passed, 0 failed/);
  });

  it('test: real statuses for local answers, upstream URLs and headers; a mismatch exits 1 naming expected and got', () => {
    const passing = file(
      'ok.test.yaml',
      `config: ./routes.yaml
cases:
  - name: preflight answered before routing
    request: { method: OPTIONS, url: "http://api.example.com/users/1" }
    expect: { route: null, status: 204, headers: { access-control-max-age: "600", allow: null } }
  - request: { method: GET, url: "https://api.example.com/users/1", headers: { x-tenant: blue } }
    expect: { route: blue-users, upstreamUrl: "http://127.0.0.1:${port}/users/1", upstreamHeaders: { x-tenant-seen: blue, host: null } }
  - request: { method: GET, url: "http://a.example.org/items/5" }
    expect: { route: items, upstreamUrl: "http://localhost:${port}/v2/items/5/detail" }
  - request: { method: DELETE, url: "http://a.example.org/items/5" }
    expect: { status: 405, headers: { allow: "GET, HEAD, PUT" } }
  - request: { method: GET, url: "http://nowhere.test/x/../%2e%2e/users" }
    expect: { status: 404, route: null }
  - request: { method: GET, url: "http://api.example.com/users/%2F" }
    expect: { status: 400 }
  - name: a trusted load balancer's X-Forwarded-For is kept and extended
    request: { url: "http://api.example.com/users/1", remoteAddress: 10.0.0.5, headers: { x-forwarded-for: 203.0.113.9 } }
    expect: { route: users, upstreamHeaders: { x-forwarded-for: "203.0.113.9, 10.0.0.5" } }
  - name: from anyone else it is replaced
    request: { url: "http://api.example.com/users/1", remoteAddress: "2001:db8::1", headers: { x-forwarded-for: 203.0.113.9 } }
    expect: { route: users, upstreamHeaders: { x-forwarded-for: "2001:db8::1" } }
`,
    );
    const ok = cli('test', passing);
    assert.equal(ok.status, 0, ok.stdout + ok.stderr);
    assert.match(ok.stdout, /8 passed, 0 failed/);

    const failing = file(
      'fail.test.yaml',
      `- name: wrong route
  request: { url: "http://api.example.com/users/1" }
  expect: { route: blue-users, upstreamUrl: "http://127.0.0.1:${port}/users/1" }
- name: forwarded, not answered
  request: { url: "http://api.example.com/users/1" }
  expect: { status: 200 }
- name: right
  request: { url: "http://api.example.com/users/1" }
  expect: { route: users }
`,
    );
    const bad = cli('test', '--config', routes, failing);
    assert.equal(bad.status, 1, bad.stdout + bad.stderr);
    assert.match(bad.stdout, /FAIL wrong route\n {5}route\n {7}expected: blue-users\n {7}got: {6}users\n/);
    assert.match(bad.stdout, /upstreamUrl\n {7}expected: http:\/\/127\.0\.0\.1:\d+\/users\/1\n {7}got: {6}\["http:\/\/127\.0\.0\.1:\d+\/base\/1","http:\/\/localhost:\d+\/1"\]/);
    assert.match(bad.stdout, /status\n {7}expected: 200\n {7}got: {6}forwarded to /);
    assert.match(bad.stdout, /ok {3}right/);
    assert.match(bad.stdout, /1 passed, 2 failed/);

    const json = cli('test', '--json', '--config', routes, failing);
    assert.equal(json.status, 1);
    const report = JSON.parse(json.stdout) as { ok: boolean; failed: number; cases: { ok: boolean; failures: { field: string }[] }[] };
    assert.equal(report.ok, false);
    assert.equal(report.failed, 2);
    assert.deepEqual(report.cases[0]!.failures.map((f) => f.field), ['route', 'upstreamUrl']);
  });

  it('test: an unusable test file exits 2 naming the field', () => {
    const r = cli('test', '--config', routes, file('broken.test.yaml', `- request: { method: GET }\n  expect: {}\n- request: { url: /x }\n  expect: { status: "ok" }\n`));
    assert.equal(r.status, 2, r.stdout + r.stderr);
    assert.match(r.stderr, /\[0\]\.request\.url: required/);
    assert.match(r.stderr, /\[1\]\.expect\.status: /);
    assert.equal(cli('test', join(dir, 'missing.test.yaml')).status, 2);
  });

  it('schema and docs include plugin fields with --config or --plugin', () => {
    const s = cli('schema', '--config', routes);
    assert.equal(s.status, 0, s.stderr);
    const schema = JSON.parse(s.stdout) as { properties: Record<string, { properties?: Record<string, unknown> }> & { routes: { items: { properties: Record<string, unknown> } } } };
    assert.ok('preflight' in schema.properties, 'pre-route plugin field at the top level');
    assert.ok('tenant' in schema.properties.routes.items.properties, 'route plugin field');
    const d = cli('docs', '--plugin', join(dir, 'plugin.mjs'));
    assert.equal(d.status, 0, d.stderr);
    assert.match(d.stdout, /\| `routes\[\]\.tenant\.header` \| string \| \*\*required\*\* \| Header naming the tenant\. \|/);
    assert.match(d.stdout, /\| `preflight\.maxAge` \| integer \| \*\*required\*\* \| Seconds a preflight is cached\. \|/);
    assert.equal(cli('schema', '--plugin', join(dir, 'nope.mjs')).status, 1);
  });
});
