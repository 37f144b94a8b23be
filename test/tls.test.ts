/**
 * TLS termination (issue 11 item 1): SNI by the names in the certificates, HTTPS to the upstream as
 * X-Forwarded-Proto https, mutual TLS with the subject in the access log and as a rate-limit key,
 * re-reading certificates on file change (a broken file keeps the old ones), and the 308 redirect.
 */
import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import { after, before, describe, it } from 'node:test';
import { X509Certificate } from 'node:crypto';
import { certificateNames } from '../src/server/tls.js';
import { writeSelfSigned, type SelfSigned } from '../src/util/self-signed.js';
import { basicConfig, configProblems, startDemoBackend, startGateway, waitFor, type DemoBackend, type TestGateway } from './helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'gw-tls-'));

/** The certificate the server presents for `servername` (undefined: no SNI). */
function presented(port: number, servername?: string): Promise<X509Certificate> {
  return new Promise((resolve, reject) => {
    const s = tls.connect({ port, host: '127.0.0.1', rejectUnauthorized: false, ...(servername !== undefined ? { servername } : {}) }, () => {
      const cert = s.getPeerX509Certificate()!;
      s.end();
      resolve(cert);
    });
    s.on('error', reject);
  });
}

interface Got {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

function get(url: string, opts: https.RequestOptions = {}): Promise<Got> {
  return new Promise((resolve, reject) => {
    const req = (url.startsWith('https:') ? https : http).request(url, { agent: false, ...opts }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('TLS termination', () => {
  let backend: DemoBackend;
  let gw: TestGateway;
  let main: SelfSigned;
  let wild: SelfSigned;
  let ca: SelfSigned;
  let client: SelfSigned;
  let certFile: string;
  let keyFile: string;

  before(async () => {
    backend = await startDemoBackend();
    main = writeSelfSigned(dir, ['localhost', '127.0.0.1'], { name: 'main' });
    wild = writeSelfSigned(dir, ['*.wild.test'], { name: 'wild' });
    ca = writeSelfSigned(dir, ['test-ca'], { name: 'ca', authority: true });
    client = writeSelfSigned(dir, ['alice'], { name: 'client', ca, clientAuth: true });
    // The first certificate lives in files the test replaces later (renewal).
    certFile = join(dir, 'live.crt');
    keyFile = join(dir, 'live.key');
    copyFileSync(main.cert, certFile);
    copyFileSync(main.key, keyFile);
    gw = await startGateway(
      basicConfig(
        backend.url,
        '    rateLimit: [{ key: client-cert, limit: 2, window: 60s }]',
        `server:
  tls:
    certificates:
      - { cert: ${certFile}, key: ${keyFile} }
      - { cert: ${wild.cert}, key: ${wild.key} }
    clientCa: ${ca.cert}
    clientCertRequired: false
  redirectHttp: { port: 0 }`,
      ),
    );
  });
  after(async () => {
    await gw.close();
    await backend.close();
  });

  it('reads the names from the certificate: SAN DNS entries', () => {
    assert.deepEqual(certificateNames(readFileSync(main.cert)), ['localhost']);
    assert.deepEqual(certificateNames(readFileSync(wild.cert)), ['*.wild.test']);
  });

  it('chooses the certificate by SNI: exact, wildcard, and the first for unknown or no name', async () => {
    assert.match((await presented(gw.port, 'localhost')).subject, /CN=localhost/);
    assert.match((await presented(gw.port, 'api.wild.test')).subject, /CN=\*\.wild\.test/);
    // A wildcard covers exactly one label (RFC 6125 §6.4.3).
    assert.match((await presented(gw.port, 'a.b.wild.test')).subject, /CN=localhost/);
    assert.match((await presented(gw.port, 'unknown.example')).subject, /CN=localhost/);
    assert.match((await presented(gw.port)).subject, /CN=localhost/);
  });

  it('proxies HTTPS with X-Forwarded-Proto https, verified against the certificate', async () => {
    const res = await get(`https://localhost:${gw.port}/hello`, { ca: readFileSync(main.cert), lookup: (_h, _o, cb) => cb(null, [{ address: '127.0.0.1', family: 4 }]) });
    assert.equal(res.status, 200);
    const echoed = JSON.parse(res.body) as { headers: Record<string, string> };
    assert.equal(echoed.headers['x-forwarded-proto'], 'https');
  });

  it('refuses TLS 1.1 and older (minVersion TLSv1.2)', async () => {
    await assert.rejects(
      new Promise((resolve, reject) => {
        const s = tls.connect({ port: gw.port, host: '127.0.0.1', rejectUnauthorized: false, maxVersion: 'TLSv1.1', minVersion: 'TLSv1' }, () => resolve(s));
        s.on('error', reject);
      }),
    );
  });

  it('mutual TLS: the verified subject is in the access log and is the client-cert rate-limit key', async () => {
    const withCert = { ca: readFileSync(main.cert), cert: readFileSync(client.cert), key: readFileSync(client.key), servername: 'localhost' };
    const a = await get(`https://127.0.0.1:${gw.port}/a`, withCert);
    const b = await get(`https://127.0.0.1:${gw.port}/b`, withCert);
    const c = await get(`https://127.0.0.1:${gw.port}/c`, withCert);
    assert.deepEqual([a.status, b.status, c.status], [200, 200, 429]);
    // Without a certificate: another bucket (per ip), so not limited yet.
    const anon = await get(`https://127.0.0.1:${gw.port}/d`, { ca: readFileSync(main.cert), servername: 'localhost' });
    assert.equal(anon.status, 200);
    await waitFor(() => gw.logs.some((l) => l['event'] === 'access' && l['path'] === '/d'));
    const lines = gw.logs.filter((l) => l['event'] === 'access');
    assert.equal(lines.find((l) => l['path'] === '/a')!['clientCert'], 'CN=alice');
    assert.equal(lines.find((l) => l['path'] === '/d')!['clientCert'], null);
  });

  it('a client certificate from another CA is not believed', async () => {
    const other = writeSelfSigned(dir, ['mallory'], { name: 'mallory', clientAuth: true });
    // clientCertRequired: false → the handshake completes, but the subject is not used.
    const res = await get(`https://127.0.0.1:${gw.port}/m`, { ca: readFileSync(main.cert), servername: 'localhost', cert: readFileSync(other.cert), key: readFileSync(other.key) }).catch(
      (err: Error) => ({ status: 0, headers: {}, body: err.message }),
    );
    if (res.status !== 0) {
      await waitFor(() => gw.logs.some((l) => l['event'] === 'access' && l['path'] === '/m'));
      assert.equal(gw.logs.find((l) => l['event'] === 'access' && l['path'] === '/m')!['clientCert'], null);
    }
  });

  it('redirectHttp answers 308 to the same URL on https://', async () => {
    const res = await get(`http://127.0.0.1:${gw.gateway.redirectPort}/x/y?z=1`, { headers: { host: 'example.test:8080' } });
    assert.equal(res.status, 308);
    assert.equal(res.headers.location, `https://example.test:${gw.port}/x/y?z=1`);
    assert.equal(backend.seen().some((r) => r.url === '/x/y?z=1'), false);
  });

  it('re-reads a renewed certificate when its files change; a broken file keeps the old one', async () => {
    const before = (await presented(gw.port, 'localhost')).serialNumber;
    const renewed = writeSelfSigned(dir, ['localhost', '127.0.0.1'], { name: 'renewed' });
    writeFileSync(keyFile, readFileSync(renewed.key));
    writeFileSync(certFile, readFileSync(renewed.cert));
    await waitFor(async () => (await presented(gw.port, 'localhost')).serialNumber !== before, 5000, 'the renewed certificate');
    const renewedSerial = (await presented(gw.port, 'localhost')).serialNumber;
    assert.equal(renewedSerial, new X509Certificate(readFileSync(renewed.cert)).serialNumber);
    assert.ok(gw.logs.some((l) => l['event'] === 'tls.reloaded'));

    writeFileSync(certFile, 'not a certificate');
    await waitFor(() => gw.logs.some((l) => l['event'] === 'tls.reload_failed'), 5000, 'tls.reload_failed');
    assert.equal((await presented(gw.port, 'localhost')).serialNumber, renewedSerial);
    assert.equal(gw.gateway.reloadTls(), false);
    // Restored: reload (as a config reload calls it) takes it again.
    writeFileSync(certFile, readFileSync(renewed.cert));
    assert.equal(gw.gateway.reloadTls(), true);
  });
});

describe('TLS config', () => {
  it('refuses redirectHttp without tls, and a missing certificate at start names the field', async () => {
    assert.ok(configProblems(basicConfig('http://127.0.0.1:1', '', 'server: { redirectHttp: { port: 8080 } }')).some((p) => p.startsWith('server.redirectHttp:')));
    await assert.rejects(
      startGateway(basicConfig('http://127.0.0.1:1', '', `server: { tls: { certificates: [{ cert: ${join(dir, 'nope.crt')}, key: ${join(dir, 'nope.key')} }] } }`)),
      /server\.tls\.certificates\[0\]\.cert: cannot read/,
    );
  });
});
