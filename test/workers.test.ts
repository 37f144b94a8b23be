/**
 * `gateway start --workers 2`: the workers share the proxy and admin ports, and a /metrics scrape,
 * whichever worker takes it, counts the requests of both.
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import http from 'node:http';
import { after, before, describe, it } from 'node:test';
import { parseExposition, sampleValue } from './exposition.js';
import { spawnGateway, startDemoBackend, waitFor, type DemoBackend } from './helpers.js';

/** One request on a connection of its own, so that the cluster hands it to the next worker. */
function get(port: number, path: string, headers: Record<string, string> = {}): Promise<{ status: number; type: string; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path, agent: false, headers: { connection: 'close', ...headers } }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, type: String(res.headers['content-type']), body }));
    });
    req.on('error', reject);
  });
}

describe('--workers', () => {
  let backend: DemoBackend;
  let child: ChildProcess;
  let lines: Array<Record<string, unknown>> = [];
  let port = 0;
  let adminPort = 0;

  before(async () => {
    backend = await startDemoBackend();
    const gw = spawnGateway(
      `server: { port: 0 }\nadmin: { port: 0 }\nlogging: { accessLog: true }\n` +
        `upstreams: { b: { targets: [{ url: ${backend.url} }] } }\nroutes: [{ name: api, match: { pathPrefix: /api }, upstream: b }]\n`,
      ['--workers', '2'],
    );
    child = gw.child;
    lines = gw.lines;
    const started = await gw.started(2);
    assert.equal(started[0]!.port, started[1]!.port, 'one port for both workers');
    port = started[0]!.port;
    adminPort = started[0]!.adminPort;
  });

  after(async () => {
    if (child.exitCode === null) {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
    }
    await backend.close();
  });

  it('every scrape counts the requests of both workers', async () => {
    for (let i = 0; i < 40; i++) assert.equal((await get(port, `/api/${i}`)).status, 200);
    await waitFor(() => lines.filter((l) => l['event'] === 'access').length === 40, 5000, '40 access lines');
    const pids = new Set(lines.filter((l) => l['event'] === 'access').map((l) => l['pid']));
    assert.equal(pids.size, 2, 'both workers served requests (else this test proves nothing)');

    for (let i = 0; i < 6; i++) {
      const res = await get(adminPort, '/metrics');
      assert.equal(res.status, 200, res.body);
      const families = parseExposition(res.body);
      assert.equal(sampleValue(families, 'gateway_http_requests_total', 'gateway_http_requests_total', { route: 'api', method: 'GET', status: '200' }), 40);
      assert.equal(sampleValue(families, 'gateway_http_request_duration_seconds', 'gateway_http_request_duration_seconds_count', { route: 'api', method: 'GET' }), 40);
    }
    const om = await get(adminPort, '/metrics', { accept: 'application/openmetrics-text; version=1.0.0' });
    assert.match(om.type, /application\/openmetrics-text/);
    const families = parseExposition(om.body, true);
    assert.equal(sampleValue(families, 'gateway_http_requests', 'gateway_http_requests_total', { route: 'api', method: 'GET', status: '200' }), 40);
  });

  it('drains both workers and exits 0 on SIGTERM', async () => {
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    child.kill('SIGTERM');
    assert.equal(await exited, 0);
    assert.equal(lines.filter((l) => l['event'] === 'gateway.stopped').length, 2);
  });
});
