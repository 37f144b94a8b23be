import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { LineDestination, lineChunks, PIPE_BUF } from './logger.js';

function tempFile(): string {
  const file = join(mkdtempSync(join(tmpdir(), 'gw-dest-')), 'out.log');
  writeFileSync(file, '');
  return file;
}

async function ready(dest: LineDestination): Promise<void> {
  // A destination given a path opens it asynchronously; a flush with a callback waits for that.
  await new Promise<void>((resolve, reject) => dest.flush((err) => (err ? reject(err) : resolve())));
}

describe('log destination (batched, asynchronous)', () => {
  it('writes a line by itself within the batch interval, without a flush', async () => {
    const file = tempFile();
    const dest = new LineDestination(file);
    await ready(dest);
    dest.write('{"n":1}\n');
    assert.equal(readFileSync(file, 'utf8'), '', 'a line waits for its batch');
    let text = '';
    for (let i = 0; i < 50 && text === ''; i++) {
      await sleep(20);
      text = readFileSync(file, 'utf8');
    }
    assert.equal(text, '{"n":1}\n');
    dest.end();
  });

  it('writes a full batch at once, and flush(cb) calls back after every line is out, in order', async () => {
    const file = tempFile();
    const dest = new LineDestination(file);
    await ready(dest);
    const line = (i: number) => `{"i":${i},"pad":"${'x'.repeat(200)}","utf8":"é→✓"}\n`;
    for (let i = 0; i < 5000; i++) dest.write(line(i)); // ~1.1 MB: several batches
    await new Promise<void>((resolve, reject) => dest.flush((err) => (err ? reject(err) : resolve())));
    const lines = readFileSync(file, 'utf8').split('\n').filter(Boolean);
    assert.equal(lines.length, 5000);
    lines.forEach((l, i) => assert.deepEqual(JSON.parse(l), { i, pad: 'x'.repeat(200), utf8: 'é→✓' }));
    dest.end();
  });

  it('writes what is pending when the process exits', () => {
    const module = fileURLToPath(new URL('./logger.ts', import.meta.url));
    const script = `
      const { LineDestination } = await import(${JSON.stringify(module)});
      const dest = new LineDestination(1);
      dest.write('{"last":"words"}\\n');
      process.exit(3);`;
    const run = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { encoding: 'utf8', timeout: 30_000 });
    assert.equal(run.status, 3, run.stderr);
    assert.equal(run.stdout, '{"last":"words"}\n');
  });

  it('cuts batches into pieces of at most PIPE_BUF bytes at line ends (a longer line alone)', () => {
    const lines = Array.from({ length: 100 }, (_, i) => `{"i":${i},"pad":"${'x'.repeat(i === 50 ? 9000 : (i * 37) % 300)}"}\n`);
    const batch = Buffer.from(lines.join(''));
    const pieces = lineChunks(batch, PIPE_BUF);
    assert.equal(Buffer.concat(pieces).toString(), lines.join(''));
    for (const p of pieces) {
      assert.equal(p[p.length - 1], 10, 'ends at a line end');
      if (p.length > PIPE_BUF) assert.equal(p.toString().split('\n').length, 2, 'only a single long line exceeds PIPE_BUF');
    }
  });

  it('keeps every line whole when several processes write to one pipe (pipeSafe, as --workers does)', () => {
    const module = fileURLToPath(new URL('./logger.ts', import.meta.url));
    const writer = `
      const { LineDestination } = await import(${JSON.stringify(module)});
      const dest = new LineDestination(1, { pipeSafe: true });
      const pad = 'y'.repeat(300);
      for (let i = 0; i < 20000; i++) dest.write(JSON.stringify({ w: process.pid, i, pad }) + '\\n');
      await new Promise((resolve) => dest.flush(resolve));`;
    const one = `${JSON.stringify(process.execPath)} --import tsx --input-type=module -e "$W"`;
    const run = spawnSync('sh', ['-c', `(${one} & ${one} & ${one} & ${one} & wait) | cat`], {
      encoding: 'utf8',
      env: { ...process.env, W: writer },
      timeout: 60_000,
      maxBuffer: 256 * 1024 * 1024,
    });
    assert.equal(run.status, 0, run.stderr);
    const lines = run.stdout.split('\n').filter(Boolean);
    const perWriter = new Map<number, number>();
    for (const l of lines) {
      const rec = JSON.parse(l) as { w: number; i: number };
      perWriter.set(rec.w, (perWriter.get(rec.w) ?? 0) + 1);
    }
    assert.equal(lines.length, 80000);
    assert.deepEqual([...perWriter.values()], [20000, 20000, 20000, 20000]);
  });
});
