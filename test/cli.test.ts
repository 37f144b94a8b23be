import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { after, before, describe, it } from 'node:test';
import { startDemoBackend, type DemoBackend } from './helpers.js';

const CLI = join(import.meta.dirname, '..', 'dist', 'cli.js');
const dir = mkdtempSync(join(tmpdir(), 'gw-cli-'));

function file(name: string, text: string): string {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
}

function cli(...args: string[]) {
  return spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 20_000 });
}

describe('gateway CLI', () => {
  let backend: DemoBackend;
  before(async () => {
    backend = await startDemoBackend();
  });
  after(() => backend.close());

  it('validate prints the compiled route table, most specific first', () => {
    const r = cli('validate', join(import.meta.dirname, '..', 'gateway.example.yaml'));
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /ok, \d+ routes/);
    assert.match(r.stdout, /order-items/);
  });

  it('validate exits 1 with one line per problem and no stack trace', () => {
    const bad = file(
      'bad.yaml',
      `upstreams:\n  users: { targets: [{ url: http://127.0.0.1:1 }] }\n  orders: { targets: [{ url: http://127.0.0.1:2 }] }\nroutes:\n  - { name: a, match: { pathPrefix: /a }, upstream: users, ratelimit: [] }\n  - { name: b, match: { pathPrefix: /b }, upstream: userz }\n`,
    );
    const r = cli('validate', bad);
    assert.equal(r.status, 1);
    const lines = r.stderr.trim().split('\n');
    assert.match(lines[0]!, /2 problems/);
    assert.ok(lines.some((l) => /routes\[0\]\.ratelimit: unknown field, did you mean "rateLimit"\?|routes\[0\]\.ratelimit: unknown field/.test(l)), r.stderr);
    assert.ok(lines.some((l) => l.includes('routes[1].upstream: unknown upstream "userz"')), r.stderr);
    assert.ok(!/\n\s+at /.test(r.stderr), 'no stack trace');
  });

  it('validate takes the file as --config/-c too, as start and explain do; two different files are refused', () => {
    const example = join(import.meta.dirname, '..', 'gateway.example.yaml');
    for (const flag of ['--config', '-c']) {
      const r = cli('validate', flag, example);
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.stdout, /ok, \d+ routes/);
    }
    const missing = cli('validate', '--config', join(dir, 'nope.yaml'));
    assert.equal(missing.status, 1);
    assert.match(missing.stderr, /cannot read the config file \(ENOENT\)/);
    const two = cli('validate', '--config', example, join(dir, 'other.yaml'));
    assert.equal(two.status, 2);
    assert.match(two.stderr, /two config files given/);
  });

  it('validate reports a missing file plainly', () => {
    const r = cli('validate', join(dir, 'nope.yaml'));
    assert.equal(r.status, 1);
    assert.match(r.stderr, /cannot read the config file \(ENOENT\)/);
  });

  it('schema prints a JSON Schema editors can use', () => {
    const r = cli('schema');
    assert.equal(r.status, 0);
    const schema = JSON.parse(r.stdout) as { $schema: string; properties: Record<string, unknown>; required?: string[] };
    assert.match(schema.$schema, /json-schema\.org/);
    for (const k of ['server', 'admin', 'upstreams', 'routes']) assert.ok(k in schema.properties, k);
    assert.ok(!schema.required?.includes('server'), 'fields with defaults are optional for editors');
  });

  it('start serves, then drains in-flight requests on SIGTERM and exits 0', async () => {
    const cfg = file(
      'start.yaml',
      `server: { port: 0, gracePeriod: 5s }\nadmin: { port: 0 }\nupstreams: { b: { targets: [{ url: ${backend.url} }] } }\nroutes: [{ name: r, match: { pathPrefix: / }, upstream: b }]\n`,
    );
    const child = spawn(process.execPath, [CLI, 'start', '--config', cfg], { stdio: ['ignore', 'pipe', 'pipe'] });
    const events: Array<Record<string, unknown>> = [];
    const started = new Promise<Record<string, unknown>>((resolve, reject) => {
      createInterface({ input: child.stdout! }).on('line', (line) => {
        const rec = JSON.parse(line) as Record<string, unknown>;
        events.push(rec);
        if (rec['event'] === 'gateway.started') resolve(rec);
      });
      child.once('exit', (code) => reject(new Error(`exited early with ${code}`)));
    });
    const { port } = (await started) as { port: number };
    const ready = await fetch(`http://127.0.0.1:${port}/health`);
    assert.equal(ready.status, 200);
    const slow = fetch(`http://127.0.0.1:${port}/delay/600`);
    await new Promise((r) => setTimeout(r, 150));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    child.kill('SIGTERM');
    const res = await slow;
    assert.equal(res.status, 200, 'in-flight request finished');
    assert.equal(await exited, 0);
    assert.ok(events.some((e) => e['event'] === 'gateway.stopped'));
    await assert.rejects(fetch(`http://127.0.0.1:${port}/health`), 'no longer accepting');
  });

  it('start exits 1 with the problems when the config is bad', () => {
    const bad = file('bad2.yaml', 'routes: [{ name: a }]\n');
    const r = cli('start', '--config', bad);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /routes\[0\]\.match: required/);
  });
});
