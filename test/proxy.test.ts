import assert from 'node:assert/strict';
import http from 'node:http';
import { after, before, describe, it } from 'node:test';
import { basicConfig, rawRequest, startDemoBackend, startGateway, waitFor, type DemoBackend, type TestGateway } from './helpers.js';

interface Echo {
  method: string;
  path: string;
  rawPath: string;
  query: Record<string, string>;
  headers: Record<string, string>;
  body: { bytes: number; sha256: string };
}

describe('proxy behaviour', () => {
  let backend: DemoBackend;
  let gw: TestGateway;
  before(async () => {
    backend = await startDemoBackend();
    gw = await startGateway(`
upstreams:
  backend: { targets: [{ url: ${backend.url} }] }
  based: { targets: [{ url: "${backend.url}/base/" }] }
routes:
  - { name: api, match: { pathPrefix: / }, upstream: backend }
  - { name: strip, match: { pathPrefix: /strip }, upstream: backend, stripPrefix: true }
  - { name: rewrite, match: { pathPrefix: /old }, upstream: backend, rewrite: /new/v1 }
  - { name: param, match: { path: "/users/:id/orders/:order" }, upstream: backend, rewrite: "/v2/orders/:order/of/:id" }
  - { name: based, match: { pathPrefix: /based }, upstream: based, stripPrefix: true }
  - { name: host, match: { pathPrefix: /keep-host }, upstream: backend, preserveHost: true }
  - { name: small, match: { pathPrefix: /small }, upstream: backend, maxBodySize: 1kb }
`);
  });
  after(async () => {
    await gw.close();
    await backend.close();
  });

  it('forwards method, path, query and body; returns the backend status and body', async () => {
    const res = await fetch(`${gw.url}/hello/world?x=1&y=two`, { method: 'POST', body: 'abc', headers: { 'content-type': 'text/plain' } });
    assert.equal(res.status, 200);
    const body = (await res.json()) as Echo;
    assert.equal(body.method, 'POST');
    assert.equal(body.path, '/hello/world');
    assert.deepEqual(body.query, { x: '1', y: 'two' });
    assert.equal(body.body.bytes, 3);
    assert.equal(body.headers['content-type'], 'text/plain');
  });

  it('strips a prefix, rewrites a prefix, substitutes parameters and honours a target base path', async () => {
    const strip = (await (await fetch(`${gw.url}/strip/a/b?q=1`)).json()) as Echo;
    assert.equal(strip.rawPath, '/a/b');
    const bare = (await (await fetch(`${gw.url}/strip`)).json()) as Echo;
    assert.equal(bare.rawPath, '/');
    const rw = (await (await fetch(`${gw.url}/old/x`)).json()) as Echo;
    assert.equal(rw.rawPath, '/new/v1/x');
    const param = (await (await fetch(`${gw.url}/users/7/orders/99`)).json()) as Echo;
    assert.equal(param.rawPath, '/v2/orders/99/of/7');
    const based = (await (await fetch(`${gw.url}/based/y`)).json()) as Echo;
    assert.equal(based.rawPath, '/base/y');
  });

  it("sends the target's Host by default and the client's with preserveHost", async () => {
    const plain = (await (await fetch(`${gw.url}/x`)).json()) as Echo;
    assert.equal(plain.headers['host'], new URL(backend.url).host);
    const kept = await rawRequest(gw.port, 'GET /keep-host HTTP/1.1\r\nHost: api.example.com\r\nConnection: close\r\n\r\n');
    assert.equal((JSON.parse(kept.body) as Echo).headers['host'], 'api.example.com');
  });

  it('removes hop-by-hop headers and those named in Connection, but never its own', async () => {
    const res = await rawRequest(
      gw.port,
      'GET /x HTTP/1.1\r\nHost: localhost\r\nConnection: close, X-Secret, X-Forwarded-For, X-Request-Id\r\n' +
        'X-Secret: s\r\nKeep-Alive: timeout=5\r\nProxy-Authorization: Basic x\r\nTE: trailers\r\nUpgrade: h2c\r\nX-Request-Id: abc-123\r\nX-Kept: k\r\n\r\n',
    );
    assert.equal(res.status, 200);
    const h = (JSON.parse(res.body) as Echo).headers;
    for (const gone of ['x-secret', 'keep-alive', 'proxy-authorization', 'te', 'upgrade']) assert.equal(h[gone], undefined, gone);
    assert.equal(h['x-kept'], 'k');
    assert.equal(h['x-forwarded-for'], '127.0.0.1');
    assert.equal(h['x-request-id'], 'abc-123');
    assert.equal(res.headers['x-request-id'], 'abc-123');
  });

  it('keeps a well-formed X-Request-Id and replaces a malformed one', async () => {
    const good = await fetch(`${gw.url}/x`, { headers: { 'x-request-id': 'req-42.a:b' } });
    assert.equal(good.headers.get('x-request-id'), 'req-42.a:b');
    const bad = await fetch(`${gw.url}/x`, { headers: { 'x-request-id': 'has spaces <script>' } });
    const id = bad.headers.get('x-request-id')!;
    assert.match(id, /^[0-9a-f-]{36}$/);
    assert.equal(((await bad.json()) as Echo).headers['x-request-id'], id);
  });

  it('replaces X-Forwarded-* from an untrusted peer', async () => {
    const res = await fetch(`${gw.url}/x`, { headers: { 'x-forwarded-for': '6.6.6.6', 'x-forwarded-proto': 'https', 'x-forwarded-host': 'evil', forwarded: 'for=6.6.6.6' } });
    const h = ((await res.json()) as Echo).headers;
    assert.equal(h['x-forwarded-for'], '127.0.0.1');
    assert.equal(h['x-forwarded-proto'], 'http');
    assert.equal(h['x-forwarded-host'], new URL(gw.url).host);
    assert.equal(h['forwarded'], undefined);
  });

  it('strips hop-by-hop headers from the response', async () => {
    const upstream = http.createServer((_req, res) => {
      res.writeHead(200, { connection: 'keep-alive, x-hop', 'x-hop': '1', 'keep-alive': 'timeout=5', 'x-end': '2', 'content-length': '2' });
      res.end('ok');
    });
    await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
    const port = (upstream.address() as { port: number }).port;
    const g = await startGateway(basicConfig(`http://127.0.0.1:${port}`));
    try {
      const res = await rawRequest(g.port, 'GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
      assert.equal(res.status, 200);
      assert.equal(res.headers['x-hop'], undefined);
      assert.equal(res.headers['keep-alive'], undefined);
      assert.equal(res.headers['x-end'], '2');
      assert.equal(res.body, 'ok');
    } finally {
      await g.close();
      upstream.close();
    }
  });

  it('HEAD, 204 and 304 carry no body', async () => {
    const head = await rawRequest(gw.port, 'HEAD /x HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n');
    assert.equal(head.status, 200);
    assert.ok(Number(head.headers['content-length']) > 0);
    assert.equal(head.raw.slice(head.raw.indexOf('\r\n\r\n') + 4), '');
    for (const code of [204, 304]) {
      const r = await rawRequest(gw.port, `GET /status/${code} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n`);
      assert.equal(r.status, code);
      assert.equal(r.raw.slice(r.raw.indexOf('\r\n\r\n') + 4), '');
    }
  });

  it('passes upstream error statuses through untouched', async () => {
    const res = await fetch(`${gw.url}/status/503`);
    assert.equal(res.status, 503);
    assert.deepEqual(await res.json(), { status: 503 });
  });

  it('streams a chunked upload and a chunked download', async () => {
    const res = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = http.request(`${gw.url}/up`, { method: 'PUT', headers: { 'transfer-encoding': 'chunked' } }, (r) => {
        let b = '';
        r.setEncoding('utf8');
        r.on('data', (c: string) => (b += c));
        r.on('end', () => resolve({ status: r.statusCode!, body: b }));
      });
      req.on('error', reject);
      for (let i = 0; i < 10; i++) req.write(Buffer.alloc(1000, 'a'));
      req.end();
    });
    assert.equal(res.status, 200);
    assert.equal((JSON.parse(res.body) as Echo).body.bytes, 10_000);
    const dl = await fetch(`${gw.url}/bytes/300000`);
    assert.equal((await dl.arrayBuffer()).byteLength, 300_000);
  });

  it('answers Expect: 100-continue before the body and forwards it', async () => {
    const res = await new Promise<{ status: number; continued: boolean; body: string }>((resolve, reject) => {
      let continued = false;
      const req = http.request(`${gw.url}/x`, { method: 'POST', headers: { expect: '100-continue', 'content-length': '5' } });
      req.on('continue', () => {
        continued = true;
        req.end('hello');
      });
      req.on('response', (r) => {
        let b = '';
        r.on('data', (c: Buffer) => (b += c.toString()));
        r.on('end', () => resolve({ status: r.statusCode!, continued, body: b }));
      });
      req.on('error', reject);
    });
    assert.equal(res.status, 200);
    assert.ok(res.continued);
    const echo = JSON.parse(res.body) as Echo;
    assert.equal(echo.body.bytes, 5);
    assert.equal(echo.headers['expect'], undefined);
  });

  it('refuses an oversized body with 413 by Content-Length, before reading it', async () => {
    const before = backend.count();
    const res = await fetch(`${gw.url}/small/x`, { method: 'POST', body: 'x'.repeat(2000) });
    assert.equal(res.status, 413);
    assert.equal(((await res.json()) as { code: string }).code, 'GW_ERR_BODY_TOO_LARGE');
    assert.equal(backend.count(), before);
  });

  it('refuses an oversized chunked body with 413 while streaming', async () => {
    const res = await new Promise<number>((resolve, reject) => {
      const req = http.request(`${gw.url}/small/x`, { method: 'POST', headers: { 'transfer-encoding': 'chunked' } }, (r) => {
        r.resume();
        resolve(r.statusCode!);
      });
      req.on('error', (err) => (String(err).includes('EPIPE') || String(err).includes('ECONNRESET') ? resolve(413) : reject(err)));
      req.write(Buffer.alloc(800));
      setTimeout(() => req.end(Buffer.alloc(800)), 20);
    });
    assert.equal(res, 413);
  });

  it('answers Expect: 100-continue with a final 413 and never asks for the body', async () => {
    const res = await new Promise<{ status: number; continued: boolean }>((resolve, reject) => {
      let continued = false;
      const req = http.request(`${gw.url}/small/x`, { method: 'POST', headers: { expect: '100-continue', 'content-length': '5000' } });
      req.on('continue', () => (continued = true));
      req.on('response', (r) => {
        r.resume();
        resolve({ status: r.statusCode!, continued });
      });
      req.on('error', reject);
    });
    assert.equal(res.status, 413);
    assert.equal(res.continued, false);
  });
});

