/**
 * The pipeline owns the whole exchange: user policies written with definePolicy answer locally with
 * any status, change the upstream request, see every response head (in reverse order, local replies
 * too), and a failing policy is a 500 that names the policy in the log only.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Type } from '@sinclair/typebox';
import { loadConfigFile } from '../src/config/load.js';
import { definePolicy, type AnyPolicy, type PolicyContext } from '../src/pipeline/contract.js';
import { BUILTIN_POLICIES } from '../src/policies/index.js';
import { ConfigError } from '../src/errors.js';
import { startDemoBackend, startGateway, waitFor, type DemoBackend, type TestGateway } from './helpers.js';

interface Echo {
  method: string;
  path: string;
  headers: Record<string, string>;
}

/** Records the order hooks run in, in a response header. */
function tracer(name: string, phase: 'auth' | 'transform', order: number): AnyPolicy {
  return definePolicy({
    name,
    phase,
    order,
    config: Type.Boolean(),
    create: (on) =>
      on
        ? {
            onRequest(ctx) {
              ctx.state ??= {};
              ctx.state['trail'] = `${(ctx.state['trail'] as string | undefined) ?? ''}>${name}`;
            },
            onResponse(ctx, head) {
              head.headers['x-trail'] = `${(head.headers['x-trail'] as string | undefined) ?? (ctx.state?.['trail'] as string | undefined) ?? ''}<${name}`;
            },
          }
        : undefined,
  });
}

const Reply = Type.Object({ status: Type.Integer({ minimum: 200, maximum: 599 }), location: Type.Optional(Type.String()), body: Type.Optional(Type.String()) }, { additionalProperties: false });
const replyPolicy = definePolicy({
  name: 'reply',
  phase: 'auth',
  order: 1,
  config: Reply,
  create: (cfg) => ({
    onRequest: () => ({ status: cfg.status, headers: cfg.location !== undefined ? { Location: cfg.location, 'Content-Length': '999' } : { 'content-type': 'text/plain' }, body: cfg.body }),
  }),
});

const Fail = Type.Union([Type.Literal('throw'), Type.Literal('reject'), Type.Literal('hang'), Type.Literal('bad-header'), Type.Literal('bad-result')]);
let doneCount = 0;
const failPolicy = definePolicy({
  name: 'boom',
  phase: 'transform',
  order: 1,
  config: Fail,
  timeout: 100,
  create: (how) => ({
    onRequest(): undefined | Promise<undefined> | { status: number; headers?: Record<string, string> } {
      if (how === 'throw') throw new Error('secret-detail-from-policy');
      if (how === 'reject') return Promise.reject(new Error('secret-detail-from-policy'));
      if (how === 'hang') return new Promise<undefined>(() => {});
      if (how === 'bad-header') return { status: 200, headers: { 'x-bad': 'a\r\nb' } };
      return 42 as unknown as undefined;
    },
    onDone: () => {
      doneCount++;
    },
  }),
});

const rewritePolicy = definePolicy({
  name: 'rewrite-req',
  phase: 'transform',
  order: 5,
  config: Type.Object({ path: Type.String(), query: Type.String() }),
  create: (cfg) => ({
    onRequest(ctx: PolicyContext) {
      ctx.setRequestHeader('x-tenant', `t-${ctx.param('id') ?? 'none'}`);
      ctx.removeUpstreamHeader('x-remove-me');
      ctx.setPath(cfg.path);
      ctx.setQuery(cfg.query);
    },
  }),
});

/** A global pre-route policy: answers OPTIONS for any path (no route needed), marks every response. */
const preRoute = definePolicy({
  name: 'edge',
  phase: 'pre-route',
  order: 1,
  config: Type.Object({ mark: Type.String() }),
  create: (cfg) => ({
    onRequest: (ctx) => (ctx.method === 'OPTIONS' ? { status: 204, headers: { 'access-control-allow-origin': '*' } } : undefined),
    onResponse: (_ctx, head) => {
      head.headers['x-edge'] = `${cfg.mark}:${head.local ? 'local' : 'upstream'}`;
    },
  }),
});

/** Changes the head with get/set/append/delete (the flat-list way); a later hook may still read head.headers. */
const fieldsPolicy = definePolicy({
  name: 'fields',
  phase: 'transform',
  order: 20,
  config: Type.Boolean(),
  create: () => ({
    onResponse: (_ctx, head) => {
      head.append('x-multi', 'a');
      head.append('x-multi', 'b');
      head.set('x-lines', String((head.get('x-multi') as string[]).length));
      head.set('x-number', 42);
      head.set('content-type', 'text/plain; charset=utf-8');
      head.delete('x-absent');
      head.set('x-gone', 'soon');
      head.delete('x-gone');
      head.set('x-saw-type', head.get('content-type') as string);
    },
  }),
});

