/** Reload and shutdown of real `gateway start` processes: SIGHUP, --watch, --workers, SIGTERM under load. */
import assert from 'node:assert/strict';
import { renameSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { keyPair } from './jwt-fixtures.js';
import { spawnGateway, startDemoBackend, waitFor, type DemoBackend, type GatewayProcess } from './helpers.js';

const yaml = (backend: string, routes: string[], extra = '') => `
server: { port: 0 }
admin: { port: 0 }
logging: { accessLog: false }
${extra}
upstreams: { b: { targets: [{ url: ${backend} }] } }
routes:
${routes.map((r) => `  - { name: ${r}, match: { pathPrefix: /${r} }, upstream: b, stripPrefix: true }`).join('\n')}
`;

function events(gw: GatewayProcess, event: string): Array<Record<string, unknown>> {
  return gw.lines.filter((l) => l['event'] === event);
}

async function stop(gw: GatewayProcess): Promise<number | null> {
  if (gw.child.exitCode !== null) return gw.child.exitCode;
  const exited = new Promise<number | null>((r) => gw.child.once('exit', (code) => r(code)));
  gw.child.kill('SIGTERM');
  return exited;
}

describe('reload of a running process', () => {
  let backend: DemoBackend;
  before(async () => {
    backend = await startDemoBackend();
  });
  after(() => backend.close());

  it('SIGHUP reloads a valid file, survives an invalid one (every problem logged with its field path)', async () => {
    const gw = spawnGateway(yaml(backend.url, ['a']));
    try {
      const [{ port }] = await gw.started();
      writeFileSync(gw.file, yaml(backend.url, ['a', 'b']));
      gw.child.kill('SIGHUP');
      await waitFor(() => events(gw, 'config.reloaded').length === 1, 5000, 'config.reloaded');
      assert.deepEqual(events(gw, 'config.reloaded')[0]!['added'], ['b']);
      assert.equal((await fetch(`http://127.0.0.1:${port}/b/x`)).status, 200);
      writeFileSync(gw.file, yaml(backend.url, ['a', 'b']).replace('upstream: b', 'upstream: nope'));
      gw.child.kill('SIGHUP');
      await waitFor(() => events(gw, 'config.reload_failed').length === 1, 5000, 'config.reload_failed');
      const problems = events(gw, 'config.problem').map((l) => l['msg']);
      assert.ok(problems.some((p) => String(p).startsWith('routes[0].upstream: unknown upstream "nope"')), problems.join('\n'));
      assert.equal(gw.child.exitCode, null, 'still running');
      assert.equal((await fetch(`http://127.0.0.1:${port}/a/x`)).status, 200, 'the old config serves');
      assert.equal((await fetch(`http://127.0.0.1:${port}/b/x`)).status, 200);
    } finally {
      assert.equal(await stop(gw), 0);
    }
  });

  it('--watch reloads when an editor writes a temp file and renames it over the config', async () => {
    const gw = spawnGateway(yaml(backend.url, ['a']), ['--watch']);
    try {
      const [{ port }] = await gw.started();
      await waitFor(() => events(gw, 'config.watching').length === 1, 5000, 'config.watching');
      const tmp = join(dirname(gw.file), '.gateway.yaml.swp');
      writeFileSync(tmp, yaml(backend.url, ['a', 'c']));
      renameSync(tmp, gw.file);
      await waitFor(() => events(gw, 'config.reloaded').length === 1, 5000, 'config.reloaded');
      assert.equal((await fetch(`http://127.0.0.1:${port}/c/x`)).status, 200);
      // A second save: a second reload (the watch survived the rename).
      writeFileSync(tmp, yaml(backend.url, ['c']));
      renameSync(tmp, gw.file);
      await waitFor(() => events(gw, 'config.reloaded').length === 2, 5000, 'second config.reloaded');
      assert.equal((await fetch(`http://127.0.0.1:${port}/a/x`)).status, 404);
    } finally {
      assert.equal(await stop(gw), 0);
    }
  });

  it('--workers: the primary validates once and every worker reloads; a worker that fails keeps its config and the primary reports it', async () => {
    const keyFile = join(tmpdir(), `gw-key-${process.pid}-${Date.now()}.pem`);
    writeFileSync(keyFile, keyPair('ec').publicKey.export({ type: 'spki', format: 'pem' }));
    const jwt = `jwt: { issuers: [{ name: f, issuer: https://f.test, algorithms: [ES256], publicKeyFile: ${keyFile} }] }`;
    const gw = spawnGateway(yaml(backend.url, ['a'], jwt), ['--workers', '2']);
    try {
      const started = await gw.started(2);
      const port = started[0]!.port;
      const adminPort = started[0]!.adminPort;
      writeFileSync(gw.file, yaml(backend.url, ['a', 'b'], jwt));
      gw.child.kill('SIGHUP');
      await waitFor(() => events(gw, 'config.reloaded').filter((l) => l['role'] === 'primary').length === 1, 10_000, 'primary config.reloaded');
      await waitFor(() => events(gw, 'config.reloaded').filter((l) => l['role'] !== 'primary').length === 2, 5000, 'both workers reloaded');
      for (let i = 0; i < 4; i++) assert.equal((await fetch(`http://127.0.0.1:${port}/b/x`)).status, 200);
      // POST /reload reaches one worker; it asks the primary, which reloads both.
      writeFileSync(gw.file, yaml(backend.url, ['a', 'b', 'c'], jwt));
      const res = await fetch(`http://127.0.0.1:${adminPort}/reload`, { method: 'POST' });
      assert.equal(res.status, 200);
      assert.deepEqual(((await res.json()) as { diff: { added: string[] } }).diff.added, ['c']);
      await waitFor(() => events(gw, 'config.reloaded').filter((l) => l['role'] !== 'primary').length === 4, 5000, 'both workers reloaded again');
      // The key file disappears: the file still validates in the primary, but no worker can compile it.
      rmSync(keyFile);
      writeFileSync(gw.file, yaml(backend.url, ['a', 'b', 'c', 'd'], jwt));
      const failed = await fetch(`http://127.0.0.1:${adminPort}/reload`, { method: 'POST' });
      assert.equal(failed.status, 422);
      const body = (await failed.json()) as { problems: string[] };
      assert.ok(body.problems.some((p) => /^\(worker \d+\) jwt\.issuers\[0\]\.publicKeyFile: cannot read/.test(p)), body.problems.join('\n'));
      await waitFor(() => events(gw, 'config.reload_failed').filter((l) => l['role'] === 'primary' && l['worker'] !== undefined).length === 2, 5000, 'primary reports both workers');
      assert.equal((await fetch(`http://127.0.0.1:${port}/c/x`)).status, 200, 'workers keep the previous config');
      assert.equal((await fetch(`http://127.0.0.1:${port}/d/x`)).status, 404);
      // An invalid file is refused by the primary alone.
      writeFileSync(gw.file, 'routes: 7');
      gw.child.kill('SIGHUP');
      await waitFor(() => events(gw, 'config.reload_failed').filter((l) => l['role'] === 'primary' && l['worker'] === undefined).length === 1, 5000, 'primary refusal');
      assert.equal(gw.child.exitCode, null);
    } finally {
      rmSync(keyFile, { force: true });
      assert.equal(await stop(gw), 0);
    }
  });
});

describe('zero-loss shutdown', () => {
  it('SIGTERM under load: in-flight responses carry Connection: close, no accepted request fails, exit 0', async () => {
    const backend = await startDemoBackend();
    const gw = spawnGateway(yaml(backend.url, ['a'], 'server: { port: 0, gracePeriod: 5s }').replace('server: { port: 0 }\n', ''));
    const [{ port }] = await gw.started();
    const agent = new http.Agent({ keepAlive: true, maxSockets: 16 });
    interface Outcome {
      status?: number;
      connection?: string;
      error?: string;
      slow: boolean;
      sentAfterSignal: boolean;
    }
    const outcomes: Outcome[] = [];
    let signalled = false;
    let refused = false;
    const one = (path: string, slow: boolean) =>
      new Promise<void>((resolve) => {
        const o: Outcome = { slow, sentAfterSignal: signalled };
        const req = http.get({ host: '127.0.0.1', port, path, agent }, (res) => {
          o.status = res.statusCode;
          o.connection = res.headers.connection;
          res.resume();
          res.on('end', () => resolve());
          res.on('error', (err) => {
            o.error = err.message;
            resolve();
          });
        });
        req.on('error', (err: NodeJS.ErrnoException) => {
          o.error = err.code ?? err.message;
          if (err.code === 'ECONNREFUSED') refused = true;
          resolve();
        });
        outcomes.push(o);
      });
    // Steady load on 8 keep-alive loops (bounded: they stop once the listener refuses, or after 2000 requests).
    const loops = Array.from({ length: 8 }, async () => {
      for (let i = 0; i < 250 && !refused; i++) await one('/a/delay/5', false);
    });
    await new Promise((r) => setTimeout(r, 300));
    const slow = Array.from({ length: 4 }, () => one('/a/delay/600', true));
    // SIGTERM only once all four are at the backend: in flight for sure.
    await waitFor(() => backend.seen().filter((r) => r.url === '/delay/600').length === 4, 10_000, 'slow requests in flight');
    const exited = new Promise<number | null>((r) => gw.child.once('exit', (code) => r(code)));
    signalled = true;
    gw.child.kill('SIGTERM');
    await Promise.all([...loops, ...slow]);
    const code = await exited;
    agent.destroy();
    await backend.close();

    if (process.env['DEBUG_CHAOS']) console.log(JSON.stringify(outcomes.filter((o) => o.slow || o.error)), gw.lines.slice(-8));
    assert.equal(code, 0, 'exit 0 within the grace period');
    const slowOnes = outcomes.filter((o) => o.slow);
    assert.deepEqual(slowOnes.map((o) => [o.status, o.connection]), Array(4).fill([200, 'close']), 'requests in flight at SIGTERM were answered, with Connection: close');
    // Refused connections were never accepted; anything else that failed was.
    const lost = outcomes.filter((o) => o.error !== undefined && o.error !== 'ECONNREFUSED');
    assert.deepEqual(lost, [], 'no accepted request failed');
    assert.ok(outcomes.filter((o) => o.status === 200).length > 20, 'the load ran');
    const afterSignal = outcomes.filter((o) => o.sentAfterSignal && o.status !== undefined);
    assert.ok(afterSignal.every((o) => o.connection === 'close'), 'responses to requests sent after SIGTERM say Connection: close');
  });
});
