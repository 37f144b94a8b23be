/**
 * RSS of the memory rate-limit store after one million distinct client addresses.
 * Run: node --expose-gc --import tsx bench/ratelimit-memory.ts [keys] [maxKeys]
 */
import { toRate } from '../src/policies/rate-limit/algorithm.js';
import { createMemoryStore } from '../src/policies/rate-limit/stores/memory.js';

const keys = Number(process.argv[2] ?? 1_000_000);
const maxKeys = Number(process.argv[3] ?? 1_000_000);
const gc = (globalThis as { gc?: () => void }).gc ?? (() => undefined);
const mb = (n: number) => `${(n / 1024 / 1024).toFixed(0)} MB`;

gc();
const base = process.memoryUsage();
const store = createMemoryStore({ maxKeys, maxWindowMs: 60_000 });
const rates = [toRate(100, 60_000, true)];
const started = performance.now();
for (let i = 0; i < keys; i++) {
  const ip = `${(i >>> 24) & 255}.${(i >>> 16) & 255}.${(i >>> 8) & 255}.${i & 255}`;
  store.hit([`api:ip-1m:ip:${ip}`], rates);
}
const took = performance.now() - started;
gc();
const end = process.memoryUsage();
console.log(
  JSON.stringify({
    keys,
    maxKeys,
    held: store.size(),
    nsPerHit: Math.round((took * 1e6) / keys),
    rssBefore: mb(base.rss),
    rssAfter: mb(end.rss),
    heapUsedAfter: mb(end.heapUsed),
    heapGrowth: mb(end.heapUsed - base.heapUsed),
  }),
);
await store.close();
