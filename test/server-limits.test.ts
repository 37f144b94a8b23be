/** Hardened listener limits: maxConnections, maxRequestsPerConnection, slowloris clients, 431 and 413. */
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import { basicConfig, rawRequest, startDemoBackend, startGateway, waitFor, type DemoBackend } from './helpers.js';

function connect(port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1', () => resolve(s));
    s.once('error', reject);
  });
}

/** Resolves with how the socket ended: 'closed' (no byte received), or the bytes received (then ' [still open]' if it did not close in time). */
function outcome(s: net.Socket, ms = 3000): Promise<string> {
  return new Promise((resolve) => {
    let got = '';
    const timer = setTimeout(() => resolve(got === '' ? 'open' : got + ' [still open]'), ms);
    s.on('data', (d: Buffer) => (got += d.toString('latin1')));
    s.on('error', () => undefined);
    s.on('close', () => {
      clearTimeout(timer);
      resolve(got === '' ? 'closed' : got);
    });
  });
}

describe('server limits', () => {
  let backend: DemoBackend;
  before(async () => {
    backend = await startDemoBackend();
  });
  after(() => backend.close());

  it('server.maxConnections: a connection beyond it is closed at once and counted', async () => {
    const gw = await startGateway(basicConfig(backend.url, '', 'server: { maxConnections: 2 }'));
    try {
      const a = await connect(gw.port);
      const b = await connect(gw.port);
      const c = await connect(gw.port);
      assert.equal(await outcome(c), 'closed');
      const metrics = await (await fetch(`${gw.adminUrl}/metrics`)).text();
      assert.match(metrics, /^gateway_connections_dropped_total 1$/m);
      a.destroy();
      await new Promise((r) => setTimeout(r, 50));
      const res = await rawRequest(gw.port, 'GET /x HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n');
      assert.equal(res.status, 200, 'served again once below the limit');
      b.destroy();
    } finally {
      await gw.close();
    }
  });

  it('server.maxRequestsPerConnection: the last allowed response says Connection: close and the connection ends', async () => {
    const gw = await startGateway(basicConfig(backend.url, '', 'server: { maxRequestsPerConnection: 2 }'));
    try {
      const s = await connect(gw.port);
      const ended = outcome(s, 2000);
      s.write('GET /1 HTTP/1.1\r\nHost: t\r\n\r\nGET /2 HTTP/1.1\r\nHost: t\r\n\r\n');
      const text = await ended;
      const heads = text.split(/(?=HTTP\/1\.1 \d{3})/).map((r) => r.slice(0, r.indexOf('\r\n\r\n')));
      assert.equal(heads.length, 2, text);
      assert.match(heads[0]!, /connection: keep-alive/i);
      assert.match(heads[1]!, /connection: close/i);
      assert.ok(!text.endsWith(' [still open]'), 'the connection was closed');
    } finally {
      await gw.close();
    }
  });

  it('300 slowloris clients are cut after headersTimeout and do not stop normal clients', async () => {
    const gw = await startGateway(basicConfig(backend.url, '', 'server: { headersTimeout: 1s, requestTimeout: 2s }'));
    try {
      const slow: net.Socket[] = [];
      for (let i = 0; i < 300; i++) slow.push(await connect(gw.port));
      const ends = slow.map((s) => outcome(s, 6000));
      // Each trickles its head, one header line every 200 ms, and never finishes it (bounded: 25 lines).
      for (const s of slow) s.write('GET / HTTP/1.1\r\nHost: t\r\n');
      let n = 0;
      const trickle = setInterval(() => {
        if (++n > 25) return clearInterval(trickle);
        for (const s of slow) if (!s.destroyed) s.write(`X-${n}: a\r\n`);
      }, 200);
      const normal: number[] = [];
      for (let i = 0; i < 40; i++) normal.push((await fetch(`${gw.url}/ok/${i}`)).status);
      assert.deepEqual(normal, Array(40).fill(200), 'normal clients are served');
      const results = await Promise.all(ends);
      clearInterval(trickle);
      const cut = results.filter((r) => r === 'closed' || r.startsWith('HTTP/1.1 408')).length;
      assert.equal(cut, 300, `every slow client was cut: ${[...new Set(results.map((r) => r.slice(0, 20)))].join(' | ')}`);
      for (const s of slow) s.destroy();
    } finally {
      await gw.close();
    }
  });

  it('answers 431 to an oversized head and 413 to an oversized body', async () => {
    const gw = await startGateway(basicConfig(backend.url, '', 'server: { maxHeaderSize: 4kb, maxBodySize: 1kb }'));
    try {
      const big = await rawRequest(gw.port, `GET / HTTP/1.1\r\nHost: t\r\nX-Big: ${'a'.repeat(5000)}\r\n\r\n`);
      assert.equal(big.status, 431);
      const body = await fetch(`${gw.url}/x`, { method: 'POST', body: 'x'.repeat(2000) });
      assert.equal(body.status, 413);
    } finally {
      await gw.close();
    }
  });
});
