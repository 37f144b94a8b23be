/**
 * HTTP/2 downstream (issue 11 item 4): ALPN h2 and http/1.1 on the TLS listener, h2c with prior
 * knowledge, proxied to HTTP/1.1 upstreams with the pseudo-headers mapped and connection-specific
 * fields dropped both ways, :authority/Host mismatch refused, RST_STREAM aborting the upstream
 * request, policies per stream, and a rapid-reset flood (CVE-2023-44487) closing the connection.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import http from 'node:http';
import http2 from 'node:http2';
import https from 'node:https';
import tls from 'node:tls';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { writeSelfSigned, type SelfSigned } from '../src/util/self-signed.js';
import { startGateway, waitFor, type TestGateway } from './helpers.js';

interface Upstream {
  url: string;
  seen: http.IncomingMessage[];
  closedEarly: number;
  close(): Promise<void>;
}

async function upstream(): Promise<Upstream> {
  const u: Partial<Upstream> & { seen: http.IncomingMessage[]; closedEarly: number } = { seen: [], closedEarly: 0 };
  const server = http.createServer((req, res) => {
    u.seen.push(req);
    if (req.url === '/hang') {
      res.on('close', () => {
        if (!res.writableFinished) u.closedEarly++;
      });
      return;
    }
    if (req.url === '/chunked') {
      // Connection-specific fields an HTTP/1.1 upstream may send; they must not reach an h2 client.
      res.writeHead(200, { 'content-type': 'text/plain', 'keep-alive': 'timeout=5', connection: 'keep-alive', 'transfer-encoding': 'chunked' });
      res.write('a');
      res.end('b');
      return;
    }
    const body = JSON.stringify({ method: req.method, url: req.url, headers: req.headers, rawHeaders: req.rawHeaders });
    req.resume();
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'application/json', 'set-cookie': ['a=1', 'b=2'] });
      res.end(body);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return Object.assign(u, {
    url: `http://127.0.0.1:${(server.address() as { port: number }).port}`,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  }) as Upstream;
}

interface H2Result {
  headers: http2.IncomingHttpHeaders;
  body: string;
}

function h2request(session: http2.ClientHttp2Session, headers: http2.OutgoingHttpHeaders, body?: string): Promise<H2Result> {
  return new Promise((resolve, reject) => {
    const stream = session.request(headers, { endStream: body === undefined });
    let responseHeaders: http2.IncomingHttpHeaders = {};
    let data = '';
    stream.on('response', (h) => (responseHeaders = h));
    stream.setEncoding('utf8');
    stream.on('data', (c: string) => (data += c));
    stream.on('end', () => resolve({ headers: responseHeaders, body: data }));
    stream.on('error', reject);
    if (body !== undefined) stream.end(body);
  });
}

describe('HTTP/2', () => {
  let up: Upstream;
  let gw: TestGateway;
  let pair: SelfSigned;
  let session: http2.ClientHttp2Session;

  before(async () => {
    up = await upstream();
    pair = writeSelfSigned(mkdtempSync(join(tmpdir(), 'gw-h2-')), ['localhost', '127.0.0.1'], { name: 'h2' });
    gw = await startGateway(`
server:
  tls: { certificates: [{ cert: ${pair.cert}, key: ${pair.key} }] }
  h2c: { port: 0 }
  http2: { maxConcurrentStreams: 50 }
upstreams: { b: { targets: [{ url: ${up.url} }] } }
routes:
  - { name: api, match: { pathPrefix: / }, upstream: b, rateLimit: [{ key: ip, limit: 1000000, window: 60s }] }
`);
    session = http2.connect(`https://localhost:${gw.port}`, { ca: readFileSync(pair.cert), lookup: (_h, _o, cb) => cb(null, [{ address: '127.0.0.1', family: 4 }]) as never });
  });
  after(async () => {
    session.close();
    await gw.close();
    await up.close();
  });

  it('negotiates h2 by ALPN and proxies to HTTP/1.1: method, path, Host, X-Forwarded-Proto; no pseudo-headers upstream', async () => {
    const res = await h2request(session, { ':method': 'POST', ':path': '/items?x=1', 'content-type': 'text/plain', 'x-custom': 'v' }, 'hello');
    assert.equal(res.headers[':status'], 200);
    const echoed = JSON.parse(res.body) as { method: string; url: string; headers: Record<string, string>; rawHeaders: string[] };
    assert.equal(echoed.method, 'POST');
    assert.equal(echoed.url, '/items?x=1');
    assert.equal(echoed.headers['x-custom'], 'v');
    assert.equal(echoed.headers['x-forwarded-proto'], 'https');
    assert.equal(echoed.headers['x-forwarded-host'], `localhost:${gw.port}`);
    assert.ok(!echoed.rawHeaders.some((h, i) => i % 2 === 0 && h.startsWith(':')), echoed.rawHeaders.join(' '));
    // Repeated response fields survive (two Set-Cookie lines).
    assert.deepEqual(res.headers['set-cookie'], ['a=1', 'b=2']);
    assert.ok(res.headers['x-request-id']);
    assert.ok(res.headers['ratelimit']);
  });

  it('drops HTTP/1.1 connection-specific response fields on the way to an h2 client', async () => {
    const res = await h2request(session, { ':path': '/chunked' });
    assert.equal(res.headers[':status'], 200);
    assert.equal(res.body, 'ab');
    for (const name of ['connection', 'keep-alive', 'transfer-encoding', 'upgrade']) assert.equal(res.headers[name], undefined, name);
  });

  it('refuses a Host field that disagrees with :authority', async () => {
    const res = await h2request(session, { ':path': '/x', ':authority': `localhost:${gw.port}`, host: 'other.example' });
    assert.equal(res.headers[':status'], 400);
    assert.equal((JSON.parse(res.body) as { code: string }).code, 'GW_ERR_HOST_MISMATCH');
  });

  it('HTTP/1.1 clients still work on the same TLS port', async () => {
    const status = await new Promise<number>((resolve, reject) => {
      https
        .get(`https://127.0.0.1:${gw.port}/h1`, { ca: readFileSync(pair.cert), servername: 'localhost', agent: false }, (res) => {
          res.resume();
          resolve(res.statusCode!);
        })
        .on('error', reject);
    });
    assert.equal(status, 200);
  });

  it('a stream reset by the client aborts the upstream request', async () => {
    const before = up.closedEarly;
    const stream = session.request({ ':path': '/hang' });
    await waitFor(() => up.seen.some((r) => r.url === '/hang'), 3000, 'the upstream request');
    stream.close(http2.constants.NGHTTP2_CANCEL);
    await waitFor(() => up.closedEarly > before, 3000, 'the upstream request to be aborted');
    await waitFor(() => gw.logs.some((l) => l['event'] === 'access' && l['path'] === '/hang' && l['status'] === 499), 3000, '499 in the access log');
  });

  it('h2c with prior knowledge on its own listener', async () => {
    const clear = http2.connect(`http://127.0.0.1:${gw.gateway.h2cPort}`);
    try {
      const res = await h2request(clear, { ':path': '/clear' });
      assert.equal(res.headers[':status'], 200);
      assert.equal((JSON.parse(res.body) as { headers: Record<string, string> }).headers['x-forwarded-proto'], 'http');
    } finally {
      clear.close();
    }
  });

  it('rapid reset (CVE-2023-44487): a connection that opens and cancels streams in a loop is closed', async () => {
    const attacker = http2.connect(`http://127.0.0.1:${gw.gateway.h2cPort}`);
    attacker.on('error', () => undefined);
    await new Promise<void>((r) => attacker.once('connect', () => r()));
    const seenBefore = up.seen.length;
    let goaway = false;
    attacker.on('goaway', () => (goaway = true));
    const closed = new Promise<void>((r) => attacker.once('close', () => r()));
    let sent = 0;
    // Bounded: at most 20,000 streams, in batches, stopping as soon as the gateway closes the connection.
    for (let batch = 0; batch < 200 && !attacker.closed && !attacker.destroyed && !goaway; batch++) {
      for (let i = 0; i < 100; i++) {
        try {
          const s = attacker.request({ ':path': '/hang' });
          s.on('error', () => undefined);
          s.close(http2.constants.NGHTTP2_CANCEL);
          sent++;
        } catch {
          break;
        }
      }
      await new Promise((r) => setImmediate(r));
    }
    await Promise.race([closed, new Promise((r) => setTimeout(r, 3000))]);
    console.log(`# rapid reset: ${sent} streams opened and cancelled before the gateway closed the connection; ${up.seen.length - seenBefore} reached the upstream`);
    assert.ok(goaway || attacker.closed || attacker.destroyed, 'the connection survived the flood');
    assert.ok(sent < 20_000, `${sent} streams were accepted`);
    attacker.destroy();
    // The gateway still serves everyone else.
    const res = await h2request(session, { ':path': '/after' });
    assert.equal(res.headers[':status'], 200);
  });
});

describe('HTTP/1.1 on the TLS port with HTTP/2 on (ALPN): the server limits still apply', () => {
  let up: Upstream;
  let gw: TestGateway;
  let pair: SelfSigned;

  before(async () => {
    up = await upstream();
    pair = writeSelfSigned(mkdtempSync(join(tmpdir(), 'gw-h2-limits-')), ['localhost', '127.0.0.1'], { name: 'h2l' });
    gw = await startGateway(`
server:
  headersTimeout: 1s
  requestTimeout: 5s
  maxHeaderSize: 4kb
  tls: { certificates: [{ cert: ${pair.cert}, key: ${pair.key} }] }
upstreams: { b: { targets: [{ url: ${up.url} }] } }
routes:
  - { name: api, match: { pathPrefix: / }, upstream: b }
`);
  });
  after(async () => {
    await gw.close();
    await up.close();
  });

  function h1(): tls.TLSSocket {
    return tls.connect({ host: '127.0.0.1', port: gw.port, servername: 'localhost', ca: readFileSync(pair.cert), ALPNProtocols: ['http/1.1'] });
  }

  it('a head over server.maxHeaderSize is a 431, as on a plain listener', async () => {
    const s = h1();
    let got = '';
    s.on('data', (d: Buffer) => (got += d.toString('latin1')));
    await new Promise((resolve) => s.once('secureConnect', resolve));
    assert.equal(s.alpnProtocol, 'http/1.1');
    s.write(`GET /x HTTP/1.1\r\nHost: localhost\r\nX-Big: ${'a'.repeat(6000)}\r\n\r\n`);
    await new Promise((resolve) => s.once('close', resolve));
    assert.match(got, /^HTTP\/1\.1 431 /);
    assert.equal(up.seen.length, 0);
  });

  it('a client that trickles its head is cut after server.headersTimeout, not Node’s 60 s', async () => {
    const s = h1();
    s.on('data', () => undefined);
    s.on('error', () => undefined);
    await new Promise((resolve) => s.once('secureConnect', resolve));
    const t0 = Date.now();
    s.write('GET /x HTTP/1.1\r\nHost: localhost\r\n');
    const drip = setInterval(() => s.write('X-A: b\r\n'), 200);
    const closed = await Promise.race([
      new Promise<boolean>((resolve) => s.once('close', () => resolve(true))),
      new Promise<boolean>((resolve) => setTimeout(() => resolve(false), 8000)),
    ]);
    clearInterval(drip);
    s.destroy();
    assert.ok(closed, 'still open after 8 s');
    assert.ok(Date.now() - t0 >= 900, `closed too early: ${Date.now() - t0} ms`);
  });
});