const POLICIES: readonly AnyPolicy[] = [...BUILTIN_POLICIES, tracer('first', 'auth', 5), tracer('second', 'transform', 9), replyPolicy, failPolicy, rewritePolicy, preRoute, fieldsPolicy];

describe('pipeline contract', () => {
  let backend: DemoBackend;
  let gw: TestGateway;
  before(async () => {
    backend = await startDemoBackend();
    gw = await startGateway(
      `
edge: { mark: m1 }
upstreams: { b: { targets: [{ url: ${backend.url} }] } }
routes:
  - { name: trail, match: { pathPrefix: /trail }, upstream: b, first: true, second: true }
  - { name: fields, match: { pathPrefix: /fields }, upstream: b, fields: true, first: true }
  - { name: redirect, match: { pathPrefix: /go }, upstream: b, reply: { status: 302, location: "https://example.com/x" } }
  - { name: nocontent, match: { pathPrefix: /empty }, upstream: b, reply: { status: 204 } }
  - { name: cached, match: { pathPrefix: /cached }, upstream: b, reply: { status: 200, body: "from cache" }, first: true }
  - { name: throw, match: { pathPrefix: /throw }, upstream: b, boom: throw }
  - { name: reject, match: { pathPrefix: /reject }, upstream: b, boom: reject }
  - { name: hang, match: { pathPrefix: /hang }, upstream: b, boom: hang }
  - { name: badheader, match: { pathPrefix: /bad-header }, upstream: b, boom: bad-header }
  - { name: badresult, match: { pathPrefix: /bad-result }, upstream: b, boom: bad-result }
  - { name: rewrite, match: { path: /users/:id }, upstream: b, rewrite-req: { path: /v2/people, query: "a=1" } }
`,
      {},
      { policies: POLICIES },
    );
  });
  after(async () => {
    await gw?.close();
    await backend?.close();
  });

  it('runs request hooks in order and response hooks in reverse, on upstream responses', async () => {
    const res = await fetch(`${gw.url}/trail`);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('x-trail'), '>first>second<second<first');
    assert.equal(res.headers.get('x-edge'), 'm1:upstream', 'pre-route response hooks run last, on every response');
  });

  it('response hooks change an upstream head with get/set/append/delete, and a later hook still sees it as head.headers', async () => {
    const res = await fetch(`${gw.url}/fields`);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('x-multi'), 'a, b');
    assert.equal(res.headers.get('x-lines'), '2');
    assert.equal(res.headers.get('x-number'), '42');
    assert.equal(res.headers.get('content-type'), 'text/plain; charset=utf-8');
    assert.equal(res.headers.get('x-saw-type'), 'text/plain; charset=utf-8');
    assert.equal(res.headers.get('x-gone'), null);
    assert.equal(res.headers.get('x-trail'), '>first<first', 'the tracer (object view) ran after fields');
    assert.ok(res.headers.get('x-request-id'));
    assert.equal((await res.json() as Echo).path, '/fields');
  });

  it('answers locally with any status, headers and body', async () => {
    const redirect = await fetch(`${gw.url}/go`, { redirect: 'manual' });
    assert.equal(redirect.status, 302);
    assert.equal(redirect.headers.get('location'), 'https://example.com/x');
    assert.equal(redirect.headers.get('content-length'), '0', 'the gateway frames the reply, not the policy');
    assert.ok(redirect.headers.get('x-request-id'));
    const empty = await fetch(`${gw.url}/empty`);
    assert.equal(empty.status, 204);
    assert.equal(await empty.text(), '');
    const cached = await fetch(`${gw.url}/cached`);
    assert.equal(cached.status, 200);
    assert.equal(cached.headers.get('content-type'), 'text/plain');
    assert.equal(await cached.text(), 'from cache');
    assert.equal(cached.headers.get('x-trail'), '<first', 'response hooks see local replies too');
    assert.equal(cached.headers.get('x-edge'), 'm1:local');
    assert.equal(backend.seen().filter((r) => /^\/(go|empty|cached)/.test(r.url)).length, 0, 'nothing reached the upstream');
  });

  it('a pre-route policy answers requests no route matches, and marks refusals', async () => {
    const pre = await fetch(`${gw.url}/no/such/route`, { method: 'OPTIONS' });
    assert.equal(pre.status, 204);
    assert.equal(pre.headers.get('access-control-allow-origin'), '*');
    const missing = await fetch(`${gw.url}/no/such/route`);
    assert.equal(missing.status, 404);
    assert.equal(missing.headers.get('x-edge'), 'm1:local');
    assert.equal(((await missing.json()) as { code: string }).code, 'GW_ERR_ROUTE_NOT_FOUND');
  });

  for (const [path, why] of [
    ['/throw', 'throws'],
    ['/reject', 'rejects'],
    ['/hang', 'does not settle within its timeout'],
    ['/bad-header', 'replies with a header Node refuses'],
    ['/bad-result', 'returns something that is not a reply'],
  ] as const) {
    it(`a policy that ${why} gives 500 GW_ERR_POLICY_FAILED, named in the log only`, async () => {
      const before = doneCount;
      const res = await fetch(`${gw.url}${path}`);
      assert.equal(res.status, 500);
      const text = await res.text();
      const body = JSON.parse(text) as { code: string };
      assert.equal(body.code, 'GW_ERR_POLICY_FAILED');
      assert.ok(!text.includes('boom') && !text.includes('secret-detail'), 'the body names neither the policy nor its error');
      await waitFor(() => gw.logs.some((l) => l['event'] === 'policy.error' && l['policy'] === 'boom' && l['route'] === path.slice(1).replace('-', '')), 2000, 'policy.error line');
      await waitFor(() => doneCount === before + 1, 2000, 'onDone once');
    });
  }

  it('the gateway keeps serving after failing policies', async () => {
    const res = await fetch(`${gw.url}/trail`);
    assert.equal(res.status, 200);
  });

  it('changes the upstream request: headers, path and query; reads route params by name', async () => {
    const res = await fetch(`${gw.url}/users/42?x=y`, { headers: { 'x-remove-me': '1', 'x-tenant': 'spoofed' } });
    assert.equal(res.status, 200);
    const echo = (await res.json()) as Echo & { query: Record<string, string> };
    assert.equal(echo.path, '/v2/people');
    assert.deepEqual(echo.query, { a: '1' });
    assert.equal(echo.headers['x-tenant'], 't-42');
    assert.equal(echo.headers['x-remove-me'], undefined);
  });
});

