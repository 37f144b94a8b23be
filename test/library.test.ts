/**
 * Library mode as docs/policies.md shows it: createGateway with a plain object, `handler` mounted in
 * node:http, Express and Fastify (request bodies stream through; the gateway's own header lines still
 * go out), and two gateways in one process that share nothing.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import express from 'express';
import Fastify from 'fastify';
import { ConfigError, createGateway, type Gateway } from '../src/index.js';
import { startDemoBackend, type DemoBackend } from './helpers.js';

const config = (backend: string, limit = 100) => ({
  server: { port: 0 },
  admin: { enabled: false },
  logging: { level: 'silent', accessLog: false },
  upstreams: { b: { targets: [{ url: backend }] } },
  routes: [{ name: 'api', match: { pathPrefix: '/api' }, upstream: 'b', rateLimit: [{ key: 'ip', limit, window: '1m' }] }],
});

async function listen(server: http.Server): Promise<string> {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

interface Echo {
  path: string;
  body: { bytes: number };
}

describe('library mode', () => {
  let backend: DemoBackend;
  let gw: Gateway;
  const servers: http.Server[] = [];
  before(async () => {
    backend = await startDemoBackend();
    gw = await createGateway(config(backend.url));
  });
  after(async () => {
    for (const s of servers) s.close();
    await gw?.close();
    await backend?.close();
  });

  it('a plain config object with a mistake is a ConfigError naming the field, not a TypeError', async () => {
    await assert.rejects(createGateway({ ...config(backend.url), routes: [{ name: 'x', match: { pathPrefix: '/' }, upstream: 'nope' }] }), (err: ConfigError) => {
      assert.ok(err instanceof ConfigError);
      assert.ok(err.problems.some((p) => p.startsWith('routes[0].upstream:')), err.problems.join('\n'));
      return true;
    });
    await assert.rejects(createGateway({ routes: 'no' }), ConfigError);
  });

  async function check(base: string): Promise<void> {
    const res = await fetch(`${base}/api/items?q=1`, { method: 'POST', body: 'x'.repeat(100_000), headers: { 'content-type': 'application/json' } });
    assert.equal(res.status, 200);
    assert.ok(res.headers.get('x-request-id'), 'the request id header goes out through a foreign response');
    assert.match(res.headers.get('ratelimit-policy') ?? '', /"ip-1m";q=100;w=60/, 'rate-limit fields go out through a foreign response');
    const echo = (await res.json()) as Echo;
    assert.equal(echo.path, '/api/items');
    assert.equal(echo.body.bytes, 100_000, 'the body streamed through untouched');
    const missing = await fetch(`${base}/api-nope`);
    assert.equal(missing.status, 404);
    assert.match(missing.headers.get('content-type') ?? '', /^application\/problem\+json/);
  }

  it('mounts in node:http', async () => {
    const server = http.createServer(gw.handler);
    servers.push(server);
    await check(await listen(server));
  });

  it('mounts in Express', async () => {
    const app = express();
    app.use('/api', (req, res) => {
      req.url = req.originalUrl;
      gw.handler(req, res);
    });
    app.use((_req, res) => {
      res.status(404).type('application/problem+json').send('{"code":"GW_ERR_ROUTE_NOT_FOUND"}');
    });
    const server = http.createServer(app);
    servers.push(server);
    await check(await listen(server));
  });

  it('mounts in Fastify', async () => {
    const fastify = Fastify();
    fastify.removeAllContentTypeParsers();
    fastify.addContentTypeParser('*', (_req, _payload, done) => done(null));
    fastify.all('/api/*', (request, reply) => {
      reply.hijack();
      gw.handler(request.raw, reply.raw);
    });
    fastify.setNotFoundHandler((_req, reply) => {
      void reply.code(404).type('application/problem+json').send('{"code":"GW_ERR_ROUTE_NOT_FOUND"}');
    });
    await fastify.listen({ port: 0, host: '127.0.0.1' });
    const addr = fastify.server.address() as AddressInfo;
    try {
      await check(`http://127.0.0.1:${addr.port}`);
    } finally {
      await fastify.close();
    }
  });

  it('two gateways in one process keep their own limits and close independently', async () => {
    const one = await createGateway(config(backend.url, 1));
    const two = await createGateway(config(backend.url, 1));
    const a = http.createServer(one.handler);
    const b = http.createServer(two.handler);
    servers.push(a, b);
    const [ua, ub] = [await listen(a), await listen(b)];
    assert.equal((await fetch(`${ua}/api/x`)).status, 200);
    assert.equal((await fetch(`${ua}/api/x`)).status, 429);
    assert.equal((await fetch(`${ub}/api/x`)).status, 200, 'the second gateway has its own buckets');
    await one.close(100);
    assert.equal((await fetch(`${ub}/api/x`)).status, 429, 'the second still serves after the first closed');
    await two.close(100);
  });

  it('reload(config) takes a plain object: validated first, a bad one keeps the old config serving', async () => {
    const g = await createGateway(config(backend.url));
    const server = http.createServer(g.handler);
    servers.push(server);
    const base = await listen(server);
    assert.equal((await fetch(`${base}/v2/x`)).status, 404);
    const bad = await g.reload({ ...config(backend.url), routes: [{ name: 'v2', match: { pathPrefix: '/v2' }, upstream: 'missing' }] });
    assert.equal(bad.ok, false);
    assert.ok(bad.problems?.some((p) => p.startsWith('routes[0].upstream:')), JSON.stringify(bad));
    assert.equal((await fetch(`${base}/api/x`)).status, 200, 'the old config still serves');
    const good = await g.reload({ ...config(backend.url), routes: [{ name: 'v2', match: { pathPrefix: '/v2' }, upstream: 'b' }] });
    assert.equal(good.ok, true, JSON.stringify(good));
    assert.equal((await fetch(`${base}/v2/x`)).status, 200);
    assert.equal((await fetch(`${base}/api/x`)).status, 404);
    await g.close(100);
  });
});
