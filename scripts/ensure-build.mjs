// Build dist/ when it is missing or older than any source file, so `npm run demo` and `npm test` work on a fresh clone.
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

function newest(dir) {
  let t = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, entry.name);
    t = Math.max(t, entry.isDirectory() ? newest(p) : statSync(p).mtimeMs);
  }
  return t;
}

const marker = 'dist/cli.js';
if (!existsSync(marker) || statSync(marker).mtimeMs < Math.max(newest('src'), statSync('tsconfig.json').mtimeMs)) {
  console.error('building dist/ ...');
  execFileSync(process.execPath, ['node_modules/typescript/bin/tsc', '-p', 'tsconfig.json'], { stdio: 'inherit' });
}
