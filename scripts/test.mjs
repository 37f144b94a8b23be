// `npm test`: every *.test.ts under src/ and test/, through node:test with tsx (Node 20 has no --test globs).
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';

function find(dir) {
  const out = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...find(p));
    else if (entry.name.endsWith('.test.ts')) out.push(p);
  }
  return out;
}

const only = process.argv.slice(2);
const files = only.length > 0 ? only : [...find('src'), ...find('test'), ...find('examples')].sort();
const r = spawnSync(
  process.execPath,
  ['--import', 'tsx', '--test', '--test-concurrency=2', `--test-reporter=${process.env.TEST_REPORTER ?? 'spec'}`, ...files],
  { stdio: 'inherit' },
);
process.exit(r.status ?? 1);
