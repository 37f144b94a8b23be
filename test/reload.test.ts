/** Hot reload in one process: POST /reload, what is kept, what is re-read, what happens to requests in flight. */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { jose, keyPair, now, tmp } from './jwt-fixtures.js';
import { startDemoBackend, startGateway, waitFor, writeConfigFile, type DemoBackend, type TestGateway } from './helpers.js';

const head = `
server: { port: 0 }
admin: { port: 0 }
`;

function config(backend: string, routes: string, upstreamExtra = ''): string {
  return `${head}
upstreams:
  b: { targets: [{ url: ${backend} }]${upstreamExtra} }
routes:
${routes}`;
}

const ROUTE_A = `  - { name: a, match: { pathPrefix: /a }, upstream: b }\n`;
const ROUTE_B = `  - { name: b, match: { pathPrefix: /b }, upstream: b }\n`;

async function postReload(gw: TestGateway): Promise<{ status: number; type: string | null; body: Record<string, unknown> }> {
  const res = await fetch(`${gw.adminUrl}/reload`, { method: 'POST' });
  return { status: res.status, type: res.headers.get('content-type'), body: (await res.json()) as Record<string, unknown> };
}

async function metric(gw: TestGateway, line: string): Promise<number | undefined> {
  const text = await (await fetch(`${gw.adminUrl}/metrics`)).text();
  const found = text.split('\n').find((l) => l.startsWith(line + ' '));
  return found === undefined ? undefined : Number(found.slice(line.length + 1));
}

