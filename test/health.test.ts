/** Active health checks and passive ejection (outlier detection), driven by a hand-held clock over real sockets. */
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, it } from 'node:test';
import { configProblems, ManualTimers, startGateway, type TestGateway } from './helpers.js';

interface Backend {
  url: string;
  origin: string;
  /** Status /health answers. */
  health: number;
  /** Status everything else answers. */
  status: number;
  /** Requests other than /health. */
  served: number;
  probes: number;
  close(): Promise<void>;
}

async function backend(): Promise<Backend> {
  const b = { health: 200, status: 200, served: 0, probes: 0 } as Backend;
  const server = http.createServer((req, res) => {
    if (req.url === '/health') {
      b.probes++;
      res.writeHead(b.health).end();
      return;
    }
    b.served++;
    res.writeHead(b.status, { 'content-type': 'text/plain' }).end(String(b.status));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  b.origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  b.url = b.origin;
  b.close = () =>
    new Promise((r) => {
      server.closeAllConnections();
      server.close(() => r());
    });
  return b;
}

/** One probe round of every target: fire the due timers, wait for the probes to finish. */
async function round(gw: TestGateway, timers: ManualTimers, ms = 1100): Promise<void> {
  timers.advance(ms);
  await gw.gateway.snapshot.upstreams.get('u')!.checks!.settled();
}

async function metricsText(gw: TestGateway): Promise<string> {
  return (await fetch(`${gw.adminUrl}/metrics`)).text();
}

describe('active health checks', () => {
  it('takes a failing target out after unhealthyAfter, back after healthyAfter; logs each transition once; gauge and /upstreams', async () => {
    const a = await backend();
    const b = await backend();
    const timers = new ManualTimers();
    const gw = await startGateway(
      `
upstreams:
  u:
    targets: [{ url: ${a.url} }, { url: ${b.url} }]
    healthCheck: { path: /health, interval: 1s, timeout: 500ms, healthyAfter: 2, unhealthyAfter: 2, expectStatus: ["200-299"] }
routes: [{ name: r, match: { pathPrefix: / }, upstream: u }]
`,
      {},
      { timers },
    );
    try {
      await round(gw, timers, 200); // the first probes come early
      assert.equal(a.probes, 1);
      a.health = 503;
      await round(gw, timers);
      assert.equal(gw.gateway.snapshot.upstreams.get('u')!.targets[0]!.available, true, 'one failure is not enough');
      await round(gw, timers);
      await round(gw, timers);
      const lines = gw.logs.filter((l) => l['event'] === 'upstream.target_unhealthy');
      assert.equal(lines.length, 1, 'logged once, not every interval');
      assert.equal(lines[0]!['target'], a.origin);
      const servedA = a.served;
      for (let i = 0; i < 6; i++) assert.equal((await fetch(`${gw.url}/x`)).status, 200);
      assert.equal(a.served, servedA, 'no traffic to the unhealthy target');
      const text = await metricsText(gw);
      assert.match(text, new RegExp(`gateway_upstream_target_healthy\\{upstream="u",target="${a.origin}"\\} 0`));
      assert.match(text, new RegExp(`gateway_upstream_target_healthy\\{upstream="u",target="${b.origin}"\\} 1`));
      const ups = (await (await fetch(`${gw.adminUrl}/upstreams`)).json()) as { upstreams: Record<string, { targets: Array<{ healthy: boolean }> }> };
      assert.deepEqual(ups.upstreams['u']!.targets.map((t) => t.healthy), [false, true]);

      a.health = 200;
      await round(gw, timers);
      assert.equal(gw.gateway.snapshot.upstreams.get('u')!.targets[0]!.available, false, 'one pass is not enough');
      await round(gw, timers);
      assert.equal(gw.gateway.snapshot.upstreams.get('u')!.targets[0]!.available, true);
      assert.equal(gw.logs.filter((l) => l['event'] === 'upstream.target_healthy').length, 1);
    } finally {
      await gw.close();
      await a.close();
      await b.close();
    }
  });

  it('with every target unhealthy answers 503 GW_ERR_NO_HEALTHY_TARGET at once, without touching the network; close() stops the probes', async () => {
    const a = await backend();
    const timers = new ManualTimers();
    const gw = await startGateway(
      `
upstreams: { u: { targets: [{ url: ${a.url} }], healthCheck: { interval: 1s, unhealthyAfter: 1 } } }
routes: [{ name: r, match: { pathPrefix: / }, upstream: u }]
`,
      {},
      { timers },
    );
    a.health = 500;
    await round(gw, timers, 200);
    const res = await fetch(`${gw.url}/x`);
    assert.equal(res.status, 503);
    assert.equal(((await res.json()) as { code: string }).code, 'GW_ERR_NO_HEALTHY_TARGET');
    assert.equal(a.served, 0);
    await gw.close();
    const probes = a.probes;
    timers.advance(10_000);
    assert.equal(a.probes, probes, 'no probe after close');
    await a.close();
  });

  it('probes are kept across a reload that leaves the upstream alone, and restarted when it changes', async () => {
    const a = await backend();
    const timers = new ManualTimers();
    const yaml = (hc: string, extra = '') => `
server: { port: 0 }
admin: { port: 0 }
upstreams: { u: { targets: [{ url: ${a.url} }], healthCheck: { ${hc} } } }
routes: [{ name: r, match: { pathPrefix: / }, upstream: u }${extra}]
`;
    const gw = await startGateway(yaml('interval: 1s, unhealthyAfter: 1'), {}, { timers });
    try {
      a.health = 500;
      await round(gw, timers, 200);
      const before = gw.gateway.snapshot.upstreams.get('u')!;
      assert.equal(before.targets[0]!.available, false);
      const { parseConfig } = await import('../src/config/load.js');
      const same = parseConfig(yaml('interval: 1s, unhealthyAfter: 1', ', { name: r2, match: { pathPrefix: /two }, upstream: u }'));
      assert.equal((await gw.gateway.reload(same.config)).ok, true);
      assert.equal(gw.gateway.snapshot.upstreams.get('u'), before, 'same upstream, same probes and state');
      assert.equal(gw.gateway.snapshot.upstreams.get('u')!.targets[0]!.available, false);
      const changed = parseConfig(yaml('interval: 2s, unhealthyAfter: 1'));
      assert.equal((await gw.gateway.reload(changed.config)).ok, true);
      const after = gw.gateway.snapshot.upstreams.get('u')!;
      assert.notEqual(after, before);
      assert.ok(after.checks !== undefined, 'probes of the new upstream run');
      await new Promise((r) => setTimeout(r, 20)); // the old snapshot is released once idle
      assert.equal(before.checks, undefined, 'the old upstream\'s probes were stopped');
    } finally {
      await gw.close();
      await a.close();
    }
  });

  it('validates its settings with field paths', () => {
    const problems = configProblems(`
upstreams: { u: { targets: [{ url: "http://127.0.0.1:1" }], healthCheck: { interval: 1s, timeout: 2s, expectStatus: ["299-200", "abc"] } } }
routes: [{ name: r, match: { pathPrefix: / }, upstream: u }]
`);
    assert.ok(problems.some((p) => p.startsWith('upstreams.u.healthCheck.expectStatus[1]: expected a status like "200"')), problems.join('\n'));
    const semantic = configProblems(`
upstreams: { u: { targets: [{ url: "http://127.0.0.1:1" }], healthCheck: { interval: 1s, timeout: 2s, expectStatus: ["299-200"] } } }
routes: [{ name: r, match: { pathPrefix: / }, upstream: u }]
`);
    assert.ok(semantic.includes('upstreams.u.healthCheck.timeout: must be at most the interval (1s)'), semantic.join('\n'));
    assert.ok(semantic.some((p) => p.startsWith('upstreams.u.healthCheck.expectStatus[0]: the range 299-200 is empty')), semantic.join('\n'));
  });
});

describe('outlier detection', () => {
  const yaml = (a: Backend, b: Backend, od: string) => `
upstreams:
  u:
    targets: [{ url: ${a.url} }, { url: ${b.url} }]
    outlierDetection: { ${od} }
routes: [{ name: r, match: { pathPrefix: / }, upstream: u }]
`;

  it('ejects a target after consecutive 5xx, for longer each time, with one trial request in between', async () => {
    const a = await backend();
    const b = await backend();
    a.status = 500;
    const timers = new ManualTimers();
    const gw = await startGateway(yaml(a, b, 'consecutive5xx: 2, ejectionTime: 10s, maxEjectionTime: 25s'), {}, { timers });
    try {
      const statuses: number[] = [];
      for (let i = 0; i < 6; i++) statuses.push((await fetch(`${gw.url}/x`)).status);
      assert.equal(statuses.filter((s) => s === 500).length, 2, `two 5xx then ejected: ${statuses}`);
      const ejected = gw.logs.filter((l) => l['event'] === 'upstream.target_ejected');
      assert.equal(ejected.length, 1);
      assert.equal(ejected[0]!['reason'], '5xx');
      assert.equal(ejected[0]!['forMs'], 10_000);
      const served = a.served;
      timers.advance(10_000); // ejection over: trial
      const trial = [];
      for (let i = 0; i < 4; i++) trial.push((await fetch(`${gw.url}/x`)).status);
      assert.equal(a.served, served + 1, 'exactly one trial request');
      const again = gw.logs.filter((l) => l['event'] === 'upstream.target_ejected');
      assert.equal(again.length, 2, 'the failed trial ejects again');
      assert.equal(again[1]!['forMs'], 20_000, 'for longer');
      timers.advance(20_000);
      a.status = 200;
      assert.equal((await fetch(`${gw.url}/x`)).status, 200);
      assert.equal((await fetch(`${gw.url}/x`)).status, 200);
      assert.ok(gw.logs.some((l) => l['event'] === 'upstream.target_restored'), 'a good trial returns the target');
      const servedNow = a.served;
      for (let i = 0; i < 4; i++) await fetch(`${gw.url}/x`);
      assert.equal(a.served, servedNow + 2, 'back in the rotation');
    } finally {
      await gw.close();
      await a.close();
      await b.close();
    }
  });

  it('never ejects the last available target for 5xx', async () => {
    const a = await backend();
    const b = await backend();
    a.status = 503;
    b.status = 503;
    const timers = new ManualTimers();
    const gw = await startGateway(yaml(a, b, 'consecutive5xx: 1'), {}, { timers });
    try {
      for (let i = 0; i < 6; i++) assert.equal((await fetch(`${gw.url}/x`)).status, 503);
      assert.equal(gw.logs.filter((l) => l['event'] === 'upstream.target_ejected').length, 1, 'one ejected, the last one kept');
      assert.ok(b.served + a.served === 6);
    } finally {
      await gw.close();
      await a.close();
      await b.close();
    }
  });

  it('consecutive5xx: 0 leaves 5xx alone', async () => {
    const a = await backend();
    const b = await backend();
    a.status = 500;
    const gw = await startGateway(yaml(a, b, 'consecutive5xx: 0'), {}, { timers: new ManualTimers() });
    try {
      for (let i = 0; i < 10; i++) await fetch(`${gw.url}/x`);
      assert.equal(a.served, 5);
      assert.equal(gw.logs.filter((l) => l['event'] === 'upstream.target_ejected').length, 0);
    } finally {
      await gw.close();
      await a.close();
      await b.close();
    }
  });
});
