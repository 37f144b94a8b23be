/**
 * Upstream TLS (issue 11 item 5): https:// targets verified against tls.ca, with SNI, mutual TLS to
 * the upstream (cert/key), insecureSkipVerify with a warning at start, and TLS sessions resumed on
 * new connections.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import https from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';
import { after, before, describe, it } from 'node:test';
import { writeSelfSigned, type SelfSigned } from '../src/util/self-signed.js';
import { configProblems, startGateway, waitFor } from './helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'gw-uptls-'));

describe('upstream TLS', () => {
  let server: https.Server;
  let url = '';
  let pair: SelfSigned;
  let ca: SelfSigned;
  let client: SelfSigned;
  const seen: { sni: string | false; clientCert: string; reused: boolean; path: string }[] = [];

  before(async () => {
    pair = writeSelfSigned(dir, ['backend.internal', '127.0.0.1'], { name: 'backend' });
    ca = writeSelfSigned(dir, ['gw-ca'], { name: 'ca', authority: true });
    client = writeSelfSigned(dir, ['gateway'], { name: 'gw-client', ca, clientAuth: true });
    server = https.createServer({ cert: readFileSync(pair.cert), key: readFileSync(pair.key), ca: readFileSync(ca.cert), requestCert: true, rejectUnauthorized: false }, (req, res) => {
      const socket = req.socket as TLSSocket;
      seen.push({ sni: (socket as TLSSocket & { servername?: string | false }).servername ?? false, clientCert: socket.authorized ? socket.getPeerX509Certificate()!.subject : '', reused: socket.isSessionReused(), path: req.url ?? '' });
      res.writeHead(200, { 'content-type': 'text/plain', connection: 'close' });
      res.end('secure');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = `https://127.0.0.1:${(server.address() as { port: number }).port}`;
  });
  after(async () => {
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
  });

  it('verifies the target against tls.ca, sends servername, authenticates with cert/key, resumes sessions', async () => {
    const gw = await startGateway(`
upstreams:
  s:
    targets: [{ url: ${url} }]
    tls: { ca: ${pair.cert}, servername: backend.internal, cert: ${client.cert}, key: ${client.key} }
routes: [{ name: r, match: { pathPrefix: / }, upstream: s }]
`);
    try {
      seen.length = 0;
      // The backend closes each connection: every request is a new TLS connection.
      for (let i = 0; i < 3; i++) {
        const res = await fetch(`${gw.url}/x`);
        assert.equal(res.status, 200);
        assert.equal(await res.text(), 'secure');
      }
      assert.equal(seen[0]!.sni, 'backend.internal');
      assert.equal(seen[0]!.clientCert, 'CN=gateway');
      assert.equal(seen[0]!.reused, false);
      assert.ok(seen.slice(1).some((s) => s.reused), `no session was resumed: ${JSON.stringify(seen)}`);
    } finally {
      await gw.close();
    }
  });

  it('refuses a target whose certificate does not verify: 502', async () => {
    const gw = await startGateway(`
upstreams: { s: { targets: [{ url: ${url} }] } }
routes: [{ name: r, match: { pathPrefix: / }, upstream: s }]
`);
    try {
      const res = await fetch(`${gw.url}/x`);
      assert.equal(res.status, 502);
      await res.arrayBuffer();
    } finally {
      await gw.close();
    }
  });

  it('health checks of https:// targets use the upstream TLS options (CA, servername, client certificate)', async () => {
    const hc = 'healthCheck: { path: /healthz, interval: 200ms, timeout: 150ms, healthyAfter: 1, unhealthyAfter: 1 }';
    const gw = await startGateway(`
upstreams:
  s:
    targets: [{ url: ${url} }]
    tls: { ca: ${pair.cert}, servername: backend.internal, cert: ${client.cert}, key: ${client.key} }
    ${hc}
  bad:
    targets: [{ url: ${url} }]
    ${hc}
routes: [{ name: r, match: { pathPrefix: / }, upstream: s }, { name: b, match: { pathPrefix: /bad }, upstream: bad }]
`);
    try {
      seen.length = 0;
      await waitFor(() => seen.some((s) => s.path === '/healthz'), 5000, 'a health probe');
      const probe = seen.find((s) => s.path === '/healthz')!;
      assert.equal(probe.sni, 'backend.internal');
      assert.equal(probe.clientCert, 'CN=gateway');
      // Without the CA the certificate does not verify: that upstream's probes fail, the other's pass.
      const state = async () => ((await (await fetch(`${gw.adminUrl}/upstreams`)).json()) as { upstreams: Record<string, { targets: { healthy: boolean }[] }> }).upstreams;
      await waitFor(async () => (await state())['bad']!.targets[0]!.healthy === false, 5000, 'the unverified target marked unhealthy');
      assert.equal((await state())['s']!.targets[0]!.healthy, true);
      const res = await fetch(`${gw.url}/x`);
      assert.equal(res.status, 200);
      await res.arrayBuffer();
    } finally {
      await gw.close();
    }
  });

  it('insecureSkipVerify: true connects to anything and warns at start', async () => {
    const gw = await startGateway(`
upstreams: { s: { targets: [{ url: ${url} }], tls: { insecureSkipVerify: true } } }
routes: [{ name: r, match: { pathPrefix: / }, upstream: s }]
`);
    try {
      const res = await fetch(`${gw.url}/x`);
      assert.equal(res.status, 200);
      await res.arrayBuffer();
      assert.ok(gw.logs.some((l) => l['event'] === 'config.insecure_upstream' && l['upstream'] === 's' && l['level'] === 40));
    } finally {
      await gw.close();
    }
  });

  it('config: tls on http:// targets and cert without key are refused with their field paths', () => {
    const problems = configProblems(`
upstreams: { s: { targets: [{ url: http://127.0.0.1:1 }], tls: { cert: a.pem } } }
routes: [{ name: r, match: { pathPrefix: / }, upstream: s }]
`);
    assert.ok(problems.some((p) => p.startsWith('upstreams.s.tls.key:')), problems.join('\n'));
    assert.ok(problems.some((p) => p.startsWith('upstreams.s.targets[0].url:')), problems.join('\n'));
  });
});
