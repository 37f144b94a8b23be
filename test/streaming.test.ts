import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import { after, before, describe, it } from 'node:test';
import { spawnGateway, startDemoBackend, type DemoBackend } from './helpers.js';

const GiB = 1024 ** 3;

function rssMiB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : 0;
}

/**
 * 1 GiB up and 1 GiB down through a gateway in its own process: bodies stream with backpressure,
 * so the gateway's RSS stays flat.
 */
describe('streaming 1 GiB both ways', { skip: process.platform !== 'linux' ? 'reads /proc' : false }, () => {
  let backend: DemoBackend;
  let child: ChildProcess;
  let port = 0;
  before(async () => {
    backend = await startDemoBackend();
    const gw = spawnGateway(
      `server: { port: 0, maxBodySize: 2gb }\nadmin: { enabled: false }\nlogging: { level: info }\nupstreams: { b: { targets: [{ url: ${backend.url} }] } }\nroutes: [{ name: r, match: { pathPrefix: / }, upstream: b }]\n`,
    );
    child = gw.child;
    port = (await gw.started())[0]!.port;
  });
  after(async () => {
    child.kill('SIGTERM');
    await backend.close();
  });

  it('uploads 1 GiB with a flat RSS and an intact body', async () => {
    const base = rssMiB(child.pid!);
    let peak = base;
    const sampler = setInterval(() => (peak = Math.max(peak, rssMiB(child.pid!))), 50);
    const chunk = Buffer.alloc(1024 * 1024, 7);
    const expected = createHash('sha256');
    const result = await new Promise<{ bytes: number; sha256: string }>((resolve, reject) => {
      const req = http.request({ port, host: '127.0.0.1', path: '/upload', method: 'PUT', headers: { 'content-length': GiB } }, (res) => {
        let b = '';
        res.on('data', (c: Buffer) => (b += c.toString()));
        res.on('end', () => resolve((JSON.parse(b) as { body: { bytes: number; sha256: string } }).body));
      });
      req.on('error', reject);
      let sent = 0;
      const pump = () => {
        while (sent < GiB) {
          sent += chunk.length;
          expected.update(chunk);
          if (!req.write(chunk)) return void req.once('drain', pump);
        }
        req.end();
      };
      pump();
    });
    clearInterval(sampler);
    console.log(`# upload 1 GiB: gateway RSS ${Math.round(base)} MiB before, peak ${Math.round(peak)} MiB`);
    assert.equal(result.bytes, GiB);
    assert.equal(result.sha256, expected.digest('hex'));
    assert.ok(peak - base < 96, `RSS grew ${Math.round(peak - base)} MiB (base ${Math.round(base)} MiB)`);
  });

  it('downloads 1 GiB with a flat RSS', async () => {
    const base = rssMiB(child.pid!);
    let peak = base;
    const sampler = setInterval(() => (peak = Math.max(peak, rssMiB(child.pid!))), 50);
    const bytes = await new Promise<number>((resolve, reject) => {
      http
        .get({ port, host: '127.0.0.1', path: `/bytes/${GiB}` }, (res) => {
          let n = 0;
          res.on('data', (c: Buffer) => (n += c.length));
          res.on('end', () => resolve(n));
          res.on('error', reject);
        })
        .on('error', reject);
    });
    clearInterval(sampler);
    console.log(`# download 1 GiB: gateway RSS ${Math.round(base)} MiB before, peak ${Math.round(peak)} MiB`);
    assert.equal(bytes, GiB);
    assert.ok(peak - base < 96, `RSS grew ${Math.round(peak - base)} MiB (base ${Math.round(base)} MiB)`);
  });
});

