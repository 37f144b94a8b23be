import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { startDemoBackend, startGateway, waitFor } from './helpers.js';

describe('load balancing over real targets', () => {
  it('weighted round-robin sends traffic in proportion to weight', async () => {
    const a = await startDemoBackend();
    const b = await startDemoBackend();
    const gw = await startGateway(`
upstreams:
  pool: { targets: [{ url: ${a.url}, weight: 3 }, { url: ${b.url}, weight: 1 }] }
routes: [{ name: r, match: { pathPrefix: / }, upstream: pool }]
`);
    try {
      for (let i = 0; i < 40; i++) assert.equal((await fetch(`${gw.url}/x`)).status, 200);
      assert.equal(a.count(), 30);
      assert.equal(b.count(), 10);
    } finally {
      await gw.close();
      await a.close();
      await b.close();
    }
  });

  it('least-connections steers around a busy target', async () => {
    const a = await startDemoBackend();
    const b = await startDemoBackend();
    const gw = await startGateway(`
upstreams:
  pool: { targets: [{ url: ${a.url} }, { url: ${b.url} }], balance: least-connections }
routes: [{ name: r, match: { pathPrefix: / }, upstream: pool }]
`);
    try {
      // hold one slow request, then the quick ones should avoid its target
      const slow = fetch(`${gw.url}/delay/2000`); // long enough to outlast the quick ones on a slow machine
      // Wait for it to reach a target (a fixed 50 ms was not enough on a loaded machine).
      await waitFor(() => a.count() + b.count() === 1, 3000, 'the slow request to reach a target');
      const slowTarget = a.count() === 1 ? a : b;
      const other = slowTarget === a ? b : a;
      for (let i = 0; i < 6; i++) await (await fetch(`${gw.url}/x`)).arrayBuffer();
      assert.equal(other.count(), 6);
      assert.equal((await slow).status, 200);
    } finally {
      await gw.close();
      await a.close();
      await b.close();
    }
  });
});
