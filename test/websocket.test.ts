/**
 * WebSocket through the gateway (issue 11 item 2), with the `ws` package on both sides: the handshake
 * runs the route's policies (JWT, rate limit one token per handshake), frames pass both ways,
 * upstream refusals pass through, routes without websocket: true refuse the upgrade, the access line
 * and metrics come when the tunnel closes, and shutdown sends close code 1001.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import { mkdtempSync } from 'node:fs';
import https from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { WebSocket, WebSocketServer } from 'ws';
import { writeSelfSigned } from '../src/util/self-signed.js';
import { createGateway } from '../src/index.js';
import { rawRequest, startGateway, waitFor, type TestGateway } from './helpers.js';

interface Backend {
  url: string;
  wss: WebSocketServer;
  server: http.Server | https.Server;
  handshakes: number;
  close(): Promise<void>;
}

/** An echo WebSocket server; /refuse answers 403 to the handshake; anything else echoes each message. */
async function wsBackend(secure?: { cert: Buffer; key: Buffer }): Promise<Backend> {
  const server = secure ? https.createServer(secure) : http.createServer((_req, res) => res.end('plain'));
  const b: Partial<Backend> & { handshakes: number } = { handshakes: 0 };
  const wss = new WebSocketServer({
    server,
    verifyClient: (info, cb) => {
      b.handshakes++;
      if (info.req.url === '/refuse') cb(false, 403, 'Forbidden', { 'x-why': 'because' });
      else cb(true);
    },
  });
  wss.on('connection', (ws, req) => {
    ws.send(`hello ${req.headers['x-forwarded-proto']} ${req.headers['sec-websocket-protocol'] ?? ''}`);
    ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  return Object.assign(b, {
    url: `${secure ? 'https' : 'http'}://127.0.0.1:${port}`,
    wss,
    server,
    close: async () => {
      for (const c of wss.clients) c.terminate();
      wss.close();
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  }) as Backend;
}

function open(url: string, opts: ConstructorParameters<typeof WebSocket>[2] = {}, protocols?: string[]): Promise<{ ws: WebSocket; first: string }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, protocols, opts);
    ws.once('message', (d) => resolve({ ws, first: d.toString() }));
    ws.once('error', reject);
    ws.once('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => reject(Object.assign(new Error(`status ${res.statusCode}`), { status: res.statusCode, headers: res.headers, body })));
    });
  });
}

function next(ws: WebSocket): Promise<Buffer> {
  return new Promise((resolve) => ws.once('message', (d: Buffer) => resolve(d)));
}

