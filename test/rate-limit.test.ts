/** Rate limiting end to end with the memory store: real sockets, the demo backend counts what got through. */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { rawRequest, startDemoBackend, startGateway, type DemoBackend, type TestGateway } from './helpers.js';
import { handmade, now, SECRET } from './jwt-fixtures.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

const upstream = (url: string) => `upstreams: { backend: { targets: [{ url: ${url} }] } }`;
const route = (name: string, prefix: string, limits: string, extra = '') => `
  - name: ${name}
    match: { pathPrefix: ${prefix} }
    upstream: backend
    rateLimit: ${limits}${extra}`;

describe('rate limiting (memory store)', () => {
  let backend: DemoBackend;
  let gw: TestGateway;
  let trusted: TestGateway;
  let quiet: TestGateway;
  before(async () => {
    backend = await startDemoBackend();
    gw = await startGateway(`
${upstream(backend.url)}
defaults:
  rateLimit: [{ key: ip, limit: 1000, window: 1s, name: default }]
routes:${route('burst', '/burst', '[{ key: ip, limit: 5, window: 10s }]')}${route('refill', '/refill', '[{ key: ip, limit: 2, window: 1s }]')}${route(
      'multi',
      '/multi',
      '[{ key: ip, limit: 3, window: 10s }, { key: ip, limit: 100, window: 1m }]',
    )}${route('apikey', '/apikey', '[{ key: "header:X-Api-Key", limit: 2, window: 10s }]')}${route('consumer', '/consumer', '[{ key: consumer, limit: 2, window: 10s }]')}${route(
      'shadow',
      '/shadow',
      '[{ key: ip, limit: 1, window: 10s, mode: shadow }]',
    )}${route('spoof', '/spoof', '[{ key: ip, limit: 2, window: 10s }]')}
  - name: inherits
    match: { pathPrefix: /inherits }
    upstream: backend
  - name: optout
    match: { pathPrefix: /optout }
    upstream: backend
    rateLimit: []
`);
    trusted = await startGateway(`
server: { trustedProxies: [127.0.0.1, "::1"] }
${upstream(backend.url)}
routes:${route('xff', '/xff', '[{ key: ip, limit: 1, window: 10s }]')}${route('shared', '/shared', '[{ key: route, limit: 3, window: 10s }]')}
`);
    quiet = await startGateway(`
rateLimit: { headers: { draft11: false, legacy: false } }
${upstream(backend.url)}
routes:${route('q', '/', '[{ key: ip, limit: 1, window: 10s }]')}
`);
  });
  after(async () => {
    await Promise.all([gw.close(), trusted.close(), quiet.close()]);
    await backend.close();
  });

  it('lets exactly L of N concurrent requests through; the upstream never sees the rest', async () => {
    const before = backend.count();
    const res = await Promise.all(Array.from({ length: 30 }, () => fetch(`${gw.url}/burst/x`)));
    const statuses = res.map((r) => r.status);
    assert.equal(statuses.filter((s) => s === 200).length, 5);
    assert.equal(statuses.filter((s) => s === 429).length, 25);
    assert.equal(backend.count() - before, 5);
    const refused = res.find((r) => r.status === 429)!;
    assert.equal(refused.headers.get('content-type'), 'application/problem+json');
    assert.match(refused.headers.get('retry-after') ?? '', /^[12]$/);
    const body = (await refused.json()) as { code: string; status: number; requestId: string };
    assert.equal(body.code, 'GW_ERR_RATE_LIMITED');
    assert.equal(body.status, 429);
    assert.equal(refused.headers.get('ratelimit'), `"ip-10s";r=0;t=${refused.headers.get('retry-after')}`);
    await Promise.all(res.map((r) => (r.bodyUsed ? undefined : r.body?.cancel())));
  });

  it('answers every response with draft-11 and legacy headers', async () => {
    const res = await fetch(`${gw.url}/multi`);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('ratelimit-policy'), '"ip-10s";q=3;w=10, "ip-1m";q=100;w=60');
    assert.match(res.headers.get('ratelimit') ?? '', /^"ip-10s";r=2;t=4, "ip-1m";r=99;t=1$/);
    assert.equal(res.headers.get('ratelimit-limit'), '3');
    assert.equal(res.headers.get('ratelimit-remaining'), '2');
    assert.equal(res.headers.get('ratelimit-reset'), '4');
    await res.body?.cancel();
  });

  it('each set of headers can be switched off', async () => {
    const ok = await fetch(`${quiet.url}/`);
    const refused = await fetch(`${quiet.url}/`);
    assert.equal(refused.status, 429);
    for (const r of [ok, refused]) {
      for (const h of ['ratelimit', 'ratelimit-policy', 'ratelimit-limit', 'ratelimit-remaining', 'ratelimit-reset']) assert.equal(r.headers.get(h), null, h);
      await r.body?.cancel();
    }
    assert.ok(refused.headers.get('retry-after'));
  });

  it('refills: after Retry-After the client is served again', async () => {
    assert.equal((await fetch(`${gw.url}/refill`)).status, 200);
    assert.equal((await fetch(`${gw.url}/refill`)).status, 200);
    const refused = await fetch(`${gw.url}/refill`);
    assert.equal(refused.status, 429);
    assert.equal(refused.headers.get('retry-after'), '1');
    await sleep(520); // one request per 500 ms comes back
    assert.equal((await fetch(`${gw.url}/refill`)).status, 200);
    assert.equal((await fetch(`${gw.url}/refill`)).status, 429);
  });

  it('counts header keys per value, and per ip without the header', async () => {
    const get = (key?: string) => fetch(`${gw.url}/apikey`, { headers: key ? { 'x-api-key': key } : {} }).then((r) => r.status);
    assert.deepEqual([await get('a'), await get('a'), await get('a')], [200, 200, 429]);
    assert.deepEqual([await get('b'), await get('b'), await get('b')], [200, 200, 429]);
    assert.deepEqual([await get(), await get(), await get()], [200, 200, 429]);
  });

  it('consumer falls back to the client ip when the request is anonymous', async () => {
    const statuses = [];
    for (let i = 0; i < 3; i++) statuses.push((await fetch(`${gw.url}/consumer`)).status);
    assert.deepEqual(statuses, [200, 200, 429]);
  });

  it('a spoofed X-Forwarded-For from an untrusted peer does not change the ip key', async () => {
    const statuses = [];
    for (let i = 0; i < 4; i++) {
      const r = await rawRequest(gw.port, `GET /spoof HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: 198.51.100.${i}\r\nConnection: close\r\n\r\n`);
      statuses.push(r.status);
    }
    assert.deepEqual(statuses, [200, 200, 429, 429]);
  });

  it("a trusted proxy's X-Forwarded-For is the ip key", async () => {
    const get = (ip: string) => fetch(`${trusted.url}/xff`, { headers: { 'x-forwarded-for': ip } }).then((r) => r.status);
    assert.deepEqual([await get('198.51.100.1'), await get('198.51.100.1'), await get('198.51.100.2')], [200, 429, 200]);
  });

  it('key route is one bucket for every client', async () => {
    const get = (ip: string) => fetch(`${trusted.url}/shared`, { headers: { 'x-forwarded-for': ip } }).then((r) => r.status);
    assert.deepEqual([await get('192.0.2.1'), await get('192.0.2.2'), await get('192.0.2.3'), await get('192.0.2.4')], [200, 200, 200, 429]);
  });

  it('shadow mode counts, logs (rate-limited) and sets headers, but never rejects', async () => {
    const before = backend.count();
    const res = [];
    for (let i = 0; i < 5; i++) res.push(await fetch(`${gw.url}/shadow`));
    assert.deepEqual(res.map((r) => r.status), [200, 200, 200, 200, 200]);
    assert.equal(backend.count() - before, 5);
    assert.match(res[4]!.headers.get('ratelimit') ?? '', /^"ip-10s";r=0;t=\d+$/);
    const lines = gw.logs.filter((l) => l['event'] === 'ratelimit.shadow');
    assert.equal(lines.length, 1, 'one line per second, not one per request');
    assert.equal(lines[0]!['limit'], 'ip-10s');
    await Promise.all(res.map((r) => (r.bodyUsed ? undefined : r.body?.cancel())));
  });

  it('routes inherit limits from defaults; rateLimit: [] opts out', async () => {
    const inherit = await fetch(`${gw.url}/inherits`);
    assert.equal(inherit.headers.get('ratelimit-policy'), '"default";q=1000;w=1');
    const optout = await fetch(`${gw.url}/optout`);
    assert.equal(optout.headers.get('ratelimit-policy'), null);
    await Promise.all([inherit.body?.cancel(), optout.body?.cancel()]);
  });

  it("replaces an upstream's own X-Request-Id and RateLimit fields instead of repeating them", async () => {
    const echoing = http.createServer((req, res) => {
      res.writeHead(200, { 'x-request-id': String(req.headers['x-request-id']), 'ratelimit-limit': '7', ratelimit: '"up";r=6;t=1', 'x-kept': '1' });
      res.end('ok');
    });
    await new Promise<void>((resolve) => echoing.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(echoing.address() as AddressInfo).port}`;
    const limited = await startGateway(`
${upstream(url)}
routes:${route('limited', '/limited', '[{ key: ip, limit: 10, window: 10s }]')}
  - name: open
    match: { pathPrefix: /open }
    upstream: backend
`);
    try {
      const count = (head: string, name: string) => head.split('\r\n').filter((l) => l.toLowerCase().startsWith(`${name}:`)).length;
      const r = await rawRequest(limited.port, 'GET /limited HTTP/1.1\r\nHost: x\r\nX-Request-Id: rid-1\r\nConnection: close\r\n\r\n');
      assert.equal(r.status, 200);
      assert.equal(count(r.head, 'x-request-id'), 1, r.head);
      assert.equal(r.headers['x-request-id'], 'rid-1');
      assert.equal(count(r.head, 'ratelimit-limit'), 1, r.head);
      assert.equal(r.headers['ratelimit-limit'], '10');
      assert.equal(count(r.head, 'ratelimit'), 1, r.head);
      assert.equal(r.headers['x-kept'], '1');
      // Without limits of its own the gateway passes the upstream's RateLimit fields through.
      const open = await rawRequest(limited.port, 'GET /open HTTP/1.1\r\nHost: x\r\nX-Request-Id: rid-2\r\nConnection: close\r\n\r\n');
      assert.equal(count(open.head, 'x-request-id'), 1, open.head);
      assert.equal(open.headers['ratelimit-limit'], '7');
    } finally {
      await limited.close();
      echoing.close();
    }
  });
});

describe('rate limiting by consumer (JWT subjects)', () => {
  let backend: DemoBackend;
  let gw: TestGateway;
  before(async () => {
    backend = await startDemoBackend();
    gw = await startGateway(`
jwt: { issuers: [{ name: t, issuer: https://issuer.test, audiences: [api], algorithms: [HS256], secret: "${SECRET}" }] }
${upstream(backend.url)}
routes:
  - name: c
    match: { pathPrefix: /c }
    upstream: backend
    auth: { jwt: optional }
    rateLimit: [{ key: consumer, limit: 2, window: 10s }]
`);
  });
  after(async () => {
    await gw.close();
    await backend.close();
  });

  // The bucket key of the last principal is kept (perf): alternating consumers must still count apart.
  it('each subject has its own bucket, also when requests of different consumers alternate', async () => {
    const token = (sub: string) => handmade({ alg: 'HS256', typ: 'JWT' }, { iss: 'https://issuer.test', aud: 'api', sub, exp: now() + 600 });
    const [a, b] = [token('alice'), token('bob')];
    const get = (t?: string) => fetch(`${gw.url}/c`, { headers: t ? { authorization: `Bearer ${t}` } : {} }).then((r) => r.status);
    const statuses = [await get(a), await get(b), await get(a), await get(b), await get(a), await get(b), await get(), await get(), await get()];
    assert.deepEqual(statuses, [200, 200, 200, 200, 429, 429, 200, 200, 429]);
  });
});

describe('rate limiting: what a process loads', () => {
  // ioredis costs every process ~12 MiB of RSS (bench/README.md, "Memory"): loaded for a Redis store only.
  it('a gateway with memory-store limits never loads ioredis', () => {
    const script = `
      import { createRequire } from 'node:module';
      import { createGateway } from './src/index.ts';
      const gw = await createGateway({
        logging: { level: 'silent' },
        upstreams: { b: { targets: [{ url: 'http://127.0.0.1:9' }] } },
        routes: [{ name: 'r', match: { pathPrefix: '/' }, upstream: 'b', rateLimit: [{ key: 'ip', limit: 5, window: '1s' }] }],
      });
      const loaded = Object.keys(createRequire(import.meta.url).cache).some((f) => f.includes('/node_modules/ioredis/'));
      await gw.close(0);
      console.log(JSON.stringify({ loaded }));`;
    const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: ROOT, encoding: 'utf8', timeout: 30_000 });
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout.trim().split('\n').at(-1)!), { loaded: false });
  });
});