describe('trusted proxies', () => {
  let backend: DemoBackend;
  let gw: TestGateway;
  before(async () => {
    backend = await startDemoBackend();
    gw = await startGateway(basicConfig(backend.url, '', 'server: { trustedProxies: [127.0.0.1/32, "::1"] }'));
  });
  after(async () => {
    await gw.close();
    await backend.close();
  });

  it('appends to X-Forwarded-For and keeps -Proto/-Host from a trusted peer', async () => {
    const res = await fetch(`${gw.url}/x`, { headers: { 'x-forwarded-for': '203.0.113.9, 10.0.0.1', 'x-forwarded-proto': 'https', 'x-forwarded-host': 'shop.example' } });
    const h = ((await res.json()) as Echo).headers;
    assert.equal(h['x-forwarded-for'], '203.0.113.9, 10.0.0.1, 127.0.0.1');
    assert.equal(h['x-forwarded-proto'], 'https');
    assert.equal(h['x-forwarded-host'], 'shop.example');
    // the client is the right-most address that is not a trusted proxy (as logged and rate-limited)
    const id = res.headers.get('x-request-id');
    await waitFor(() => gw.logs.some((l) => l['event'] === 'access' && l['requestId'] === id), 3000, 'access line');
    const line = gw.logs.find((l) => l['event'] === 'access' && l['requestId'] === id);
    assert.equal(line?.['clientIp'], '10.0.0.1');
  });
});
