import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { startDemoBackend, startGateway, waitFor, type DemoBackend, type TestGateway } from './helpers.js';
import { jose, jwks, keyPair, now } from './jwt-fixtures.js';

const ISS = 'https://idp.test/';

/** A tiny JWKS endpoint on an ephemeral port: what it serves, whether it is up, how often it was asked. */
async function startIdp() {
  const state = { doc: { keys: [] as unknown[] } as unknown, up: true, hits: 0, delayMs: 0 };
  const server = http.createServer((req, res) => {
    state.hits++;
    if (!state.up) {
      res.writeHead(500).end('down');
      return;
    }
    setTimeout(() => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(state.doc)), state.delayMs);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/jwks.json`;
  return { state, url, close: () => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }) };
}

const config = (backendUrl: string, jwksUri: string, refresh = '300ms', cooldown = '200ms') => `
jwt:
  issuers:
    - { name: idp, issuer: "${ISS}", audiences: [api], algorithms: [RS256, ES256], jwksUri: "${jwksUri}" }
  jwks: { timeout: 1s, refreshInterval: ${refresh}, cooldown: ${cooldown} }
upstreams:
  backend: { targets: [{ url: ${backendUrl} }] }
routes:
  - { name: api, match: { pathPrefix: / }, upstream: backend, auth: { jwt: required } }
`;

const claims = (sub: string) => ({ iss: ISS, aud: 'api', sub, exp: now() + 300 });
const k1 = keyPair('rsa');
const k2 = keyPair('ec');
const k3 = keyPair('rsa');

describe('JWKS', () => {
  let backend: DemoBackend;
  let idp: Awaited<ReturnType<typeof startIdp>>;
  let gw: TestGateway;
  before(async () => {
    backend = await startDemoBackend();
    idp = await startIdp();
    idp.state.doc = jwks({ key: k1.publicKey, kid: 'k1', alg: 'RS256' });
    gw = await startGateway(config(backend.url, idp.url));
  });
  after(async () => {
    await gw.close();
    await idp.close();
    await backend.close();
  });

  const status = async (token: string) => (await fetch(`${gw.url}/x`, { headers: { authorization: `Bearer ${token}` } })).status;

  it('verifies with the fetched key set', async () => {
    assert.equal(await status(await jose('RS256', k1.privateKey, claims('a'), { kid: 'k1' })), 200);
  });

  it('rotation: a new kid triggers a refetch; a removed key stops verifying, cached tokens included', async () => {
    const old = await jose('RS256', k1.privateKey, claims('old'), { kid: 'k1' });
    assert.equal(await status(old), 200); // now cached
    idp.state.doc = jwks({ key: k2.publicKey, kid: 'k2', alg: 'ES256' });
    await new Promise((r) => setTimeout(r, 220)); // past the cooldown
    const before = backend.count();
    assert.equal(await status(await jose('ES256', k2.privateKey, claims('b'), { kid: 'k2' })), 200);
    assert.equal(await status(old), 401, 'a token verified by a removed key must not be served from the cache');
    assert.equal(backend.count(), before + 1);
  });

  it('the endpoint going down: the last good key set keeps serving', async () => {
    idp.state.up = false;
    const hits = idp.state.hits;
    await waitFor(() => idp.state.hits >= hits + 2, 3000, 'background refreshes against the dead endpoint');
    assert.ok(gw.logs.some((l) => l['event'] === 'jwks.fetch_failed'));
        assert.equal(await status(await jose('ES256', k2.privateKey, claims('while-down-2'), { kid: 'k2' })), 200);
    idp.state.up = true;
  });
});

describe('JWKS: no stampede (no background refresh, so every fetch counted is on demand)', () => {
  let backend: DemoBackend;
  let idp: Awaited<ReturnType<typeof startIdp>>;
  let gw: TestGateway;
  before(async () => {
    backend = await startDemoBackend();
    idp = await startIdp();
    idp.state.doc = jwks({ key: k2.publicKey, kid: 'k2', alg: 'ES256' });
    // A cooldown long enough that 60 concurrent requests on a loaded machine all fall inside it
    // (with 200 ms, requests that arrived late started a second, legitimate fetch).
    gw = await startGateway(config(backend.url, idp.url, '1h', '2s'));
  });
  after(async () => {
    await gw.close();
    await idp.close();
    await backend.close();
  });

  const status = async (token: string) => (await fetch(`${gw.url}/x`, { headers: { authorization: `Bearer ${token}` } })).status;

  it('no stampede: many concurrent unknown kids cause one fetch', async () => {
    idp.state.doc = jwks({ key: k2.publicKey, kid: 'k2', alg: 'ES256' }, { key: k3.publicKey, kid: 'k3', alg: 'RS256' });
    idp.state.delayMs = 100;
    await new Promise((r) => setTimeout(r, 2100)); // past the cooldown of the start-up fetch
    const tokens = await Promise.all(Array.from({ length: 40 }, (_, i) => jose('RS256', k3.privateKey, claims(`u${i}`), { kid: 'k3' })));
    const bogus = await Promise.all(Array.from({ length: 20 }, (_, i) => jose('RS256', k3.privateKey, claims(`x${i}`), { kid: `unknown-${i}` })));
    const hits = idp.state.hits;
    const results = await Promise.all([...tokens, ...bogus].map(status));
    idp.state.delayMs = 0;
    assert.deepEqual(results.slice(0, 40), Array(40).fill(200));
    assert.deepEqual(results.slice(40), Array(20).fill(401));
    assert.ok(idp.state.hits - hits === 1, `expected exactly one fetch, got ${idp.state.hits - hits}`);
  });

  it('unknown kids within the cooldown cause no fetch at all', async () => {
    await status(await jose('RS256', k3.privateKey, claims('y'), { kid: 'fresh-unknown' })); // may fetch once
    const hits = idp.state.hits;
    const bogus = await Promise.all(Array.from({ length: 20 }, (_, i) => jose('RS256', k3.privateKey, claims(`z${i}`), { kid: `nope-${i}` })));
    assert.deepEqual(await Promise.all(bogus.map(status)), Array(20).fill(401));
    assert.ok(idp.state.hits - hits <= 1, `got ${idp.state.hits - hits} fetches`);
  });

});

describe('JWKS endpoint down at start', () => {
  it('answers 503 GW_ERR_AUTH_KEYS_UNAVAILABLE until the keys arrive, then verifies', async () => {
    const backend = await startDemoBackend();
    const idp = await startIdp();
    idp.state.up = false;
    const gw = await startGateway(config(backend.url, idp.url));
    try {
      const token = await jose('RS256', k1.privateKey, claims('early'), { kid: 'k1' });
      const res = await fetch(`${gw.url}/x`, { headers: { authorization: `Bearer ${token}` } });
      assert.equal(res.status, 503);
      assert.equal(((await res.json()) as { code: string }).code, 'GW_ERR_AUTH_KEYS_UNAVAILABLE');
      assert.equal(backend.count(), 0);
      idp.state.doc = jwks({ key: k1.publicKey, kid: 'k1', alg: 'RS256' });
      idp.state.up = true;
      await waitFor(async () => (await fetch(`${gw.url}/x`, { headers: { authorization: `Bearer ${token}` } })).status === 200, 3000, 'keys after recovery');
    } finally {
      await gw.close();
      await idp.close();
      await backend.close();
    }
  });
});
