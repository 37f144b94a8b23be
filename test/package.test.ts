/**
 * The package as a user gets it: `npm pack`, install the tarball in a new project, import it by name
 * (ESM and its TypeScript types), embed the gateway with a policy of the user's, mount its handler in
 * a plain node:http server. So `main`/`exports`/`types` can never break unseen again.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { access, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';

const run = promisify(execFile);
const root = resolve(import.meta.dirname, '..');
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';

const consumer = `
import http from 'node:http';
import { createGateway, definePolicy, Type, ConfigError } from 'gatewayd';

const backend = http.createServer((req, res) => res.end('backend ' + req.url));
await new Promise((r) => backend.listen(0, '127.0.0.1', r));
const url = 'http://127.0.0.1:' + backend.address().port;

const hello = definePolicy({
  name: 'hello', phase: 'transform', order: 1,
  config: Type.Object({ greeting: Type.String() }),
  create: (cfg) => ({ onRequest: (ctx) => (ctx.path === '/local' ? { status: 200, headers: { 'content-type': 'text/plain' }, body: cfg.greeting } : undefined) }),
});

const config = {
  server: { port: 0 }, admin: { enabled: false }, logging: { level: 'silent', accessLog: false },
  upstreams: { b: { targets: [{ url }] } },
  routes: [{ name: 'r', match: { pathPrefix: '/' }, upstream: 'b', hello: { greeting: 'hi from a policy' } }],
};
const out = {};
try {
  await createGateway({ ...config, routes: [{ ...config.routes[0], upstream: 'nope' }] }, { policies: [hello] });
} catch (err) {
  out.invalid = err instanceof ConfigError ? err.problems : String(err);
}
const gw = await createGateway(config, { policies: [hello] });
const mounted = http.createServer(gw.handler);
await new Promise((r) => mounted.listen(0, '127.0.0.1', r));
const base = 'http://127.0.0.1:' + mounted.address().port;
const a = await fetch(base + '/local');
out.local = [a.status, await a.text(), Boolean(a.headers.get('x-request-id'))];
const b = await fetch(base + '/proxied?x=1');
out.proxied = [b.status, await b.text()];
const { port } = await gw.start();
const c = await fetch('http://127.0.0.1:' + port + '/own-listener');
out.listener = [c.status, await c.text()];
await gw.close();
mounted.close();
backend.close();
console.log(JSON.stringify(out));
`;

const typed = `
import { createGateway, definePolicy, Type, type PolicyContext, type LocalReply } from 'gatewayd';
const p = definePolicy({
  name: 'typed', phase: 'auth', order: 1,
  config: Type.Object({ n: Type.Integer() }),
  create: (cfg) => ({ onRequest: (ctx: PolicyContext): LocalReply | undefined => (cfg.n > ctx.path.length ? { status: 204 } : undefined) }),
});
export const made: Promise<unknown> = createGateway('gateway.yaml', { policies: [p] });
definePolicy({
  name: 'untyped', phase: 'auth', order: 1,
  config: Type.Object({ n: Type.Integer() }),
  // @ts-expect-error: the config type comes from the schema, which has no field m
  create: (cfg) => ({ onRequest: () => (cfg.m > 1 ? { status: 204 } : undefined) }),
});
`;

describe('the packed package', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'gw-pack-'));
    await run(npm, ['pack', '--silent', '--pack-destination', dir], { cwd: root });
    const tarball = (await readdir(dir)).find((f) => f.endsWith('.tgz'));
    assert.ok(tarball, 'npm pack wrote a tarball');
    await writeFile(join(dir, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' }));
    await run(npm, ['install', '--no-audit', '--no-fund', '--prefer-offline', '--omit=optional', join(dir, tarball)], { cwd: dir, timeout: 240_000 });
  });
  after(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('imports by name, validates, embeds a user policy, mounts in node:http and listens', async () => {
    await writeFile(join(dir, 'consumer.mjs'), consumer);
    const { stdout } = await run(process.execPath, ['consumer.mjs'], { cwd: dir, timeout: 30_000 });
    const out = JSON.parse(stdout.trim().split('\n').pop()!) as Record<string, unknown>;
    assert.ok(Array.isArray(out['invalid']) && (out['invalid'] as string[]).some((p) => p.startsWith('routes[0].upstream:')), String(out['invalid']));
    assert.deepEqual(out['local'], [200, 'hi from a policy', true]);
    assert.deepEqual(out['proxied'], [200, 'backend /proxied?x=1']);
    assert.deepEqual(out['listener'], [200, 'backend /own-listener']);
  });

  it('ships the editor schema, the dashboard and the license, not the optional packages, and names them when needed', async () => {
    const pkg = join(dir, 'node_modules', 'gatewayd');
    for (const f of ['gateway.schema.json', 'gateway.example.yaml', join('dashboards', 'grafana.json'), 'LICENSE']) {
      await access(join(pkg, f)).catch(() => assert.fail(`the package lacks ${f}`));
    }
    // (@opentelemetry/api, a few kB, comes with prom-client; the SDK is what weighs ~28 MB.)
    for (const optional of ['pino-pretty', '@opentelemetry/sdk-trace-base', '@opentelemetry/exporter-trace-otlp-http', '@opentelemetry/resources']) {
      await assert.rejects(access(join(dir, 'node_modules', optional)), `${optional} is not installed with gatewayd`);
    }
    await writeFile(join(dir, 'pretty.yaml'), '# yaml-language-server: $schema=./node_modules/gatewayd/gateway.schema.json\nlogging: { format: pretty }\nupstreams: {}\nroutes: []\n');
    const r = await run(process.execPath, [join(pkg, 'dist', 'cli.js'), 'validate', 'pretty.yaml'], { cwd: dir, timeout: 30_000 }).then(
      () => assert.fail('validate accepted format: pretty without pino-pretty'),
      (err: { code?: number; stderr?: string }) => err,
    );
    assert.equal(r.code, 1);
    assert.match(r.stderr ?? '', /logging\.format: "pretty" needs the optional package pino-pretty, not installed \(npm install pino-pretty\)/);
  });

  it('ships types a strict TypeScript consumer compiles against', async () => {
    await writeFile(join(dir, 'typed.ts'), typed);
    const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
    await run(process.execPath, [tsc, '--noEmit', '--strict', '--module', 'nodenext', '--moduleResolution', 'nodenext', '--target', 'es2022', '--skipLibCheck', 'typed.ts'], {
      cwd: dir,
      timeout: 60_000,
    }).catch((err: { stdout?: string }) => assert.fail(`tsc failed:\n${err.stdout ?? String(err)}`));
  });
});
