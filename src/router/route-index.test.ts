/**
 * Property test: the route index answers exactly what the reference matcher (every route tried,
 * matches sorted by key) answers, on random route tables and random requests. A failure prints the
 * seed; ROUTER_SEED=<seed> replays it.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { RouteConfig } from '../config/schema.js';
import { compileMatcher } from './compile.js';
import { matchReference, sortStatic, type Matchable, type MatchResult, type RouteMatcher } from './match.js';
import { RouteIndex } from './route-index.js';

/** mulberry32: small, seedable, good enough to spread cases. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface TestRoute extends Matchable {
  readonly name: string;
  readonly matcher: RouteMatcher;
  readonly index: number;
}

const SEGMENTS = ['a', 'b', 'A', 'api', 'x1'];
const HOSTS = ['api.example.com', 'www.example.com', 'a.b.example.com', 'other.org'];
const ROUTE_HOSTS = ['api.example.com', '*.example.com', '*.b.example.com', 'other.org', 'www.example.com'];
const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'DELETE'];

function table(rand: () => number): TestRoute[] {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
  const n = 1 + Math.floor(rand() * 12);
  const routes: TestRoute[] = [];
  for (let i = 0; i < n; i++) {
    const depth = Math.floor(rand() * 4);
    const segs: string[] = [];
    const kind = rand();
    let p = 0;
    for (let d = 0; d < depth; d++) segs.push(kind < 0.33 && rand() < 0.5 ? `:p${p++}` : pick(SEGMENTS));
    const text = '/' + segs.join('/') + (rand() < 0.1 ? '/' : '');
    const match: Record<string, unknown> = kind < 0.33 || (kind < 0.55 && depth > 0) ? { path: text } : { pathPrefix: text };
    if (rand() < 0.4) match['methods'] = [...new Set(Array.from({ length: 1 + Math.floor(rand() * 2) }, () => pick(METHODS)))];
    if (rand() < 0.3) match['hosts'] = [...new Set(Array.from({ length: 1 + Math.floor(rand() * 2) }, () => pick(ROUTE_HOSTS)))];
    if (rand() < 0.25) match['headers'] = rand() < 0.5 ? { 'x-a': pick(['1', '*']) } : { 'x-a': '1', 'x-b': '*' };
    match['methodFallthrough'] = rand() < 0.3;
    match['caseInsensitive'] = rand() < 0.2;
    const name = `r${i}`;
    routes.push({ name, index: i, matcher: compileMatcher({ name, match } as unknown as RouteConfig) });
  }
  return sortStatic(routes);
}

function request(rand: () => number): { method: string; host: string; path: string; headers: Record<string, string> } {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
  const depth = Math.floor(rand() * 5);
  const path = '/' + Array.from({ length: depth }, () => pick([...SEGMENTS, 'API', 'zz'])).join('/') + (depth > 0 && rand() < 0.15 ? '/' : '');
  const headers: Record<string, string> = {};
  if (rand() < 0.4) headers['x-a'] = pick(['1', '2']);
  if (rand() < 0.3) headers['x-b'] = 'v';
  return { method: pick(METHODS), host: pick(HOSTS), path, headers };
}

const shown = (r: MatchResult<TestRoute>): string =>
  r === undefined ? '404' : r.route === undefined ? `${r.status} ${r.allow.join(',')}` : `${r.route.name}(${r.params.join(',')})`;

describe('route index vs reference matcher', () => {
  it('agree on random tables and requests (seeded)', () => {
    const seed = Number(process.env['ROUTER_SEED'] ?? Math.floor(Math.random() * 2 ** 31));
    const rand = prng(seed);
    let cases = 0;
    const outcomes = new Set<string>();
    for (let t = 0; t < 600; t++) {
      const routes = table(rand);
      const caseVariants = rand() < 0.7 ? 'refuse' : 'route';
      const index = new RouteIndex(routes, { caseVariants });
      for (let q = 0; q < 20; q++) {
        const { method, host, path, headers } = request(rand);
        const want = shown(matchReference(routes, method, host, path, { headers }, caseVariants));
        const got = shown(index.match(method, host, path, { headers }));
        if (got !== want) {
          const desc = routes.map((r) => `  ${r.name}: ${JSON.stringify({ ...r.matcher, methods: r.matcher.methods && [...r.matcher.methods], exactHosts: r.matcher.exactHosts && [...r.matcher.exactHosts], pattern: undefined })}`);
          assert.fail(`seed ${seed} (ROUTER_SEED=${seed} to replay), table ${t}, caseVariants ${caseVariants}:\n${desc.join('\n')}\n${method} ${host}${path} ${JSON.stringify(headers)}\nindex: ${got}\nreference: ${want}`);
        }
        outcomes.add(want.split(/[ (]/)[0]!.replace(/^r\d+$/, 'route'));
        cases++;
      }
    }
    assert.equal(cases, 12_000);
    // The generator reaches every kind of answer, or the comparison proves little.
    assert.deepEqual([...outcomes].sort(), ['400', '404', '405', 'route']);
  });
});
