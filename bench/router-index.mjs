/**
 * Route index at scale: time to validate and compile N routes, the index's heap, and lookups per
 * second through the index against the reference matcher (every route tried).
 * Run: npm run build && node --expose-gc bench/router-index.mjs [routes=10000] [shape=prefix|mixed]
 * (plain ESM on dist/, as the gateway runs)
 *   prefix: the bench scenario's table (/api/v1/svc{i}/items and /api), lookups of /api/x
 *   mixed:  exact paths, :param patterns, prefixes, hosts, methods and header conditions
 */
import pino from 'pino';
import { Registry } from 'prom-client';
import { BUILTIN_POLICIES } from '../dist/policies/index.js';
import { parseConfig } from '../dist/config/load.js';
import { NO_METRICS } from '../dist/pipeline/policy.js';
import { compileSnapshot } from '../dist/router/compile.js';
import { matchReference } from '../dist/router/match.js';
import { RouteIndex } from '../dist/router/route-index.js';
import { PoolSet } from '../dist/upstream/upstream.js';

const n = Number(process.argv[2] ?? 10_000);
const shape = process.argv[3] ?? 'prefix';
const gc = globalThis.gc;
if (!gc) throw new Error('run with node --expose-gc');

function routeLine(i) {
  if (shape === 'prefix') return `  - { name: svc${i}, match: { pathPrefix: /api/v1/svc${i}/items }, upstream: u }`;
  switch (i % 5) {
    case 0:
      return `  - { name: r${i}, match: { path: /api/v1/svc${i}/items }, upstream: u }`;
    case 1:
      return `  - { name: r${i}, match: { path: "/api/v1/svc${i}/items/:id", methods: [GET, PUT] }, upstream: u }`;
    case 2:
      return `  - { name: r${i}, match: { pathPrefix: /api/v2/svc${i}, hosts: [h${i % 50}.example.com] }, upstream: u }`;
    case 3:
      return `  - { name: r${i}, match: { pathPrefix: /api/v3/svc${i}, hosts: ["*.t${i % 20}.example.com"], headers: { x-tenant: "*" } }, upstream: u }`;
    default:
      return `  - { name: r${i}, match: { path: "/users/:id/svc${i}/:item" }, upstream: u }`;
  }
}
const yaml = `upstreams: { u: { targets: [{ url: http://127.0.0.1:1 }] } }
routes:
  - { name: api, match: { pathPrefix: /api }, upstream: u }
${Array.from({ length: n }, (_, i) => routeLine(i)).join('\n')}
`;

let t = performance.now();
const { config, warnings } = parseConfig(yaml);
const parseMs = performance.now() - t;
const pools = new PoolSet();
t = performance.now();
const cpu = process.cpuUsage();
const snap = await compileSnapshot(config, warnings, {
  services: { logger: pino({ level: 'silent' }), metrics: NO_METRICS, registry: new Registry(), env: {}, configDir: '' },
  pools,
  policies: BUILTIN_POLICIES,
});
const compileMs = performance.now() - t;
const compileCpu = process.cpuUsage(cpu);
await pools.closeAll();

// The index alone, built again from the compiled routes: its time and the heap it holds.
gc();
const before = process.memoryUsage().heapUsed;
t = performance.now();
let index = new RouteIndex(snap.routes, { caseVariants: 'refuse' });
const indexMs = performance.now() - t;
gc();
const indexBytes = process.memoryUsage().heapUsed - before;

const paths = shape === 'prefix' ? ['/api/x'] : ['/api/x', `/api/v1/svc${n - 5}/items`, `/api/v1/svc${n - 4}/items/7`, `/users/3/svc${n - 1}/a`, '/nothing/here'];
const req = { headers: {} };
const rate = (fn, ms = 300) => {
  let count = 0;
  const end = performance.now() + ms;
  while (performance.now() < end) {
    for (const p of paths) fn(p);
    count += paths.length;
  }
  return Math.round((count / ms) * 1000);
};
const viaIndex = rate((p) => index.match('GET', 'localhost', p, req));
const viaReference = rate((p) => matchReference(snap.routes, 'GET', 'localhost', p, req, 'refuse'), 1000);
index = undefined;

console.log(
  JSON.stringify({
    routes: snap.routes.length,
    shape,
    parseAndValidateMs: Math.round(parseMs),
    compileSnapshotMs: Math.round(compileMs),
    // CPU time of the same: wall time on a shared machine includes waiting for a core
    compileSnapshotCpuMs: Math.round((compileCpu.user + compileCpu.system) / 1000),
    buildIndexMs: Math.round(indexMs),
    indexHeapMiB: +(indexBytes / 1024 / 1024).toFixed(2),
    indexBytesPerRoute: Math.round(indexBytes / snap.routes.length),
    lookupsPerSecIndex: viaIndex,
    lookupsPerSecReference: viaReference,
    warnings: snap.warnings.length,
  }),
);
