/**
 * Issue 10 on the TLS and HTTP/2 listeners: a config reload re-reads the server certificates (a
 * broken one fails the whole reload), maxConnections, maxRequestsPerConnection (Connection: close on
 * HTTPS/1.1, GOAWAY on HTTP/2) and the shutdown drain (Connection: close, GOAWAY) on every listener.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import http2 from 'node:http2';
import https from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import { after, before, describe, it } from 'node:test';
import { X509Certificate } from 'node:crypto';
import { parseConfig } from '../src/config/load.js';
import { writeSelfSigned, type SelfSigned } from '../src/util/self-signed.js';
import { startDemoBackend, startGateway, waitFor, type DemoBackend } from './helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'gw-res-tls-'));

function presentedSerial(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = tls.connect({ port, host: '127.0.0.1', servername: 'localhost', rejectUnauthorized: false }, () => {
      const serial = s.getPeerX509Certificate()!.serialNumber;
      s.end();
      resolve(serial);
    });
    s.on('error', reject);
  });
}

/** One HTTPS/1.1 request on `agent` (keep-alive): status and the Connection header. */
function get(port: number, path: string, agent: https.Agent): Promise<{ status: number; connection: string | undefined }> {
  return new Promise((resolve, reject) => {
    const req = https.request({ host: '127.0.0.1', port, path, agent, rejectUnauthorized: false }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode!, connection: res.headers.connection }));
    });
    req.on('error', reject);
    req.end();
  });
}

function h2get(session: http2.ClientHttp2Session, path: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const stream = session.request({ ':path': path });
    let status = 0;
    stream.on('response', (h) => (status = Number(h[':status'])));
    stream.on('error', reject);
    stream.resume();
    stream.on('end', () => resolve(status));
  });
}

