import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { basicConfig, startDemoBackend, startGateway, type DemoBackend, type TestGateway } from './helpers.js';

describe('admin listener', () => {
  let backend: DemoBackend;
  let gw: TestGateway;
  before(async () => {
    backend = await startDemoBackend();
    gw = await startGateway(basicConfig(backend.url));
  });
  after(async () => {
    await gw.close();
    await backend.close();
  });

  it('is on its own port and answers /health and /ready', async () => {
    assert.notEqual(gw.adminUrl, gw.url);
    const health = await fetch(`${gw.adminUrl}/health`);
    assert.equal(health.status, 200);
    assert.deepEqual(await health.json(), { status: 'ok' });
    const ready = await fetch(`${gw.adminUrl}/ready`);
    assert.equal(ready.status, 200);
    assert.equal(((await ready.json()) as { status: string }).status, 'ready');
  });

  it('serves the compiled route table at /routes', async () => {
    const res = await fetch(`${gw.adminUrl}/routes`);
    assert.equal(res.status, 200);
    const body = (await res.json()) as { routes: Array<{ name: string; upstream: string; targets: string[] }> };
    assert.equal(body.routes.length, 1);
    assert.equal(body.routes[0]!.name, 'api');
    assert.deepEqual(body.routes[0]!.targets, [backend.url]);
  });

  it('answers unknown paths with 404 and other methods with 405, as problem+json', async () => {
    const nf = await fetch(`${gw.adminUrl}/nope`);
    assert.equal(nf.status, 404);
    assert.equal(nf.headers.get('content-type'), 'application/problem+json');
    const na = await fetch(`${gw.adminUrl}/health`, { method: 'POST' });
    assert.equal(na.status, 405);
    assert.equal(na.headers.get('allow'), 'GET, HEAD');
  });

  it('is not reachable through the proxy port', async () => {
    const res = await fetch(`${gw.url}/routes`);
    const body = (await res.json()) as { path?: string };
    assert.equal(body.path, '/routes', 'proxied to the backend, not answered by admin');
  });

  it('reports not ready once draining', async () => {
    const g = await startGateway(basicConfig(backend.url));
    const closing = g.gateway.close(200);
    const res = await fetch(`${g.adminUrl}/ready`).catch(() => undefined);
    assert.ok(res === undefined || res.status === 503);
    await closing;
  });
});
