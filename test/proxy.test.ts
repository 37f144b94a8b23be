import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { basicConfig, startDemoBackend, startGateway, type DemoBackend, type TestGateway } from './helpers.js';

describe('proxy basics', () => {
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

  it('forwards a GET and returns the backend body with a request id', async () => {
    const res = await fetch(`${gw.url}/hello?x=1`);
    assert.equal(res.status, 200);
    const body = (await res.json()) as { path: string; query: Record<string, string>; headers: Record<string, string> };
    assert.equal(body.path, '/hello');
    assert.deepEqual(body.query, { x: '1' });
    assert.match(res.headers.get('x-request-id') ?? '', /^[0-9a-f-]{36}$/);
    assert.equal(body.headers['x-request-id'], res.headers.get('x-request-id'));
  });
});
