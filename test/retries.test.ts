/**
 * Retries: a failed try of an idempotent request goes to another target before anything reached the
 * client; a POST is not retried unless the route says so; a small body is sent again whole; the
 * budget caps retries; the access line and the metrics count them.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { parseExposition, sampleValue } from './exposition.js';
import { closedPort, startGateway, waitFor, type TestGateway } from './helpers.js';

interface Backend {
  url: string;
  hits: number;
  bodies: string[];
  close(): Promise<void>;
}

/** A backend that answers every request with `status`, echoing the body's sha256. */
async function backend(status: number): Promise<Backend> {
  const b: Backend = { url: '', hits: 0, bodies: [], close: async () => {} };
  const server = http.createServer((req, res) => {
    b.hits++;
    const hash = createHash('sha256');
    req.on('data', (c: Buffer) => hash.update(c));
    req.on('end', () => {
      const digest = hash.digest('hex');
      b.bodies.push(digest);
      res.writeHead(status, { 'content-type': 'text/plain' });
      res.end(`${status} ${digest}`);
    });
  });
  server.keepAliveTimeout = 1000;
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  b.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  b.close = () =>
    new Promise<void>((r) => {
      server.closeAllConnections();
      server.close(() => r());
    });
  return b;
}

describe('retries', () => {
  let bad: Backend;
  let good: Backend;
  let dead: number;
  let gw: TestGateway;
  before(async () => {
    bad = await backend(503);
    good = await backend(200);
    dead = await closedPort();
    gw = await startGateway(`
# Outlier detection off (both triggers): every request may land on the failing target.
upstreams:
  flaky:
    targets: [{ url: ${bad.url} }, { url: ${good.url} }]
    outlierDetection: { consecutiveFailures: 0, consecutive5xx: 0 }
    retries: { attempts: 2, on: [connect-failure, reset, 502, 503], backoff: { base: 1ms, max: 5ms } }
  down:
    targets: [{ url: "http://127.0.0.1:${dead}" }, { url: ${good.url} }]
    outlierDetection: { consecutiveFailures: 0, consecutive5xx: 0 }
    retries: { attempts: 1, backoff: { base: 1ms, max: 5ms } }
  tight:
    targets: [{ url: ${bad.url} }]
    outlierDetection: { consecutiveFailures: 0, consecutive5xx: 0 }
    retries: { attempts: 2, budget: "0%", minRetriesPerSecond: 0, backoff: { base: 1ms, max: 2ms } }
routes:
  - { name: flaky, match: { pathPrefix: /flaky }, upstream: flaky }
  - { name: posts, match: { pathPrefix: /posts }, upstream: flaky, retries: { methods: [GET, POST], backoff: { base: 1ms, max: 5ms } } }
  - { name: down, match: { pathPrefix: /down }, upstream: down }
  - { name: tight, match: { pathPrefix: /tight }, upstream: tight }
  - { name: never, match: { pathPrefix: /never }, upstream: flaky, retries: false }
`);
  });
  after(async () => {
    await gw?.close();
    await bad?.close();
    await good?.close();
  });

  const metric = async (name: string, labels: Record<string, string>) =>
    sampleValue(parseExposition(await (await fetch(`${gw.adminUrl}/metrics`)).text()), name, name, labels) ?? 0;

  it('a GET that gets a 503 is answered by the other target, and the access line says 2 attempts', async () => {
    for (let i = 0; i < 6; i++) {
      const res = await fetch(`${gw.url}/flaky/x`);
      assert.equal(res.status, 200);
      assert.match(await res.text(), /^200 /);
    }
    assert.ok(bad.hits >= 1, 'the failing target was tried');
    await waitFor(() => gw.logs.some((l) => l['event'] === 'access' && l['route'] === 'flaky' && l['attempts'] === 2), 2000, 'an access line with attempts: 2');
    assert.ok(await metric('gateway_upstream_retries_total', { upstream: 'flaky', reason: '503' }) >= 1);
  });

  it('a refused connection is retried on the other target', async () => {
    for (let i = 0; i < 4; i++) assert.equal((await fetch(`${gw.url}/down/x`)).status, 200);
    assert.ok(await metric('gateway_upstream_retries_total', { upstream: 'down', reason: 'connect-failure' }) >= 1);
  });

  it('a POST is not retried unless the route says so; with it, its body is sent again whole', async () => {
    const before = bad.hits;
    const statuses: number[] = [];
    for (let i = 0; i < 4; i++) statuses.push((await fetch(`${gw.url}/flaky/x`, { method: 'POST', body: 'p' })).status);
    assert.ok(statuses.includes(503), `a POST to the failing target is answered as it was: ${statuses.join(',')}`);
    assert.equal(bad.hits - before, statuses.filter((s) => s === 503).length, 'each 503 is one try, never retried');

    const body = 'b'.repeat(10_000);
    const digest = createHash('sha256').update(body).digest('hex');
    for (let i = 0; i < 4; i++) {
      const res = await fetch(`${gw.url}/posts/x`, { method: 'POST', body });
      assert.equal(res.status, 200);
      assert.equal(await res.text(), `200 ${digest}`, 'the retried try carried the same body');
    }
    assert.ok(bad.bodies.includes(digest), 'the first try went to the failing target with the body');
  });

  it('retries: false on a route switches the upstream\'s retries off', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 4; i++) statuses.push((await fetch(`${gw.url}/never/x`)).status);
    assert.ok(statuses.includes(503));
  });

  it('the budget caps retries: with 0% and no floor only the initial allowance is spent, then none', async () => {
    for (let i = 0; i < 12; i++) assert.equal((await fetch(`${gw.url}/tight/x`)).status, 503);
    assert.equal(await metric('gateway_upstream_retries_total', { upstream: 'tight', reason: '503' }), 10, 'the bucket starts with 10 retries');
    assert.ok((await metric('gateway_upstream_retry_budget_exhausted_total', { upstream: 'tight' })) >= 1);
  });
});

describe('retries and outlier detection', () => {
  it('a 5xx dropped for a retry still counts for outlier detection: the target answering 503 is ejected', async () => {
    const bad = await backend(503);
    const good = await backend(200);
    const gw = await startGateway(`
upstreams:
  u:
    targets: [{ url: ${bad.url} }, { url: ${good.url} }]
    outlierDetection: { consecutive5xx: 2 }
    retries: { attempts: 2, on: [connect-failure, reset, 502, 503], backoff: { base: 1ms, max: 5ms } }
routes: [{ name: r, match: { pathPrefix: / }, upstream: u }]
`);
    try {
      for (let i = 0; i < 6; i++) {
        const res = await fetch(`${gw.url}/x${i}`);
        assert.equal(res.status, 200, 'every 503 was retried on the other target');
        await res.arrayBuffer();
      }
      const state = (await (await fetch(`${gw.adminUrl}/upstreams`)).json()) as { upstreams: { u: { targets: { target: string; outlier: string }[] } } };
      const target = state.upstreams.u.targets.find((t) => t.target === bad.url)!;
      assert.equal(target.outlier, 'ejected');
      assert.ok(gw.logs.some((l) => l['event'] === 'upstream.target_ejected' && l['reason'] === '5xx'));
    } finally {
      await gw.close();
      await bad.close();
      await good.close();
    }
  });
});
