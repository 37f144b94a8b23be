/**
 * The response and idle timeouts, kept by the gateway's sweep (src/proxy/deadlines.ts) instead of
 * undici's timers: the same promises as undici's (an upload in progress does not time out, a client
 * that holds the body back is not cut for it), and nothing left watched once requests are done.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { startDemoBackend, startGateway, waitFor, type DemoBackend, type TestGateway } from './helpers.js';

describe('response and idle timeouts (the gateway sweep)', () => {
  let backend: DemoBackend;
  let gw: TestGateway;
  /** Answers only once the whole upload arrived: its response head comes after the upload ends. */
  let uploadSink: http.Server;
  let sinkUrl: string;

  before(async () => {
    backend = await startDemoBackend();
    uploadSink = http.createServer((req, res) => {
      let n = 0;
      req.on('data', (c: Buffer) => (n += c.length));
      req.on('end', () => res.end(JSON.stringify({ received: n })));
    });
    await new Promise<void>((r) => uploadSink.listen(0, '127.0.0.1', r));
    sinkUrl = `http://127.0.0.1:${(uploadSink.address() as AddressInfo).port}`;
    gw = await startGateway(`
upstreams:
  demo: { targets: [{ url: ${backend.url} }], timeouts: { response: 300ms, idle: 300ms } }
  sink: { targets: [{ url: ${sinkUrl} }], timeouts: { response: 300ms, idle: 300ms } }
routes:
  - { name: upload, match: { pathPrefix: /upload }, upstream: sink }
  - { name: demo, match: { pathPrefix: / }, upstream: demo }
`);
  });

  after(async () => {
    await gw.close();
    await backend.close();
    uploadSink.close();
  });

  it('504 GW_ERR_UPSTREAM_TIMEOUT when the head is late, within a tick of the timeout', async () => {
    const started = Date.now();
    const res = await fetch(`${gw.url}/delay/2000`);
    const took = Date.now() - started;
    assert.equal(res.status, 504);
    assert.equal(((await res.json()) as { code: string }).code, 'GW_ERR_UPSTREAM_TIMEOUT');
    assert.ok(took >= 290 && took < 1500, `answered after ${took} ms`);
    assert.ok(gw.logs.some((l) => l['event'] === 'upstream.error' && l['kind'] === 'timeout'));
  });

  it('an upload that takes longer than the response timeout is not cut: the time starts once it is sent', async () => {
    const status = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = http.request(`${gw.url}/upload`, { method: 'POST', headers: { 'content-type': 'application/octet-stream' } }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      });
      req.on('error', reject);
      // 8 chunks, 100 ms apart: 700 ms of upload against a 300 ms response timeout.
      let sent = 0;
      const tick = setInterval(() => {
        req.write(Buffer.alloc(1024, 1));
        if (++sent === 8) {
          clearInterval(tick);
          req.end();
        }
      }, 100);
    });
    assert.equal(status.status, 200);
    assert.deepEqual(JSON.parse(status.body), { received: 8 * 1024 });
  });

  it('a client that holds the body back longer than the idle timeout still gets all of it', async () => {
    const size = 16 * 1024 * 1024;
    const received = await new Promise<{ bytes: number; complete: boolean }>((resolve, reject) => {
      http
        .get(`${gw.url}/bytes/${size}`, (res) => {
          assert.equal(res.statusCode, 200);
          let bytes = 0;
          // Read nothing for 900 ms (three idle timeouts): the gateway's buffers fill and it pauses the upstream.
          res.pause();
          setTimeout(() => {
            res.on('data', (c: Buffer) => (bytes += c.length));
            res.resume();
          }, 900);
          res.on('end', () => resolve({ bytes, complete: res.complete }));
          res.on('error', reject);
        })
        .on('error', reject);
    });
    assert.equal(received.complete, true);
    assert.equal(received.bytes, size);
  });

  it('retries.perTryTimeout bounds each try: a try at a silent target is given up and retried on the other', async () => {
    const silent = http.createServer(() => undefined); // takes requests, never answers
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    const silentUrl = `http://127.0.0.1:${(silent.address() as AddressInfo).port}`;
    const rgw = await startGateway(`
upstreams:
  b:
    targets: [{ url: ${silentUrl} }, { url: ${backend.url} }]
    timeouts: { response: 10s }
    retries: { on: [timeout], perTryTimeout: 200ms, minRetriesPerSecond: 100 }
routes: [{ name: r, match: { pathPrefix: / }, upstream: b }]
`);
    try {
      const took: number[] = [];
      for (let i = 0; i < 4; i++) {
        const started = Date.now();
        const res = await fetch(`${rgw.url}/anything`);
        await res.arrayBuffer();
        assert.equal(res.status, 200);
        took.push(Date.now() - started);
      }
      // Round robin sends every other first try to the silent target: those answer after ~200 ms, not 10 s.
      assert.ok(took.some((ms) => ms >= 190), `no try waited for the per-try timeout: ${took.join(', ')} ms`);
      assert.ok(took.every((ms) => ms < 2000), `a try waited past the per-try timeout: ${took.join(', ')} ms`);
    } finally {
      await rgw.close();
      silent.closeAllConnections();
      silent.close();
    }
  });

  it('nothing stays watched once the requests are done (the sweep stops)', async () => {
    await Promise.all(Array.from({ length: 20 }, () => fetch(`${gw.url}/anything`).then((r) => r.arrayBuffer())));
    await waitFor(() => gw.gateway.deadlines.size === 0, 2000);
    assert.equal(gw.gateway.deadlines.size, 0);
  });
});
