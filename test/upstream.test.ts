import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import { basicConfig, closedPort, startDemoBackend, startGateway, waitFor, type DemoBackend, type TestGateway } from './helpers.js';


describe('upstream failures', () => {
  it('maps a refused connection to 502 with a problem+json body', async () => {
    const port = await closedPort();
    const gw = await startGateway(basicConfig(`http://127.0.0.1:${port}`));
    try {
      const res = await fetch(`${gw.url}/x`);
      assert.equal(res.status, 502);
      assert.equal(res.headers.get('content-type'), 'application/problem+json');
      const body = (await res.json()) as Record<string, unknown>;
      assert.equal(body['code'], 'GW_ERR_UPSTREAM_UNAVAILABLE');
      assert.equal(body['status'], 502);
      assert.equal(body['requestId'], res.headers.get('x-request-id'));
      assert.equal(typeof body['type'], 'string');
      assert.equal(typeof body['title'], 'string');
      assert.ok(gw.logs.some((l) => l['event'] === 'upstream.error' && l['kind'] === 'refused'));
    } finally {
      await gw.close();
    }
  });

  it('maps a reset connection to 502', async () => {
    const server = net.createServer((s) => s.once('data', () => s.resetAndDestroy()));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const gw = await startGateway(basicConfig(`http://127.0.0.1:${(server.address() as net.AddressInfo).port}`));
    try {
      const res = await fetch(`${gw.url}/x`);
      assert.equal(res.status, 502);
    } finally {
      await gw.close();
      server.close();
    }
  });

  it('maps a slow response head to 504 after the response timeout', async () => {
    const backend = await startDemoBackend();
    const gw = await startGateway(`
upstreams: { b: { targets: [{ url: ${backend.url} }], timeouts: { response: 200ms } } }
routes: [{ name: r, match: { pathPrefix: / }, upstream: b }]
`);
    try {
      const started = Date.now();
      const res = await fetch(`${gw.url}/delay/3000`);
      assert.equal(res.status, 504);
      assert.equal(((await res.json()) as { code: string }).code, 'GW_ERR_UPSTREAM_TIMEOUT');
      assert.ok(Date.now() - started < 2000);
    } finally {
      await gw.close();
      await backend.close();
    }
  });

  it('a route timeout overrides the upstream one', async () => {
    const backend = await startDemoBackend();
    const gw = await startGateway(`
upstreams: { b: { targets: [{ url: ${backend.url} }], timeouts: { response: 100ms } } }
routes: [{ name: r, match: { pathPrefix: / }, upstream: b, timeouts: { response: 2s } }]
`);
    try {
      const res = await fetch(`${gw.url}/delay/300`);
      assert.equal(res.status, 200);
    } finally {
      await gw.close();
      await backend.close();
    }
  });

  it('ejects a target that keeps refusing and answers 503 when none is left', async () => {
    const port = await closedPort();
    const gw = await startGateway(`
upstreams: { b: { targets: [{ url: "http://127.0.0.1:${port}" }], outlierDetection: { consecutiveFailures: 2, ejectionTime: 300ms } } }
routes: [{ name: r, match: { pathPrefix: / }, upstream: b }]
`);
    try {
      assert.equal((await fetch(`${gw.url}/x`)).status, 502);
      assert.equal((await fetch(`${gw.url}/x`)).status, 502);
      const res = await fetch(`${gw.url}/x`);
      assert.equal(res.status, 503);
      assert.equal(((await res.json()) as { code: string }).code, 'GW_ERR_NO_HEALTHY_TARGET');
      assert.ok(gw.logs.some((l) => l['event'] === 'upstream.target_ejected'));
      await new Promise((r) => setTimeout(r, 400));
      assert.equal((await fetch(`${gw.url}/x`)).status, 502, 'tried again after the ejection time');
    } finally {
      await gw.close();
    }
  });

  it('cuts the client connection when the upstream dies mid-body', async () => {
    const server = http.createServer((_req, res) => {
      res.writeHead(200, { 'content-length': '1000' });
      res.write('partial');
      setTimeout(() => res.socket?.destroy(), 20);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const gw = await startGateway(basicConfig(`http://127.0.0.1:${(server.address() as net.AddressInfo).port}`));
    try {
      const res = await fetch(`${gw.url}/x`);
      assert.equal(res.status, 200);
      await assert.rejects(res.arrayBuffer());
    } finally {
      await gw.close();
      server.close();
    }
  });
});

describe('client aborts', () => {
  let backend: DemoBackend;
  let gw: TestGateway;
  let upstreamClosed = 0;
  let upstream: http.Server;
  before(async () => {
    upstream = http.createServer((req, res) => {
      req.resume();
      res.on('close', () => upstreamClosed++);
      // never answers: only a client abort can end this request
    });
    await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
    backend = await startDemoBackend();
    gw = await startGateway(basicConfig(`http://127.0.0.1:${(upstream.address() as net.AddressInfo).port}`));
  });
  after(async () => {
    await gw.close();
    await backend.close();
    upstream.closeAllConnections();
    upstream.close();
  });

  it('aborts the upstream request when the client goes away', async () => {
    const sock = net.connect(gw.port, '127.0.0.1');
    sock.write('GET /hang HTTP/1.1\r\nHost: x\r\n\r\n');
    await waitFor(() => gw.gateway.requestsInFlight === 1, 2000, 'request in flight');
    await new Promise((r) => setTimeout(r, 50));
    sock.destroy();
    await waitFor(() => upstreamClosed === 1, 2000, 'upstream request closed');
    await waitFor(() => gw.gateway.requestsInFlight === 0, 2000, 'nothing in flight');
  });
});
