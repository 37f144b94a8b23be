/**
 * Rate limiting through Redis: two gateways sharing one Redis enforce one joint limit, and a Redis
 * the test owns (redis-server on an ephemeral port) is killed, hung and restarted under both
 * onStoreError policies.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import { REDIS_URL, redisAvailable, startDemoBackend, startGateway, waitFor, type DemoBackend, type TestGateway } from './helpers.js';

const config = (backendUrl: string, redisUrl: string, prefix: string, limits: string, onStoreError = 'allow', timeout = '50ms') => `
rateLimit: { store: redis, redis: { url: "${redisUrl}", timeout: ${timeout}, prefix: "${prefix}" }, onStoreError: ${onStoreError} }
upstreams: { backend: { targets: [{ url: ${backendUrl} }] } }
routes:
  - name: api
    match: { pathPrefix: / }
    upstream: backend
    rateLimit: ${limits}
`;

async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise((r) => s.close(r));
  return port;
}

async function pong(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.on('connect', () => s.write('PING\r\n'));
    s.on('data', (d: Buffer) => {
      s.destroy();
      resolve(d.toString().startsWith('+PONG'));
    });
    s.on('error', () => resolve(false));
  });
}

/** A redis-server child on `port`, without persistence: a restart starts empty. */
async function startRedis(port: number): Promise<ChildProcess> {
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
  await waitFor(() => pong(port), 5000, `redis-server on ${port}`);
  return child;
}

async function stopRedis(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGKILL');
  await exited;
}

const status = (url: string) =>
  fetch(url).then(async (r) => {
    await r.body?.cancel();
    return { status: r.status, headers: r.headers };
  });

describe('rate limiting (redis store)', async () => {
  const ok = await redisAvailable();
  let backend: DemoBackend;
  before(async () => {
    backend = await startDemoBackend();
  });
  after(async () => {
    await backend?.close();
  });

  it('two gateway instances sharing one Redis enforce one joint limit, exactly', { skip: !ok }, async () => {
    const prefix = `gwtest:${randomUUID()}:`;
    // deny and a generous timeout: a slow store under a loaded test machine must fail loudly, not pass requests.
    const yaml = config(backend.url, REDIS_URL, prefix, '[{ key: route, limit: 10, window: 1m }]', 'deny', '2s');
    const [a, b] = await Promise.all([startGateway(yaml), startGateway(yaml)]);
    try {
      const before = backend.count();
      const res = await Promise.all(Array.from({ length: 40 }, (_, i) => status(`${(i % 2 ? a : b).url}/x`)));
      assert.equal(res.filter((r) => r.status === 200).length, 10);
      assert.equal(res.filter((r) => r.status === 429).length, 30);
      assert.equal(backend.count() - before, 10);
      assert.ok(res.every((r) => r.headers.get('ratelimit-policy') === '"route-1m";q=10;w=60'));
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });

  for (const policy of ['allow', 'deny'] as const) {
    it(`Redis killed and restarted, onStoreError: ${policy}`, { skip: !ok, timeout: 30_000 }, async () => {
      const port = await freePort();
      let redis = await startRedis(port);
      // A generous timeout: on a loaded machine a 50 ms one can expire while Redis is up (a 503 under
      // deny before the kill); with Redis down requests fail at once, whatever the timeout.
      const gw: TestGateway = await startGateway(config(backend.url, `redis://127.0.0.1:${port}`, 'gw:', '[{ key: ip, limit: 2, window: 1m }]', policy, '1s'));
      try {
        assert.deepEqual([(await status(gw.url)).status, (await status(gw.url)).status, (await status(gw.url)).status], [200, 200, 429]);

        await stopRedis(redis);
        const started = Date.now();
        const down = await Promise.all(Array.from({ length: 5 }, () => fetch(gw.url)));
        assert.ok(Date.now() - started < 1000, 'decided without waiting for Redis');
        const expected = policy === 'allow' ? 200 : 503;
        assert.deepEqual(down.map((r) => r.status), [expected, expected, expected, expected, expected]);
        assert.equal(down[0]!.headers.get('ratelimit'), null, 'no RateLimit field when the count is unknown');
        if (policy === 'deny') {
          const body = (await down[0]!.json()) as { code: string };
          assert.equal(body.code, 'GW_ERR_RATE_LIMIT_STORE');
        }
        await Promise.all(down.map((r) => (r.bodyUsed ? undefined : r.body?.cancel())));
        const errors = gw.logs.filter((l) => l['event'] === 'ratelimit.store_error');
        assert.equal(errors.length, 1, 'the store error is logged once, not once per request');

        redis = await startRedis(port); // empty: the buckets start afresh
        await waitFor(async () => (await status(gw.url)).headers.get('ratelimit') !== null, 5000, 'limiting to resume');
        // One request was counted by the waitFor above (or more: exhaust and check it refuses again).
        const after = [];
        for (let i = 0; i < 3; i++) after.push((await status(gw.url)).status);
        assert.equal(after.at(-1), 429);
      } finally {
        await gw.close();
        await stopRedis(redis);
      }
    });
  }

  it('a hung Redis is decided by onStoreError within the timeout', { skip: !ok, timeout: 20_000 }, async () => {
    const port = await freePort();
    const redis = await startRedis(port);
    const gw = await startGateway(config(backend.url, `redis://127.0.0.1:${port}`, 'gw:', '[{ key: ip, limit: 100, window: 1m }]', 'deny'));
    try {
      // Redis answers before it hangs: on a loaded machine one call can miss the 50 ms timeout (and be
      // denied), so the precondition is "a request gets 200", not "the first one does".
      let first = 0;
      for (let i = 0; i < 20 && first !== 200; i++) first = (await status(gw.url)).status;
      assert.equal(first, 200);
      redis.kill('SIGSTOP');
      const started = performance.now();
      const r = await status(gw.url);
      const took = performance.now() - started;
      assert.equal(r.status, 503);
      assert.ok(took < 500, `answered in ${took.toFixed(0)} ms (timeout 50 ms)`);
      redis.kill('SIGCONT');
      await waitFor(async () => (await status(gw.url)).status === 200, 5000, 'Redis to answer again');
    } finally {
      redis.kill('SIGCONT');
      await gw.close();
      await stopRedis(redis);
    }
  });
});
