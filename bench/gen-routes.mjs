#!/usr/bin/env node
// `# bench-setup:` helper for the routes-* scenarios: the scenario file plus COUNT generated prefix
// routes `/api/v1/svc{i}/items` (i = 0 … COUNT-1), written to $BENCH_TMP (the bench's temp directory)
// or the system temp directory; prints BENCH_CONFIG=<file>, which bench/run.mjs starts the gateway with.
// Usage: node bench/gen-routes.mjs <scenario.yaml> <count>
import { readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { basename, join } from 'node:path';

const [file, countText] = process.argv.slice(2);
const count = Number(countText);
if (!file || !Number.isInteger(count) || count < 0) {
  console.error('usage: node bench/gen-routes.mjs <scenario.yaml> <count>');
  process.exit(2);
}
const base = readFileSync(file, 'utf8').trimEnd();
if (!/^routes:\s*$/m.test(base) || /^\S/m.test(base.slice(base.search(/^routes:\s*$/m) + 7))) {
  console.error(`${file}: "routes:" must be the last top-level key (generated routes are appended to it)`);
  process.exit(1);
}
const lines = [];
for (let i = 0; i < count; i++) lines.push(`  - { name: svc${i}, match: { pathPrefix: /api/v1/svc${i}/items }, upstream: backend }`);
const out = join(process.env.BENCH_TMP || os.tmpdir(), `${basename(file, '.yaml')}.generated.yaml`);
writeFileSync(out, `${base}\n${lines.join('\n')}\n`);
console.log(`BENCH_CONFIG=${out}`);
