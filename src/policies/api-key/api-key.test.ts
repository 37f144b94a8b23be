/**
 * API keys end to end: keys from config, env, a digest and a keys file; header or query parameter;
 * the key removed before forwarding and never logged; the consumer feeding rate-limit key `consumer`
 * and the access log like a JWT sub; scopes; a route that takes either an API key or a JWT.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ConfigError } from '../../errors.js';
import { configProblems, startDemoBackend, startGateway, type DemoBackend, type TestGateway } from '../../../test/helpers.js';
import { jose, now } from '../../../test/jwt-fixtures.js';
import { takeQueryParam } from './keys.js';

const ALICE = 'alice-key-0123456789abcdef';
const BOB = 'bob-key-0123456789abcdef00';
const CAROL = 'carol-key-0123456789abcdef0';
const DAVE = 'dave-key-0123456789abcdef00';
const SECRET = 'apikey-test-secret-long-enough-for-hs256!';
const sha = (k: string) => createHash('sha256').update(k).digest('hex');

interface Echo {
  path: string;
  query: Record<string, string>;
  headers: Record<string, string>;
}

describe('apiKey policy', () => {
  let backend: DemoBackend;
  let gw: TestGateway;
  let dir: string;
  before(async () => {
    backend = await startDemoBackend();
    dir = await mkdtemp(join(tmpdir(), 'apikey-'));
    const file = join(dir, 'keys.yaml');
    await writeFile(file, `keys:\n  - { consumer: dave, sha256: ${sha(DAVE)} }\n`);
    gw = await startGateway(
      `
jwt:
  issuers: [{ name: local, issuer: https://auth.local, algorithms: [HS256], secret: ${SECRET} }]
apiKey:
  query: api_key
  keysFile: ${file}
  keys:
    - { consumer: alice, scopes: [read], key: "\${ALICE_KEY}" }
    - { consumer: bob, scopes: [read], keyEnv: BOB_KEY }
    - { consumer: carol, scopes: [read, admin], sha256: ${sha(CAROL).toUpperCase()} }
upstreams:
  backend: { targets: [{ url: ${backend.url} }] }
routes:
  - name: keyed
    match: { pathPrefix: /keyed }
    upstream: backend
    apiKey: required
    rateLimit: [{ key: consumer, limit: 2, window: 1m }]
  - name: admin
    match: { pathPrefix: /admin }
    upstream: backend
    apiKey: { mode: required, scopes: [admin] }
  - name: either
    match: { pathPrefix: /either }
    upstream: backend
    apiKey: optional
    auth: { jwt: required, scopes: [read] }
`,
      { ALICE_KEY: ALICE, BOB_KEY: BOB },
    );
  });
  after(async () => {
    await gw?.close();
    await backend?.close();
    await rm(dir, { recursive: true, force: true });
  });

  async function refused(res: Response, status: number, code: string): Promise<void> {
    assert.equal(res.status, status);
    assert.equal(((await res.json()) as { code: string }).code, code);
  }

  it('refuses a missing or wrong key with 401 and a challenge, before the upstream', async () => {
    const before = backend.count();
    const missing = await fetch(`${gw.url}/admin/x`);
    assert.equal(missing.headers.get('www-authenticate'), 'Key realm="gateway"');
    await refused(missing, 401, 'GW_ERR_APIKEY_MISSING');
    await refused(await fetch(`${gw.url}/admin/x`, { headers: { 'x-api-key': 'wrong-key-0123456789abcdef' } }), 401, 'GW_ERR_APIKEY_INVALID');
    await refused(await fetch(`${gw.url}/admin/x?api_key=wrong`), 401, 'GW_ERR_APIKEY_INVALID');
    await refused(await fetch(`${gw.url}/admin/x`, { headers: { 'x-api-key': '' } }), 401, 'GW_ERR_APIKEY_MISSING');
    assert.equal(backend.count(), before);
  });

  it('admits keys from config, env, a digest and a keys file; the key never reaches the upstream', async () => {
    for (const k of [ALICE, BOB, CAROL, DAVE]) {
      const res = await fetch(`${gw.url}/either/x?a=1`, { headers: { 'x-api-key': k } });
      if (k === DAVE) {
        await refused(res, 403, 'GW_ERR_AUTH_SCOPE'); // dave has no `read` scope
        continue;
      }
      assert.equal(res.status, 200, k);
      const echo = (await res.json()) as Echo;
      assert.equal(echo.headers['x-api-key'], undefined);
      assert.deepEqual(echo.query, { a: '1' });
    }
    const viaQuery = await fetch(`${gw.url}/admin/x?a=1&api_key=${encodeURIComponent(CAROL)}&b=2`);
    assert.equal(viaQuery.status, 200);
    const echo = (await viaQuery.json()) as Echo;
    assert.deepEqual(echo.query, { a: '1', b: '2' });
    assert.ok(!backend.seen().some((s) => JSON.stringify(s).includes(CAROL) || JSON.stringify(s).includes(ALICE)), 'no key in anything the upstream saw');
  });

  it('checks the scopes a route requires', async () => {
    await refused(await fetch(`${gw.url}/admin/x`, { headers: { 'x-api-key': BOB } }), 403, 'GW_ERR_AUTH_SCOPE');
    assert.equal((await fetch(`${gw.url}/admin/x`, { headers: { 'x-api-key': CAROL } })).status, 200);
  });

  it('feeds rate-limit key consumer and the access log as a JWT sub does, and never logs the key', async () => {
    const codes: number[] = [];
    for (let i = 0; i < 3; i++) codes.push((await fetch(`${gw.url}/keyed/x`, { headers: { 'x-api-key': ALICE } })).status);
    assert.deepEqual(codes, [200, 200, 429]);
    assert.equal((await fetch(`${gw.url}/keyed/x?api_key=${BOB}`)).status, 200, 'bob has his own bucket');
    const access = gw.logs.filter((l) => l['event'] === 'access' && String(l['path']).startsWith('/keyed'));
    assert.deepEqual(access.map((l) => l['consumer']), ['alice', 'alice', 'alice', 'bob']);
    const all = JSON.stringify(gw.logs);
    for (const k of [ALICE, BOB, CAROL, DAVE]) assert.ok(!all.includes(k), 'no key in any log line');
  });

  it('takes either an API key or a JWT on a route with apiKey: optional and jwt: required', async () => {
    const tok = await jose('HS256', new TextEncoder().encode(SECRET), { iss: 'https://auth.local', sub: 'erin', scope: 'read', iat: now(), exp: now() + 300 });
    assert.equal((await fetch(`${gw.url}/either/x`, { headers: { authorization: `Bearer ${tok}` } })).status, 200);
    assert.equal((await fetch(`${gw.url}/either/x`, { headers: { 'x-api-key': ALICE } })).status, 200);
    await refused(await fetch(`${gw.url}/either/x`), 401, 'GW_ERR_AUTH_MISSING');
    await refused(await fetch(`${gw.url}/either/x`, { headers: { 'x-api-key': 'nope-0123456789abcdef', authorization: `Bearer ${tok}` } }), 401, 'GW_ERR_APIKEY_INVALID');
  });
});

describe('apiKey config', () => {
  const cfg = (top: string, route: string) => `
${top}
upstreams: { b: { targets: [{ url: "http://127.0.0.1:1" }] } }
routes:
  - { name: r, match: { pathPrefix: / }, upstream: b${route} }
`;
  it('names the field of each problem', () => {
    assert.deepEqual(configProblems(cfg('', ', apiKey: required')), ['routes[0].apiKey: needs the top-level apiKey block (keys, keysFile)']);
    assert.deepEqual(configProblems(cfg(`apiKey: { keys: [{ consumer: a, key: "${ALICE}", sha256: ${sha(ALICE)} }] }`, '')), ['apiKey.keys[0]: set exactly one of key, keyEnv or sha256']);
    assert.deepEqual(configProblems(cfg('apiKey: { keys: [] }', '')), ['apiKey: no keys: set keys, keysFile or both']);
    assert.deepEqual(
      configProblems(cfg(`apiKey: { keys: [{ consumer: a, key: "${ALICE}" }] }\njwt: { issuers: [{ name: l, issuer: i, algorithms: [HS256], secret: "0123456789abcdef0123456789abcdef" }] }`, ', apiKey: required, auth: { jwt: required }')),
      ['routes[0].apiKey: with auth: { jwt: required } use apiKey: optional — a request then needs a valid API key or a valid token (both at once are not supported)'],
    );
    assert.deepEqual(configProblems(cfg('apiKey: { keys: [{ consumer: a, key: short }] }', '')), ['apiKey.keys[0].key: at least 16 characters (a guessable key is no key)']);
  });

  it('refuses an unset keyEnv, a duplicate key and an unreadable keys file when the gateway compiles', async () => {
    const problems = async (top: string): Promise<readonly string[]> => {
      try {
        const gw = await startGateway(cfg(top, ''));
        await gw.close();
        return [];
      } catch (err) {
        if (err instanceof ConfigError) return err.problems;
        throw err;
      }
    };
    assert.deepEqual(await problems('apiKey: { keys: [{ consumer: a, keyEnv: APIKEY_TEST_UNSET }] }'), ['apiKey.keys[0].keyEnv: environment variable APIKEY_TEST_UNSET is not set']);
    assert.deepEqual(await problems(`apiKey: { keys: [{ consumer: a, key: "${ALICE}" }, { consumer: b, sha256: ${sha(ALICE)} }] }`), ['apiKey.keys[1]: the same key as apiKey.keys[0]']);
    assert.match((await problems('apiKey: { keysFile: /nonexistent/keys.yaml }'))[0]!, /^apiKey\.keysFile \(\/nonexistent\/keys\.yaml\): cannot read the file \(ENOENT\)/);
  });

  it('takes a query parameter out of the query string', () => {
    assert.deepEqual(takeQueryParam('?a=1&api_key=k%20y&b=2', 'api_key'), { value: 'k y', rest: 'a=1&b=2' });
    assert.deepEqual(takeQueryParam('?api_key=x', 'api_key'), { value: 'x', rest: '' });
    assert.equal(takeQueryParam('?xapi_key=1', 'api_key'), undefined);
    assert.equal(takeQueryParam('', 'api_key'), undefined);
  });
});