describe('WebSocket', () => {
  let backend: Backend;
  let gw: TestGateway;
  const wsUrl = (path: string) => `ws://127.0.0.1:${gw.port}${path}`;

  before(async () => {
    backend = await wsBackend();
    gw = await startGateway(`
metrics: { enabled: true }
upstreams:
  b: { targets: [{ url: ${backend.url} }] }
routes:
  - name: chat
    match: { pathPrefix: /chat }
    upstream: b
    websocket: true
    rateLimit: [{ key: ip, limit: 3, window: 60s }]
  - name: idle
    match: { pathPrefix: /idle }
    upstream: b
    websocket: true
    timeouts: { websocketIdle: 300ms }
  - name: plain
    match: { pathPrefix: /plain }
    upstream: b
`);
  });
  after(async () => {
    await gw.close();
    await backend.close();
  });

  it('opens a tunnel: frames both ways untouched, text and binary, subprotocol passed', async () => {
    const { ws, first } = await open(wsUrl('/chat'), {}, ['v1.chat']);
    assert.equal(first, 'hello http v1.chat');
    assert.equal(ws.protocol, 'v1.chat');
    ws.send('ping');
    assert.equal((await next(ws)).toString(), 'ping');
    const big = Buffer.alloc(256 * 1024, 7);
    ws.send(big);
    assert.deepEqual(await next(ws), big);
    ws.close(1000);
    await new Promise((r) => ws.once('close', r));
    await waitFor(() => gw.logs.some((l) => l['event'] === 'access' && l['route'] === 'chat' && l['status'] === 101), 3000, 'the access line of the tunnel');
    const line = gw.logs.find((l) => l['event'] === 'access' && l['route'] === 'chat')!;
    assert.ok((line['bytesIn'] as number) > big.length, `bytesIn ${line['bytesIn']}`);
    assert.ok((line['bytesOut'] as number) > big.length, `bytesOut ${line['bytesOut']}`);
    assert.equal(typeof line['durationMs'], 'number');
  });

  it('counts tunnels: gauge while open, total by route', async () => {
    const { ws } = await open(wsUrl('/chat/m'));
    const scrape = async () => (await fetch(`${gw.adminUrl}/metrics`)).text();
    await waitFor(async () => /^gateway_websocket_connections 1$/m.test(await scrape()), 3000, 'gauge 1');
    assert.match(await scrape(), /^gateway_websocket_connections_opened_total\{route="chat"\} 2$/m);
    ws.terminate();
    await waitFor(async () => /^gateway_websocket_connections 0$/m.test(await scrape()), 3000, 'gauge 0');
  });

  it('rate limit: one token per handshake, 429 problem+json, nothing reaches the upstream', async () => {
    const seen = backend.handshakes;
    const { ws } = await open(wsUrl('/chat/3')); // third token of 3
    const err = (await open(wsUrl('/chat/4')).catch((e: unknown) => e)) as { status: number; headers: Record<string, string>; body: string };
    assert.equal(err.status, 429);
    assert.match(err.headers['content-type']!, /application\/problem\+json/);
    assert.equal((JSON.parse(err.body) as { code: string }).code, 'GW_ERR_RATE_LIMITED');
    assert.equal(backend.handshakes, seen + 1);
    // Messages on an open tunnel do not take tokens.
    for (let i = 0; i < 5; i++) {
      ws.send(`m${i}`);
      assert.equal((await next(ws)).toString(), `m${i}`);
    }
    ws.close();
  });

  it('an upgrade on a route without websocket: true is refused with 400 and never reaches the upstream', async () => {
    const seen = backend.handshakes;
    const err = (await open(wsUrl('/plain')).catch((e: unknown) => e)) as { status: number; body: string };
    assert.equal(err.status, 400);
    assert.equal((JSON.parse(err.body) as { code: string }).code, 'GW_ERR_UPGRADE_REFUSED');
    assert.equal(backend.handshakes, seen);
  });

  it('a plain GET on a websocket route is proxied as HTTP', async () => {
    const res = await rawRequest(gw.port, 'GET /idle HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    assert.equal(res.status, 200);
    assert.equal(res.body, 'plain');
  });

  it('another Upgrade (h2c) is served as a plain request, the Upgrade header not passed on', async () => {
    const res = await rawRequest(gw.port, 'GET /idle HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAoAAAAAIAAAAA\r\n\r\n');
    assert.equal(res.status, 200);
    assert.equal(res.body, 'plain');
  });

  it('a tunnel idle longer than timeouts.websocketIdle is closed on both sides', async () => {
    const { ws } = await open(wsUrl('/idle'));
    const closed = await new Promise<number>((r) => ws.once('close', (code) => r(code)));
    assert.equal(closed, 1006); // cut without a close frame
    await waitFor(() => gw.logs.some((l) => l['event'] === 'websocket.idle_timeout'), 2000, 'websocket.idle_timeout');
  });

  it('traffic either way keeps a tunnel past its idle timeout; the silence after it closes it', async () => {
    const { ws } = await open(wsUrl('/idle'));
    let closedAt = 0;
    const closed = new Promise<string>((r) => ws.once('close', () => r(`closed at ${Math.round((closedAt = performance.now()))}`)));
    // 900 ms of echoes every 100 ms: three times the 300 ms timeout, never 300 ms silent.
    for (let i = 0; i < 9; i++) {
      await new Promise((r) => setTimeout(r, 100));
      assert.equal(closedAt, 0, `closed while frames were flowing (after ${i} echoes)`);
      ws.send(`ping ${i}`);
      assert.equal(String(await Promise.race([next(ws), closed])), `ping ${i}`);
    }
    const quiet = performance.now();
    await waitFor(() => closedAt > 0, 2000, 'tunnel closed after the silence');
    // Closed at most one sweep tick (a quarter of the timeout) after 300 ms of silence.
    assert.ok(closedAt - quiet >= 250 && closedAt - quiet < 800, `closed ${Math.round(closedAt - quiet)} ms into the silence`);
  });
});

describe('WebSocket refusals and wss://', () => {
  it('passes an upstream 403 on, and tunnels to a wss:// target (https upstream with tls.ca)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gw-wss-'));
    const pair = writeSelfSigned(dir, ['localhost', '127.0.0.1'], { name: 'up' });
    const backend = await wsBackend({ cert: readFileSync(pair.cert), key: readFileSync(pair.key) });
    const gw = await startGateway(`
upstreams:
  s: { targets: [{ url: ${backend.url} }], tls: { ca: ${pair.cert} } }
routes:
  - { name: ws, match: { pathPrefix: / }, upstream: s, websocket: true }
`);
    try {
      const { ws, first } = await open(`ws://127.0.0.1:${gw.port}/x`);
      assert.equal(first, 'hello http '); // the upstream sees the client's proto (plain ws to the gateway)
      ws.send('over tls');
      assert.equal((await next(ws)).toString(), 'over tls');
      ws.close();
      const err = (await open(`ws://127.0.0.1:${gw.port}/refuse`).catch((e: unknown) => e)) as { status: number; headers: Record<string, string> };
      assert.equal(err.status, 403);
      assert.equal(err.headers['x-why'], 'because');
      assert.ok(err.headers['x-request-id']);
    } finally {
      await gw.close();
      await backend.close();
    }
  });

  it('wss:// to the gateway: the upgrade on the TLS listener (HTTP/1.1 beside h2), X-Forwarded-Proto https', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gw-wss-in-'));
    const pair = writeSelfSigned(dir, ['localhost', '127.0.0.1'], { name: 'gw' });
    const backend = await wsBackend();
    const gw = await startGateway(`
server: { tls: { certificates: [{ cert: ${pair.cert}, key: ${pair.key} }] } }
upstreams: { b: { targets: [{ url: ${backend.url} }] } }
routes: [{ name: ws, match: { pathPrefix: / }, upstream: b, websocket: true }]
`);
    try {
      const { ws, first } = await open(`wss://127.0.0.1:${gw.port}/secure`, { ca: readFileSync(pair.cert), servername: 'localhost' });
      assert.equal(first, 'hello https ');
      ws.send('x');
      assert.equal((await next(ws)).toString(), 'x');
      ws.close();
    } finally {
      await gw.close();
      await backend.close();
    }
  });

  it('library mode: gateway.upgradeHandler on a node:http server the gateway is mounted in', async () => {
    const backend = await wsBackend();
    const gateway = await createGateway({
      logging: { level: 'silent' },
      upstreams: { b: { targets: [{ url: backend.url }] } },
      routes: [{ name: 'ws', match: { pathPrefix: '/' }, upstream: 'b', websocket: true }],
    });
    const server = http.createServer(gateway.handler);
    server.on('upgrade', gateway.upgradeHandler);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const { ws, first } = await open(`ws://127.0.0.1:${(server.address() as { port: number }).port}/lib`);
      assert.equal(first, 'hello http ');
      ws.close();
      await new Promise((r) => ws.once('close', r));
    } finally {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
      await gateway.close(0);
      await backend.close();
    }
  });

  it('graceful shutdown closes open tunnels with 1001 after the grace period', async () => {
    const backend = await wsBackend();
    const gw = await startGateway(`
upstreams: { b: { targets: [{ url: ${backend.url} }] } }
routes: [{ name: ws, match: { pathPrefix: / }, upstream: b, websocket: true }]
`);
    try {
      const { ws } = await open(`ws://127.0.0.1:${gw.port}/`);
      const upstreamClosed = new Promise<number>((r) => [...backend.wss.clients][0]!.once('close', (code) => r(code)));
      const clientClosed = new Promise<number>((r) => ws.once('close', (code) => r(code)));
      await gw.gateway.close(200);
      assert.equal(await clientClosed, 1001);
      assert.equal(await upstreamClosed, 1001);
    } finally {
      await gw.close();
      await backend.close();
    }
  });
});
