import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { Worker } from 'node:worker_threads';
import { ConfigError } from '../errors.js';
import { ConfigLoader, THREAD_THRESHOLD_BYTES } from './loader.js';

function bigConfig(routes: number, upstream = 'b'): string {
  const lines = ['upstreams: { b: { targets: [{ url: "http://127.0.0.1:9" }] } }', 'routes:'];
  for (let i = 0; i < routes; i++) lines.push(`  - { name: route-number-${i}, match: { pathPrefix: /r${i} }, upstream: ${i === routes - 1 ? upstream : 'b'}, stripPrefix: true }`);
  return lines.join('\n') + '\n';
}

describe('ConfigLoader: large files load on one kept thread', () => {
  it('keeps its thread between loads, reports problems with field paths, and starts a new thread when one dies', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gw-loader-'));
    const file = join(dir, 'gateway.yaml');
    writeFileSync(file, bigConfig(600));
    assert.ok(bigConfig(600).length > THREAD_THRESHOLD_BYTES);
    const loader = new ConfigLoader();
    try {
      loader.prepare();
      const first = loader.threadId;
      assert.notEqual(first, undefined, 'prepare() starts the thread');
      const a = await loader.load(file, {});
      assert.equal(a.config.routes.length, 600);
      assert.ok(Object.isFrozen(a.config.routes[0]));
      const b = await loader.load(file, {});
      assert.equal(b.config.routes.length, 600);
      assert.equal(loader.threadId, first, 'the same thread served both loads');

      writeFileSync(file, bigConfig(600, 'nope'));
      await assert.rejects(loader.load(file, {}), (err: unknown) => err instanceof ConfigError && err.problems.some((p) => p.startsWith('routes[599].upstream: unknown upstream "nope"')));
      assert.equal(loader.threadId, first, 'a config problem does not cost the thread');

      // The thread dies: the next load still succeeds, on a new thread.
      await (loader as unknown as { thread: Worker }).thread.terminate();
      writeFileSync(file, bigConfig(600));
      const c = await loader.load(file, {});
      assert.equal(c.config.routes.length, 600);
      assert.notEqual(loader.threadId, undefined);
      assert.notEqual(loader.threadId, first);
    } finally {
      await loader.close();
    }
    assert.equal(loader.threadId, undefined, 'closed: no thread left');
  });

  it('a small file loads on the main thread and starts no thread', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'gw-loader-')), 'gateway.yaml');
    writeFileSync(file, bigConfig(3));
    const loader = new ConfigLoader();
    try {
      const r = await loader.load(file, {});
      assert.equal(r.config.routes.length, 3);
      assert.equal(loader.threadId, undefined);
    } finally {
      await loader.close();
    }
  });
});
