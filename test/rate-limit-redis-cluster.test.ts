/**
 * The Redis store beyond one server: a 3-node Redis Cluster and a Sentinel-watched master, each
 * started by the test on ephemeral loopback ports and torn down after. Without redis-server the
 * tests skip with a printed reason, except under CI (CI=true), where they fail.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Cluster } from 'ioredis';
import { toRate } from '../src/policies/rate-limit/algorithm.js';
import { createRedisStore } from '../src/policies/rate-limit/stores/redis.js';
import { keySlot } from '../src/policies/rate-limit/stores/slot.js';
import { startDemoBackend, startGateway, waitFor, type DemoBackend } from './helpers.js';

const haveRedis = spawnSync('redis-server', ['--version']).status === 0 && spawnSync('redis-cli', ['--version']).status === 0;
if (!haveRedis) {
  if (process.env['CI'] === 'true') throw new Error('redis-server and redis-cli are required under CI');
  console.log('# skipping Redis Cluster and Sentinel tests: redis-server or redis-cli is not installed');
}

async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise((r) => s.close(r));
  return port;
}

function cli(port: number, ...args: string[]): string {
  const r = spawnSync('redis-cli', ['-h', '127.0.0.1', '-p', String(port), ...args], { encoding: 'utf8', timeout: 10_000 });
  return r.stdout ?? '';
}

async function stop(children: ChildProcess[]): Promise<void> {
  await Promise.all(
    children.map(async (c) => {
      if (c.exitCode !== null || c.signalCode !== null) return;
      const exited = new Promise((r) => c.once('exit', r));
      c.kill('SIGKILL');
      await exited;
    }),
  );
}

function redisServer(dir: string, args: string[]): ChildProcess {
  return spawn('redis-server', ['--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, ...args], { stdio: 'ignore' });
}

const status = (url: string, headers: Record<string, string> = {}) =>
  fetch(url, { headers }).then(async (r) => {
    await r.body?.cancel();
    return r.status;
  });

describe('rate limiting on a Redis Cluster', { skip: !haveRedis }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'gw-cluster-'));
  const nodes: ChildProcess[] = [];
  const ports: number[] = [];
  let backend: DemoBackend;

  before(async () => {
    backend = await startDemoBackend();
    for (let i = 0; i < 3; i++) {
      const [port, bus] = [await freePort(), await freePort()];
      ports.push(port);
      // The bus port is set explicitly: port + 10000 may be past 65535 for an ephemeral port.
      nodes.push(redisServer(dir, ['--port', String(port), '--cluster-enabled', 'yes', '--cluster-port', String(bus), '--cluster-config-file', `nodes-${port}.conf`]));
    }
    await waitFor(() => ports.every((p) => cli(p, 'PING').trim() === 'PONG'), 10_000, 'cluster nodes to start');
    const create = spawnSync('redis-cli', ['--cluster', 'create', ...ports.map((p) => `127.0.0.1:${p}`), '--cluster-replicas', '0', '--cluster-yes'], {
      encoding: 'utf8',
      timeout: 30_000,
    });
    assert.equal(create.status, 0, create.stdout + create.stderr);
    await waitFor(() => ports.every((p) => cli(p, 'CLUSTER', 'INFO').includes('cluster_state:ok')), 15_000, 'cluster_state:ok');
  });

  after(async () => {
    await backend?.close();
    await stop(nodes);
    rmSync(dir, { recursive: true, force: true });
  });

  const config = (limits: string, extra = '') => `
rateLimit: { store: redis, redis: { cluster: [{ host: 127.0.0.1, port: ${ports[0]} }, "redis://127.0.0.1:${ports[1]}"], timeout: 2s, prefix: "gwc${Date.now()}:"${extra} }, onStoreError: deny }
upstreams: { backend: { targets: [{ url: ${backend.url} }] } }
routes:
  - name: api
    match: { pathPrefix: / }
    upstream: backend
    rateLimit: ${limits}
`;

  it('computes the slot Redis computes (hash tags, a "}" inside a tag, UTF-8)', () => {
    for (const key of ['foo', '{foo}bar', 'gw:{api:h:a}b}:n', 'gw:{}x', 'gw:{api}:ip-1s:ip:::1', 'gw:{api:h:ünï}:x', 'a{b']) {
      assert.equal(keySlot(key), Number(cli(ports[0]!, 'CLUSTER', 'KEYSLOT', key).trim()), key);
    }
  });

  it('the store sends one event-loop turn of requests as one script call per slot, and counts exactly', { timeout: 30_000 }, async () => {
    const store = createRedisStore({ cluster: [{ host: '127.0.0.1', port: ports[1]! }], prefix: `gwb${Date.now()}:`, timeoutMs: 2000 });
    try {
      assert.ok(await store.ready(10_000), 'connected to the cluster');
      assert.equal(store.sameSlotKeys, true);
      const rates = [toRate(2, 60_000, true), toRate(100, 3_600_000, true)];
      const buckets = Array.from({ length: 40 }, (_, i) => `{api:h:client-${i}}`);
      assert.ok(new Set(buckets.map((b) => keySlot(b))).size > 30, 'the buckets hash to many slots');
      // All hits are made in one turn, so they are batched together (MAX_BATCH at a time).
      const decisions = await Promise.all([0, 1, 2].flatMap(() => buckets.map((b) => store.hit([`${b}:a`, `${b}:b`], rates))));
      const allowed = new Map<string, number>();
      decisions.forEach((d, i) => {
        const b = buckets[i % buckets.length]!;
        allowed.set(b, (allowed.get(b) ?? 0) + (d.allowed ? 1 : 0));
      });
      for (const b of buckets) assert.equal(allowed.get(b), 2, b);
    } finally {
      await store.close();
    }
  });

  it('a burst of requests for many buckets (one batch, many slots) is counted exactly, bucket by bucket', { timeout: 30_000 }, async () => {
    const gw = await startGateway(config('[{ key: "header:x-key", limit: 2, window: 1m }, { key: "header:x-key", limit: 100, window: 1h }]'));
    try {
      const keys = Array.from({ length: 20 }, (_, i) => `client-${i}`);
      const results = await Promise.all(keys.flatMap((k) => [0, 1, 2].map(async () => ({ k, s: await status(gw.url, { 'x-key': k }) }))));
      for (const k of keys) {
        const mine = results.filter((r) => r.k === k).map((r) => r.s).sort();
        assert.deepEqual(mine, [200, 200, 429], k);
      }
      assert.equal(gw.logs.filter((l) => l['event'] === 'ratelimit.store_error').length, 0, 'no CROSSSLOT or other store error');
      // The value is in the hash tag: the buckets spread over the nodes.
      const holding = ports.filter((p) => Number(cli(p, 'DBSIZE').trim()) > 0);
      assert.ok(holding.length >= 2, `keys on ${holding.length} of 3 nodes`);
    } finally {
      await gw.close();
    }
  });

  it('limits keyed differently on one route (header and ip) share the route slot and are all enforced', { timeout: 30_000 }, async () => {
    const gw = await startGateway(config('[{ key: "header:x-key", limit: 5, window: 1m }, { key: ip, limit: 3, window: 1m }]'));
    try {
      const got = [];
      for (let i = 0; i < 5; i++) got.push(await status(gw.url, { 'x-key': `k${i}` }));
      assert.deepEqual(got, [200, 200, 200, 429, 429]);
      assert.equal(gw.logs.filter((l) => l['event'] === 'ratelimit.store_error').length, 0);
    } finally {
      await gw.close();
    }
  });

  it('two gateways on one cluster enforce one joint limit', { timeout: 30_000 }, async () => {
    const yaml = config('[{ key: route, limit: 10, window: 1m }]');
    const [a, b] = await Promise.all([startGateway(yaml), startGateway(yaml)]);
    try {
      const res = await Promise.all(Array.from({ length: 30 }, (_, i) => status(`${(i % 2 ? a : b).url}/x`)));
      assert.equal(res.filter((s) => s === 200).length, 10);
      assert.equal(res.filter((s) => s === 429).length, 20);
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });

  it('the keys really live in the cluster (an ioredis Cluster client reads the bucket)', async () => {
    const prefix = `gwk${Date.now()}:`;
    const gw = await startGateway(config('[{ key: route, limit: 10, window: 1m, name: all }]').replace(/prefix: "[^"]*"/, `prefix: "${prefix}"`));
    const reader = new Cluster([{ host: '127.0.0.1', port: ports[2]! }]);
    try {
      assert.equal(await status(gw.url), 200);
      assert.notEqual(await reader.get(`${prefix}{api:*}:all`), null);
    } finally {
      reader.disconnect();
      await gw.close();
    }
  });
});

describe('rate limiting through Redis Sentinel', { skip: !haveRedis }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'gw-sentinel-'));
  const children: ChildProcess[] = [];
  let backend: DemoBackend;
  let sentinelPort = 0;

  before(async () => {
    backend = await startDemoBackend();
    const masterPort = await freePort();
    sentinelPort = await freePort();
    children.push(redisServer(dir, ['--port', String(masterPort)]));
    await waitFor(() => cli(masterPort, 'PING').trim() === 'PONG', 10_000, 'master to start');
    const conf = join(dir, 'sentinel.conf');
    writeFileSync(conf, `port ${sentinelPort}\nbind 127.0.0.1\ndir ${dir}\nsentinel monitor gwtest 127.0.0.1 ${masterPort} 1\n`);
    children.push(spawn('redis-server', [conf, '--sentinel'], { stdio: 'ignore' }));
    await waitFor(() => cli(sentinelPort, 'SENTINEL', 'get-master-addr-by-name', 'gwtest').includes(String(masterPort)), 10_000, 'sentinel to know the master');
  });

  after(async () => {
    await backend?.close();
    await stop(children);
    rmSync(dir, { recursive: true, force: true });
  });

  it('finds the master through the sentinel and enforces the limit', { timeout: 30_000 }, async () => {
    const gw = await startGateway(`
rateLimit: { store: redis, redis: { sentinels: [{ host: 127.0.0.1, port: ${sentinelPort} }], name: gwtest, timeout: 2s, prefix: "gws${Date.now()}:" }, onStoreError: deny }
upstreams: { backend: { targets: [{ url: ${backend.url} }] } }
routes: [{ name: api, match: { pathPrefix: / }, upstream: backend, rateLimit: [{ key: ip, limit: 2, window: 1m }] }]
`);
    try {
      const got = [];
      for (let i = 0; i < 3; i++) got.push(await status(gw.url));
      assert.deepEqual(got, [200, 200, 429]);
    } finally {
      await gw.close();
    }
  });
});
