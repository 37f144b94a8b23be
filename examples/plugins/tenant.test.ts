/** The example plugin, loaded from a config file the way users load theirs (`plugins:` relative to the file). */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createGateway, ConfigError, type Gateway } from '../../src/index.js';
import { startDemoBackend, type DemoBackend } from '../../test/helpers.js';

describe('examples/plugins/tenant.js', () => {
  let backend: DemoBackend;
  let gw: Gateway;
  let dir: string;
  let base: string;
  let admin: string;
  const config = (allow: string) => `
plugins: ["${join(import.meta.dirname, 'tenant.js')}"]
server: { port: 0 }
admin: { port: 0 }
logging: { level: silent, accessLog: false }
upstreams: { b: { targets: [{ url: "\${BACKEND}" }] } }
routes:
  - { name: t, match: { pathPrefix: / }, upstream: b, tenant: { allow: [${allow}] } }
`;
  before(async () => {
    backend = await startDemoBackend();
    dir = await mkdtemp(join(tmpdir(), 'gw-tenant-'));
    await writeFile(join(dir, 'gateway.yaml'), config('blue, green'));
    gw = await createGateway(join(dir, 'gateway.yaml'), { env: { BACKEND: backend.url } });
    const { port, adminPort } = await gw.start();
    base = `http://127.0.0.1:${port}`;
    admin = `http://127.0.0.1:${adminPort}`;
  });
  after(async () => {
    await gw?.close();
    await backend?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('forwards known tenants as X-Tenant-Id and counts them', async () => {
    const res = await fetch(`${base}/orders`, { headers: { 'x-tenant': 'blue' } });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('x-served-for'), 'tenant-policy');
    const echo = (await res.json()) as { headers: Record<string, string> };
    assert.equal(echo.headers['x-tenant-id'], 'blue');
    assert.equal(echo.headers['x-tenant'], undefined);
    const metrics = await (await fetch(`${admin}/metrics`)).text();
    assert.match(metrics, /tenant_requests_total\{tenant="blue"\} 1/);
  });

  it('answers unknown and missing tenants locally', async () => {
    const unknown = await fetch(`${base}/orders`, { headers: { 'x-tenant': 'red' } });
    assert.equal(unknown.status, 403);
    assert.equal(await unknown.text(), 'unknown tenant\n');
    const missing = await fetch(`${base}/orders`);
    assert.equal(missing.status, 400);
  });

  it('its config is validated with field paths', async () => {
    await writeFile(join(dir, 'bad.yaml'), config('blue, blue, "Not OK"'));
    await assert.rejects(createGateway(join(dir, 'bad.yaml'), { env: { BACKEND: backend.url } }), (err: ConfigError) => {
      assert.ok(err.problems.some((p) => p.startsWith('routes[0].tenant.allow[2]:')), err.problems.join('\n'));
      return true;
    });
  });
});
