/**
 * Server-sent events and long polls (issue 11 item 3): each event reaches the client as the backend
 * writes it (no buffering), the response timeout covers the head only, and timeouts.idle cuts a
 * stream that stays silent too long.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import { after, before, describe, it } from 'node:test';
import { startGateway, type TestGateway } from './helpers.js';

interface SseBackend {
  url: string;
  /** performance.now() of each event write, by event id. */
  written: Map<number, number>;
  /** Write the next event on every open stream. */
  send(id: number): void;
  close(): Promise<void>;
}

async function sseBackend(): Promise<SseBackend> {
  const streams = new Set<http.ServerResponse>();
  const written = new Map<number, number>();
  const server = http.createServer((req, res) => {
    if (req.url === '/slow-head') {
      setTimeout(() => res.writeHead(200, { 'content-type': 'text/event-stream' }).end('data: late\n\n'), 2500);
      return;
    }
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
    res.flushHeaders();
    streams.add(res);
    res.on('close', () => streams.delete(res));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as { port: number }).port}`,
    written,
    send(id) {
      written.set(id, performance.now());
      for (const s of streams) s.write(`id: ${id}\ndata: event ${id}\n\n`);
    },
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

describe('server-sent events', () => {
  let backend: SseBackend;
  let gw: TestGateway;
  before(async () => {
    backend = await sseBackend();
    gw = await startGateway(`
upstreams: { b: { targets: [{ url: ${backend.url} }], timeouts: { response: 300ms } } }
routes:
  - { name: events, match: { pathPrefix: /events }, upstream: b, timeouts: { idle: 5s } }
  - { name: short, match: { pathPrefix: /short }, upstream: b, timeouts: { idle: 200ms } }
  - { name: head, match: { pathPrefix: /slow-head }, upstream: b }
`);
  });
  after(async () => {
    await gw.close();
    await backend.close();
  });

  it('delivers each event as it is written, and the response timeout does not cut the stream', async () => {
    const delays: number[] = [];
    await new Promise<void>((resolve, reject) => {
      http.get(`${gw.url}/events`, (res) => {
        assert.equal(res.headers['content-type'], 'text/event-stream');
        assert.equal(res.headers['content-encoding'], undefined);
        let buf = '';
        let id = 0;
        const sendNext = () => setTimeout(() => backend.send(++id), 100); // 100 ms apart: 10 events outlast the 300 ms response timeout
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          const now = performance.now();
          buf += chunk;
          let end: number;
          while ((end = buf.indexOf('\n\n')) !== -1) {
            const event = buf.slice(0, end);
            buf = buf.slice(end + 2);
            const got = Number(/^id: (\d+)/.exec(event)![1]);
            delays.push(now - backend.written.get(got)!);
            if (got === 10) {
              res.destroy();
              resolve();
              return;
            }
            sendNext();
          }
        });
        res.on('error', reject);
        sendNext();
      }).on('error', reject);
    });
    assert.equal(delays.length, 10);
    const worst = Math.max(...delays);
    console.log(`# SSE backend write → client read through the gateway: median ${delays.sort((a, b) => a - b)[5]!.toFixed(2)} ms, worst ${worst.toFixed(2)} ms`);
    // Each event arrived before the next was written (100 ms later): nothing waited in a buffer.
    assert.ok(worst < 500, `an event took ${worst} ms`);
  });

  it('timeouts.idle ends a stream that stays silent longer', async () => {
    const outcome = await new Promise<string>((resolve) => {
      http.get(`${gw.url}/short`, (res) => {
        res.on('data', () => undefined);
        res.on('end', () => resolve('end'));
        res.on('error', () => resolve('cut'));
        res.on('close', () => resolve(res.complete ? 'end' : 'cut'));
      });
    });
    assert.equal(outcome, 'cut');
  });

  it('the response timeout still bounds the head: 504 when it comes too late', async () => {
    const res = await fetch(`${gw.url}/slow-head`);
    assert.equal(res.status, 504);
    await res.arrayBuffer();
  });
});