describe('hot reload', () => {
  let backend: DemoBackend;
  let connections = 0;
  before(async () => {
    backend = await startDemoBackend();
    backend.server.on('connection', () => connections++);
  });
  after(() => backend.close());

  it('POST /reload swaps in the edited file: 200 with the diff, new routes serve, metrics and log line', async () => {
    const file = writeConfigFile(config(backend.url, ROUTE_A));
    const gw = await startGateway(config(backend.url, ROUTE_A), {}, { configFile: file });
    try {
      assert.equal((await fetch(`${gw.url}/b/x`)).status, 404);
      writeFileSync(file, config(backend.url, ROUTE_B));
      const r = await postReload(gw);
      assert.equal(r.status, 200);
      assert.deepEqual((r.body['diff'] as Record<string, unknown>)['added'], ['b']);
      assert.deepEqual((r.body['diff'] as Record<string, unknown>)['removed'], ['a']);
      assert.equal((await fetch(`${gw.url}/b/x`)).status, 200);
      assert.equal((await fetch(`${gw.url}/a/x`)).status, 404);
      const line = gw.logs.find((l) => l['event'] === 'config.reloaded');
      assert.ok(line, 'config.reloaded logged');
      assert.deepEqual(line['added'], ['b']);
      assert.equal(await metric(gw, 'gateway_config_reloads_total{result="success"}'), 1);
      assert.ok((await metric(gw, 'gateway_config_last_reload_success_timestamp_seconds'))! > Date.now() / 1000 - 60);
      assert.equal((await fetch(`${gw.adminUrl}/ready`)).status, 200);
    } finally {
      await gw.close();
    }
  });

  it('an invalid file keeps the old config: 422 problem+json listing every problem with its field path, logged', async () => {
    const file = writeConfigFile(config(backend.url, ROUTE_A));
    const gw = await startGateway(config(backend.url, ROUTE_A), {}, { configFile: file });
    try {
      writeFileSync(file, config(backend.url, `  - { name: a, match: { pathPrefix: /a }, upstream: nope, stripPrefx: true }\n`));
      const r = await postReload(gw);
      assert.equal(r.status, 422);
      assert.equal(r.type, 'application/problem+json');
      assert.equal(r.body['code'], 'GW_ERR_CONFIG_INVALID');
      const problems = r.body['problems'] as string[];
      assert.ok(problems.some((p) => p.startsWith('routes[0].stripPrefx: unknown field')), problems.join('\n'));
      assert.ok(problems.some((p) => p.startsWith('routes[0].upstream: unknown upstream "nope"')), problems.join('\n'));
      assert.equal((await fetch(`${gw.url}/a/x`)).status, 200, 'the old config keeps serving');
      assert.ok(gw.logs.some((l) => l['event'] === 'config.reload_failed'));
      for (const p of problems) assert.ok(gw.logs.some((l) => l['event'] === 'config.problem' && l['msg'] === p), `logged: ${p}`);
      assert.equal(await metric(gw, 'gateway_config_reloads_total{result="failure"}'), 1);
      assert.equal((await fetch(`${gw.adminUrl}/reload`)).status, 405);
    } finally {
      await gw.close();
    }
  });

  it('requests in flight finish on the old snapshot, also when their upstream changed; /ready stays 200', async () => {
    const slowRoute = `  - { name: a, match: { pathPrefix: /a }, upstream: b, stripPrefix: true }\n`;
    const file = writeConfigFile(config(backend.url, slowRoute));
    const gw = await startGateway(config(backend.url, slowRoute), {}, { configFile: file });
    try {
      const slow = fetch(`${gw.url}/a/delay/400`);
      await waitFor(() => gw.gateway.requestsInFlight === 1, 2000, 'request in flight');
      // A new upstream config (other connection settings): the old pool must stay until the request is done.
      writeFileSync(file, config(backend.url, ROUTE_B, ', connections: 7'));
      const r = await postReload(gw);
      assert.equal(r.status, 200);
      assert.deepEqual((r.body['diff'] as Record<string, unknown>)['upstreamsChanged'], ['b']);
      assert.equal((await fetch(`${gw.adminUrl}/ready`)).status, 200);
      const res = await slow;
      assert.equal(res.status, 200, 'the in-flight request finished on its snapshot');
      await res.arrayBuffer();
      assert.equal((await fetch(`${gw.url}/b/x`)).status, 200);
    } finally {
      await gw.close();
    }
  });

  it('an unchanged upstream keeps its pool (no new connection) and its object; a changed one is rebuilt', async () => {
    const file = writeConfigFile(config(backend.url, ROUTE_A));
    const gw = await startGateway(config(backend.url, ROUTE_A), {}, { configFile: file });
    try {
      assert.equal((await fetch(`${gw.url}/a/x`)).status, 200);
      const before = connections;
      const upstream = gw.gateway.snapshot.upstreams.get('b');
      writeFileSync(file, config(backend.url, ROUTE_A + ROUTE_B));
      assert.equal((await postReload(gw)).status, 200);
      assert.equal(gw.gateway.snapshot.upstreams.get('b'), upstream, 'same upstream object');
      for (let i = 0; i < 5; i++) assert.equal((await fetch(`${gw.url}/a/x`)).status, 200);
      assert.equal(connections, before, 'the warm connection was reused');
      writeFileSync(file, config(backend.url, ROUTE_A, ', timeouts: { response: 5s }'));
      assert.equal((await postReload(gw)).status, 200);
      assert.notEqual(gw.gateway.snapshot.upstreams.get('b'), upstream, 'changed upstream rebuilt');
    } finally {
      await gw.close();
    }
  });

  it('rate-limit buckets survive a reload that keeps the limit', async () => {
    const limited = `  - { name: a, match: { pathPrefix: /a }, upstream: b, rateLimit: [{ key: ip, limit: 2, window: 1m }] }\n`;
    const file = writeConfigFile(config(backend.url, limited));
    const gw = await startGateway(config(backend.url, limited), {}, { configFile: file });
    try {
      assert.equal((await fetch(`${gw.url}/a/x`)).status, 200);
      assert.equal((await fetch(`${gw.url}/a/x`)).status, 200);
      writeFileSync(file, config(backend.url, limited + ROUTE_B));
      assert.equal((await postReload(gw)).status, 200);
      assert.equal((await fetch(`${gw.url}/a/x`)).status, 429, 'the bucket was kept');
    } finally {
      await gw.close();
    }
  });

  it('re-reads publicKeyFile on reload (docs/auth.md): the rotated key verifies, the old one no longer does', async () => {
    const dir = tmp();
    const keyFile = join(dir, 'key.pem');
    const one = keyPair('rsa');
    const two = keyPair('rsa');
    writeFileSync(keyFile, one.publicKey.export({ type: 'spki', format: 'pem' }));
    const yaml = `${head}
jwt: { issuers: [{ name: f, issuer: https://f.test, algorithms: [RS256], publicKeyFile: ${keyFile} }] }
upstreams: { b: { targets: [{ url: ${backend.url} }] } }
routes: [{ name: a, match: { pathPrefix: /a }, upstream: b, auth: { jwt: required } }]
`;
    const file = writeConfigFile(yaml);
    const gw = await startGateway(yaml, {}, { configFile: file });
    try {
      const claims = { iss: 'https://f.test', sub: 'u', exp: now() + 600 };
      const t1 = await jose('RS256', one.privateKey, claims);
      const t2 = await jose('RS256', two.privateKey, claims);
      const get = (t: string) => fetch(`${gw.url}/a/x`, { headers: { authorization: `Bearer ${t}` } }).then((r) => r.status);
      assert.equal(await get(t1), 200);
      assert.equal(await get(t2), 401);
      // The same file unchanged: a reload keeps the key (and the tokens it verified).
      assert.equal((await postReload(gw)).status, 200);
      assert.equal(await get(t1), 200);
      writeFileSync(keyFile, two.publicKey.export({ type: 'spki', format: 'pem' }));
      assert.equal((await postReload(gw)).status, 200);
      assert.equal(await get(t2), 200, 'the new key verifies');
      assert.equal(await get(t1), 401, 'the cached token of the removed key is refused');
      // An unreadable key file: the reload fails with the field path, the current key keeps serving.
      writeFileSync(file, yaml.replace(keyFile, join(dir, 'missing.pem')));
      const r = await postReload(gw);
      assert.equal(r.status, 422);
      assert.ok((r.body['problems'] as string[]).some((p) => p.startsWith('jwt.issuers[0].publicKeyFile: cannot read')));
      assert.equal(await get(t2), 200);
    } finally {
      await gw.close();
    }
  });

  it('without a config file, POST /reload answers 500 GW_ERR_RELOAD_FAILED', async () => {
    const gw = await startGateway(config(backend.url, ROUTE_A));
    try {
      const r = await postReload(gw);
      assert.equal(r.status, 500);
      assert.equal(r.body['code'], 'GW_ERR_RELOAD_FAILED');
    } finally {
      await gw.close();
    }
  });

  it('a large file (read on a worker thread) reloads, and its problems come back with their field paths', async () => {
    const many = (n: number, upstream = 'b') =>
      Array.from({ length: n }, (_, i) => `  - { name: route-number-${i}, match: { pathPrefix: /r${i} }, upstream: ${i === n - 1 ? upstream : 'b'}, stripPrefix: true }\n`).join('');
    const file = writeConfigFile(config(backend.url, ROUTE_A));
    const gw = await startGateway(config(backend.url, ROUTE_A), {}, { configFile: file });
    try {
      const big = config(backend.url, many(500));
      assert.ok(Buffer.byteLength(big) > 32 * 1024, 'above the thread threshold');
      writeFileSync(file, big);
      const r = await postReload(gw);
      assert.equal(r.status, 200, JSON.stringify(r.body));
      assert.equal(gw.gateway.snapshot.routes.length, 500);
      assert.ok(Object.isFrozen(gw.gateway.snapshot.config.routes[0]), 'the config is frozen again after crossing threads');
      assert.equal((await fetch(`${gw.url}/r499/x`)).status, 200);
      writeFileSync(file, config(backend.url, many(500, 'nope')));
      const bad = await postReload(gw);
      assert.equal(bad.status, 422);
      assert.ok((bad.body['problems'] as string[]).some((p) => p.startsWith('routes[499].upstream: unknown upstream "nope"')));
    } finally {
      await gw.close();
    }
  });
});