describe('plugins from config', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'gw-plugins-'));
    const contract = new URL('../src/pipeline/contract.ts', import.meta.url).href;
    const typebox = import.meta.resolve('@sinclair/typebox');
    await writeFile(
      join(dir, 'tenant.mjs'),
      `import { Type } from ${JSON.stringify(typebox)};
import { definePolicy } from ${JSON.stringify(contract)};
export default definePolicy({
  name: 'tenant', phase: 'transform', order: 1,
  config: Type.Object({ header: Type.String({ pattern: '^[a-z-]+$' }) }, { additionalProperties: false }),
  create: (cfg) => ({ onRequest: (ctx) => (ctx.header(cfg.header) === undefined ? { status: 400, body: 'tenant?' } : undefined) }),
});
`,
    );
    await writeFile(join(dir, 'broken.mjs'), `export default { name: 'x y', phase: 'later' };\n`);
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const config = (plugins: string, tenant: string) => `
plugins: [${plugins}]
upstreams: { b: { targets: [{ url: "http://127.0.0.1:9" }] } }
routes:
  - { name: r, match: { pathPrefix: / }, upstream: b, tenant: ${tenant} }
`;

  it('loads a plugin relative to the config file and validates its fields with field paths', async () => {
    const file = join(dir, 'ok.yaml');
    await writeFile(file, config('"./tenant.mjs"', '{ header: x-tenant }'));
    const loaded = await loadConfigFile(file, {});
    assert.ok(loaded.policies.some((p) => p.name === 'tenant'));
    await writeFile(file, config('"./tenant.mjs"', '{ header: "X_T", extra: 1 }'));
    await assert.rejects(loadConfigFile(file, {}), (err: ConfigError) => {
      assert.ok(err.problems.some((p) => p.startsWith('routes[0].tenant.header:')), err.problems.join('\n'));
      assert.ok(err.problems.some((p) => p.startsWith('routes[0].tenant.extra:')), err.problems.join('\n'));
      return true;
    });
  });

  it('a missing or malformed plugin is a config problem naming plugins[i]', async () => {
    const file = join(dir, 'bad.yaml');
    await writeFile(file, config('"./nope.mjs", "./broken.mjs"', '{ header: x }'));
    await assert.rejects(loadConfigFile(file, {}), (err: ConfigError) => {
      assert.ok(err.problems.some((p) => p.startsWith('plugins[0]:') && p.includes('not found')), err.problems.join('\n'));
      assert.ok(err.problems.some((p) => p.startsWith('plugins[1]: name:')), err.problems.join('\n'));
      assert.ok(err.problems.some((p) => p.startsWith('plugins[1]: phase:')), err.problems.join('\n'));
      return true;
    });
  });

  it('a plugin may not take a field the gateway or a built-in owns', async () => {
    await writeFile(join(dir, 'clash.mjs'), `export default { name: 'clash', phase: 'auth', order: 1, field: 'auth', create() {} };\n`);
    const file = join(dir, 'clash.yaml');
    await writeFile(file, `plugins: ["./clash.mjs"]\nupstreams: {}\nroutes: []\n`);
    await assert.rejects(loadConfigFile(file, {}), (err: ConfigError) => err.problems.some((p) => p.includes('"auth" belongs to')));
  });
});