describe('resilience on the TLS / HTTP/2 listeners', () => {
  let backend: DemoBackend;
  let cert: SelfSigned;
  before(async () => {
    backend = await startDemoBackend();
    cert = writeSelfSigned(dir, ['localhost', '127.0.0.1'], { name: 'first' });
  });
  after(() => backend.close());

  const yaml = (certFile: string, keyFile: string, server = '', route = 'r') => `
server: { tls: { certificates: [{ cert: ${certFile}, key: ${keyFile} }], watch: false }${server} }
upstreams: { u: { targets: [{ url: ${backend.url} }] } }
routes: [{ name: ${route}, match: { pathPrefix: / }, upstream: u }]
`;

  it('a config reload re-reads the certificates; one that fails to load fails the whole reload', async () => {
    const certFile = join(dir, 'reload.crt');
    const keyFile = join(dir, 'reload.key');
    writeFileSync(certFile, readFileSync(cert.cert));
    writeFileSync(keyFile, readFileSync(cert.key));
    const gw = await startGateway(yaml(certFile, keyFile));
    try {
      const first = await presentedSerial(gw.port);
      const renewed = writeSelfSigned(dir, ['localhost', '127.0.0.1'], { name: 'renewed' });
      writeFileSync(certFile, readFileSync(renewed.cert));
      writeFileSync(keyFile, readFileSync(renewed.key));
      // watch is off: only the reload makes the gateway read them.
      assert.equal(await presentedSerial(gw.port), first);
      const same = parseConfig(yaml(certFile, keyFile), process.env, 'config');
      assert.equal((await gw.gateway.reload(same.config)).ok, true);
      assert.equal(await presentedSerial(gw.port), new X509Certificate(readFileSync(renewed.cert)).serialNumber);

      writeFileSync(certFile, 'not a certificate');
      const renamed = parseConfig(yaml(certFile, keyFile, '', 'renamed'), process.env, 'config');
      const r = await gw.gateway.reload(renamed.config);
      assert.equal(r.ok, false);
      assert.ok(r.problems.some((p) => p.startsWith('server.tls:')), r.problems.join('\n'));
      assert.equal(gw.gateway.snapshot.routes[0]!.name, 'r', 'the rest of that config is not applied either');
      assert.equal(await presentedSerial(gw.port), new X509Certificate(readFileSync(renewed.cert)).serialNumber);
    } finally {
      await gw.close();
    }
  });

  it('HTTPS/1.1: maxRequestsPerConnection ends the connection with Connection: close; maxConnections drops and counts', async () => {
    const gw = await startGateway(yaml(cert.cert, cert.key, ', maxRequestsPerConnection: 2, maxConnections: 1, http2: { enabled: false }'));
    const agent = new https.Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const a = await get(gw.port, '/1', agent);
      const b = await get(gw.port, '/2', agent);
      assert.equal(a.status, 200);
      assert.equal(a.connection, 'keep-alive');
      assert.equal(b.status, 200);
      assert.equal(b.connection, 'close');
      // One connection open (raw TLS): a second is closed at once and counted.
      const held = tls.connect({ port: gw.port, host: '127.0.0.1', rejectUnauthorized: false });
      await new Promise<void>((r) => held.once('secureConnect', () => r()));
      const extra = tls.connect({ port: gw.port, host: '127.0.0.1', rejectUnauthorized: false });
      await new Promise<void>((r) => {
        extra.once('error', () => r());
        extra.once('close', () => r());
      });
      const metrics = await (await fetch(`${gw.adminUrl}/metrics`)).text();
      assert.match(metrics, /^gateway_connections_dropped_total [1-9]/m);
      held.destroy();
    } finally {
      agent.destroy();
      await gw.close();
    }
  });

  it('HTTP/2: maxRequestsPerConnection sends GOAWAY after that many streams; shutdown sends GOAWAY and the stream in flight completes', async () => {
    const gw = await startGateway(yaml(cert.cert, cert.key, ', maxRequestsPerConnection: 2'));
    let closing: Promise<void> | undefined;
    try {
      const session = http2.connect(`https://127.0.0.1:${gw.port}`, { rejectUnauthorized: false });
      let goaway = false;
      session.on('goaway', () => (goaway = true));
      session.on('error', () => undefined);
      assert.equal(await h2get(session, '/1'), 200);
      assert.equal(goaway, false);
      assert.equal(await h2get(session, '/2'), 200);
      await waitFor(() => goaway, 3000, 'GOAWAY after two streams');
      session.close();

      const drained = http2.connect(`https://127.0.0.1:${gw.port}`, { rejectUnauthorized: false });
      let drainGoaway = false;
      drained.on('goaway', () => (drainGoaway = true));
      drained.on('error', () => undefined);
      const slow = h2get(drained, '/delay/300');
      await waitFor(() => gw.gateway.requestsInFlight > 0, 3000, 'the request in flight');
      closing = gw.close();
      await waitFor(() => drainGoaway, 3000, 'GOAWAY at shutdown');
      assert.equal(await slow, 200, 'the stream in flight at shutdown completes');
      drained.close();
    } finally {
      await (closing ?? gw.close());
    }
  });

  it('HTTPS/1.1 shutdown: a response in flight at SIGTERM carries Connection: close', async () => {
    const gw = await startGateway(yaml(cert.cert, cert.key, ', http2: { enabled: false }'));
    const agent = new https.Agent({ keepAlive: true, maxSockets: 1 });
    let closing: Promise<void> | undefined;
    try {
      assert.equal((await get(gw.port, '/warm', agent)).connection, 'keep-alive');
      const slow = get(gw.port, '/delay/300', agent);
      await waitFor(() => gw.gateway.requestsInFlight > 0, 3000, 'the request in flight');
      closing = gw.close();
      const res = await slow;
      assert.equal(res.status, 200);
      assert.equal(res.connection, 'close');
    } finally {
      agent.destroy();
      await (closing ?? gw.close());
    }
  });
});
