import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import { jwtVerify, createLocalJWKSet } from 'jose';
import { startDemoBackend, startGateway, type DemoBackend } from './helpers.js';
import { tmp } from './jwt-fixtures.js';

const run = promisify(execFile);
const cli = (...args: string[]) => run(process.execPath, ['dist/cli.js', ...args], { env: { ...process.env, JWT_SECRET: '' } });

describe('gateway keys / gateway token', () => {
  let backend: DemoBackend;
  const dir = tmp();
  before(async () => {
    backend = await startDemoBackend();
  });
  after(() => backend.close());

  for (const alg of ['ES256', 'RS256', 'EdDSA']) {
    it(`${alg}: keys generate writes a JWKS the gateway reads; token signs with the private key`, async () => {
      const out = join(dir, alg);
      await cli('keys', 'generate', '--alg', alg, '--out', out);
      const jwks = JSON.parse(readFileSync(join(out, 'jwks.json'), 'utf8')) as { keys: Array<{ kid: string; d?: string }> };
      assert.equal(jwks.keys.length, 1);
      assert.equal(jwks.keys[0]!.d, undefined, 'no private material in the JWKS');
      const config = join(dir, `${alg}.yaml`);
      const yaml = `
jwt:
  issuers: [{ name: mine, issuer: https://mine, audiences: [api], algorithms: [${alg}], jwksFile: ${join(out, 'jwks.json')} }]
  forwardClaims: { sub: X-User-Id, tenant: X-Tenant }
upstreams:
  backend: { targets: [{ url: ${backend.url} }] }
routes:
  - { name: api, match: { pathPrefix: / }, upstream: backend, auth: { jwt: required, scopes: [orders:read] } }
`;
      writeFileSync(config, yaml);
      const { stdout } = await cli('token', '--config', config, '--issuer', 'mine', '--key', join(out, 'private.pem'), '--sub', 'alice', '--scope', 'orders:read', '--ttl', '5m', '--claim', 'tenant=acme');
      const token = stdout.trim();
      // An independent implementation agrees it is a valid token for this JWKS.
      const { payload, protectedHeader } = await jwtVerify(token, createLocalJWKSet(jwks as never), { issuer: 'https://mine', audience: 'api' });
      assert.equal(protectedHeader.alg, alg);
      assert.equal(payload.sub, 'alice');
      assert.ok(payload.exp! - payload.iat! === 300);
      const gw = await startGateway(yaml);
      try {
        const res = await fetch(`${gw.url}/x`, { headers: { authorization: `Bearer ${token}` } });
        assert.equal(res.status, 200);
        const echo = (await res.json()) as { headers: Record<string, string> };
        assert.equal(echo.headers['x-user-id'], 'alice');
        assert.equal(echo.headers['x-tenant'], 'acme');
      } finally {
        await gw.close();
      }
    });
  }

  it('token with the bundled example config and its demo secret works on the demo route', async () => {
    const { stdout } = await cli('token', '--config', 'gateway.example.yaml', '--issuer', 'local', '--sub', 'alice', '--scope', 'orders:read');
    const gw = await startGateway(readFileSync('gateway.example.yaml', 'utf8'), { DEMO_BACKEND_URL: backend.url, JWT_SECRET: '' });
    try {
      const res = await fetch(`${gw.url}/api/orders/7`, { headers: { authorization: `Bearer ${stdout.trim()}` } });
      assert.equal(res.status, 200);
      assert.equal((await fetch(`${gw.url}/api/orders/7`)).status, 401);
    } finally {
      await gw.close();
    }
  });

  it('explains a wrong issuer name and refuses to overwrite keys', async () => {
    await assert.rejects(cli('token', '--config', 'gateway.example.yaml', '--issuer', 'nope'), (e: { stderr: string }) => /no issuer "nope"/.test(e.stderr));
    await cli('keys', 'generate', '--out', join(dir, 'once'));
    await assert.rejects(cli('keys', 'generate', '--out', join(dir, 'once')), (e: { stderr: string }) => /already exist/.test(e.stderr));
  });
});
