/**
 * The route index: built once when a snapshot is compiled, so finding a route costs the same with
 * 10,000 routes as with one. It answers exactly what matchReference (match.ts) answers — a property
 * test compares the two on random tables — but looks routes up instead of trying them all:
 *   host: an exact-host Map, then a Map of wildcard suffixes tried for each label of the request
 *   host (longest first), then the routes without a host condition; in each of these tables
 *   path: exact paths in a Map, `:param` patterns in a segment trie (static child before parameter,
 *   every matching leaf collected and ordered by key), prefixes in a Map probed with the path cut at
 *   each `/` from the longest down (only at lengths some prefix has).
 * Each lookup gives a bucket of routes sharing host and path key, ordered by header count, then method
 * list before "any", then declaration order; routes with the same header count are one group.
 *
 * Why not find-my-way: it picks one route per method and path (no header conditions, no groups that
 * decide the method together, no fall-through to a less specific match, no host-wildcard ranking), so
 * the most-specific-wins rules would still have to be layered on top of it; a trie of our own that
 * returns candidates in key order is smaller than that.
 */
import type { IncomingHttpHeaders } from 'node:http';
import {
  allowList,
  allowsMethod,
  CASE_VARIANT,
  compareInGroup,
  foldCase,
  headersMatch,
  NO_PARAMS,
  type Matchable,
  type MatchResult,
  type RouteMatch,
  type RouteMatcher,
} from './match.js';
import { matchPattern } from './pattern.js';

interface Candidate<R> {
  readonly route: R;
  readonly m: RouteMatcher;
  readonly headerCount: number;
  /** The answer when this route takes a request without parameters (one object, reused). */
  readonly served: RouteMatch<R>;
  /** The route has more than one host alternative: it is also in other host tables. */
  readonly multiHost: boolean;
}
type Bucket<R> = Candidate<R>[];

interface TrieNode<R> {
  statics: Map<string, TrieNode<R>> | undefined;
  param: TrieNode<R> | undefined;
  leaf: { bucket: Bucket<R>; literalCount: number; mask: string } | undefined;
}

interface HostTable<R> {
  exact: Map<string, Bucket<R>>;
  prefixes: Map<string, Bucket<R>>;
  /** The `/` prefix. */
  root: Bucket<R> | undefined;
  /** prefixLengths[n] = 1 when some prefix has n characters. */
  prefixLengths: Uint8Array;
  trie: TrieNode<R> | undefined;
  /** Segments of the longest pattern: a longer path skips the trie. */
  maxDepth: number;
}

interface PatternHit<R> {
  leaf: NonNullable<TrieNode<R>['leaf']>;
  params: string[];
}

function newTable<R>(): HostTable<R> {
  return { exact: new Map(), prefixes: new Map(), root: undefined, prefixLengths: new Uint8Array(0), trie: undefined, maxDepth: 0 };
}

function push<K, V>(map: Map<K, V[]>, key: K, value: V): void {
  const list = map.get(key);
  if (list) list.push(value);
  else map.set(key, [value]);
}

function sortBucket<R extends Matchable>(b: Bucket<R>): void {
  b.sort((x, y) => y.headerCount - x.headerCount || compareInGroup(x.route, y.route));
}

export interface RouteIndexOptions {
  /** server.paths.caseVariants */
  caseVariants: 'refuse' | 'route';
}

export class RouteIndex<R extends Matchable> {
  readonly #exactHosts: Map<string, HostTable<R>> | undefined;
  readonly #wildcards: Map<string, HostTable<R>> | undefined;
  readonly #anyHost: HostTable<R> | undefined;
  /** Keys are case-folded (a route ignores case, or case variants are refused). */
  readonly #fold: boolean;
  readonly #refuseVariants: boolean;
  // Per-match scratch: matching is synchronous, and the index belongs to one snapshot of one gateway.
  #allow: Set<string> | undefined = undefined;
  #shadowed = false;
  /** Set only while `gateway validate` asks where a route's refused methods would go. */
  #probe: R | undefined = undefined;

  constructor(routes: readonly R[], opts: RouteIndexOptions) {
    this.#refuseVariants = opts.caseVariants === 'refuse';
    this.#fold = this.#refuseVariants || routes.some((r) => r.matcher.caseInsensitive);
    const exactHosts = new Map<string, HostTable<R>>();
    const wildcards = new Map<string, HostTable<R>>();
    const any = newTable<R>();
    let anyUsed = false;
    for (const route of routes) {
      const m = route.matcher;
      const hostCount = (m.exactHosts?.size ?? 0) + (m.wildcardHosts?.length ?? 0);
      const c: Candidate<R> = { route, m, headerCount: m.headers?.length ?? 0, served: { route, params: NO_PARAMS }, multiHost: hostCount > 1 };
      if (hostCount === 0) {
        this.#add(any, c);
        anyUsed = true;
      }
      for (const h of m.exactHosts ?? []) this.#add(tableFor(exactHosts, h), c);
      for (const s of new Set(m.wildcardHosts ?? [])) this.#add(tableFor(wildcards, s), c);
    }
    for (const t of [...exactHosts.values(), ...wildcards.values(), ...(anyUsed ? [any] : [])]) finish(t);
    this.#exactHosts = exactHosts.size > 0 ? exactHosts : undefined;
    this.#wildcards = wildcards.size > 0 ? wildcards : undefined;
    this.#anyHost = anyUsed ? any : undefined;
  }

  #add(t: HostTable<R>, c: Candidate<R>): void {
    const m = c.m;
    const key = (s: string) => (this.#fold ? foldCase(s) : s);
    if (m.kind === 'exact') push(t.exact, key(m.path), c);
    else if (m.kind === 'prefix') {
      if (m.prefix === '') (t.root ??= []).push(c);
      else push(t.prefixes, key(m.prefix), c);
    } else {
      const segs = m.pattern!.segments;
      let node = (t.trie ??= { statics: undefined, param: undefined, leaf: undefined });
      for (const s of segs) {
        if (s === null) node = node.param ??= { statics: undefined, param: undefined, leaf: undefined };
        else {
          const k = key(s);
          const statics = (node.statics ??= new Map());
          let next = statics.get(k);
          if (!next) statics.set(k, (next = { statics: undefined, param: undefined, leaf: undefined }));
          node = next;
        }
      }
      node.leaf ??= { bucket: [], literalCount: m.pattern!.literalCount, mask: segs.map((s) => (s === null ? '0' : '1')).join('') };
      node.leaf.bucket.push(c);
      t.maxDepth = Math.max(t.maxDepth, segs.length);
    }
  }

  /** Find the route for a request (see match.ts for the rule). */
  match(method: string, host: string, path: string, req: { readonly headers: IncomingHttpHeaders }): MatchResult<R> {
    this.#allow = undefined;
    this.#shadowed = false;
    const key = this.#fold ? foldCase(path) : path;
    let r: MatchResult<R> | null;
    const exact = this.#exactHosts?.get(host);
    if (exact !== undefined && (r = this.#table(exact, 3, 0, method, host, path, key, req)) !== null) return r;
    if (this.#wildcards !== undefined) {
      for (let dot = host.indexOf('.', 1); dot !== -1; dot = host.indexOf('.', dot + 1)) {
        const t = this.#wildcards.get(host.slice(dot));
        if (t !== undefined && (r = this.#table(t, 2, host.length - dot, method, host, path, key, req)) !== null) return r;
      }
    }
    if (this.#anyHost !== undefined && (r = this.#table(this.#anyHost, 1, 0, method, host, path, key, req)) !== null) return r;
    if (this.#shadowed) return CASE_VARIANT;
    return this.#allow !== undefined ? { route: undefined, status: 405, allow: allowList(this.#allow) } : undefined;
  }

  /**
   * Where a request would go if the path match that `route` belongs to passed every method on (as
   * match.methodFallthrough does): for the warnings about weaker routes behind a method list.
   */
  matchPast(route: R, method: string, host: string, path: string, req: { readonly headers: IncomingHttpHeaders }): MatchResult<R> {
    this.#probe = route;
    try {
      return this.match(method, host, path, req);
    } finally {
      this.#probe = undefined;
    }
  }

  /** One host table, in path-key order. null: nothing decided here, go on. */
  #table(t: HostTable<R>, rank: number, hostLen: number, method: string, host: string, path: string, key: string, req: { readonly headers: IncomingHttpHeaders }): MatchResult<R> | null {
    let r: MatchResult<R> | null;
    const exact = t.exact.size > 0 ? t.exact.get(key) : undefined;
    if (exact !== undefined && (r = this.#bucket(exact, undefined, rank, hostLen, method, host, path, key, req)) !== null) return r;
    if (t.trie !== undefined) {
      const hits = patternHits(t, path, key);
      if (hits !== undefined) {
        for (const hit of hits) {
          if ((r = this.#bucket(hit.leaf.bucket, hit.params, rank, hostLen, method, host, path, key, req)) !== null) return r;
        }
      }
    }
    if (t.prefixes.size > 0) {
      const lengths = t.prefixLengths;
      for (let i = Math.min(key.length, lengths.length - 1); i > 0; i--) {
        if (lengths[i] === 0 || (i < key.length && key.charCodeAt(i) !== 47)) continue;
        const b = t.prefixes.get(i === key.length ? key : key.slice(0, i));
        if (b !== undefined && (r = this.#bucket(b, undefined, rank, hostLen, method, host, path, key, req)) !== null) return r;
      }
    }
    if (t.root !== undefined) return this.#bucket(t.root, undefined, rank, hostLen, method, host, path, key, req);
    return null;
  }

  /** The groups of one bucket, most header conditions first. null: no group decided. */
  #bucket(b: Bucket<R>, params: string[] | undefined, rank: number, hostLen: number, method: string, host: string, path: string, key: string, req: { readonly headers: IncomingHttpHeaders }): MatchResult<R> | null {
    const checkCase = this.#fold && key !== path;
    for (let i = 0; i < b.length; ) {
      const count = b[i]!.headerCount;
      let end = i;
      while (end < b.length && b[end]!.headerCount === count) end++;
      if (this.#probe !== undefined && groupHas(b, i, end, this.#probe)) {
        i = end;
        continue;
      }
      let members = 0;
      let variant = false;
      let taker: Candidate<R> | undefined;
      for (let j = i; j < end; j++) {
        const c = b[j]!;
        const st = this.#state(c, rank, hostLen, host, path, checkCase, req);
        if (st === 0) continue;
        if (st === 2) {
          variant = true;
          continue;
        }
        members++;
        if (allowsMethod(c.m, method)) {
          taker = c;
          break;
        }
      }
      if (members === 0) {
        if (variant && this.#refuseVariants) this.#shadowed = true;
        i = end;
        continue;
      }
      if (this.#shadowed) return CASE_VARIANT;
      if (taker !== undefined) return params === undefined ? taker.served : { route: taker.route, params };
      // Refused by the whole group: collect Allow; go on only when every route of the group opts in.
      let fallthrough = true;
      const allow = (this.#allow ??= new Set());
      for (let j = i; j < end; j++) {
        const c = b[j]!;
        if (this.#state(c, rank, hostLen, host, path, checkCase, req) !== 1) continue;
        for (const x of c.m.methods!) allow.add(x);
        if (!c.m.fallthrough) fallthrough = false;
      }
      if (!fallthrough) return { route: undefined, status: 405, allow: allowList(allow) };
      i = end;
    }
    return null;
  }

  /** 1: the route matches here; 0: it does not (or matches at a better host key); 2: only ignoring case. */
  #state(c: Candidate<R>, rank: number, hostLen: number, host: string, path: string, checkCase: boolean, req: { readonly headers: IncomingHttpHeaders }): 0 | 1 | 2 {
    const m = c.m;
    if (c.multiHost && betterHost(m, host, rank, hostLen)) return 0;
    if (m.headers !== undefined && !headersMatch(m, req)) return 0;
    if (this.#fold && !m.caseInsensitive && (checkCase || m.literalHasUpper) && !exactCase(m, path)) {
      return this.#refuseVariants ? 2 : 0;
    }
    return 1;
  }
}

function groupHas<R>(b: Bucket<R>, from: number, to: number, route: R): boolean {
  for (let j = from; j < to; j++) if (b[j]!.route === route) return true;
  return false;
}

function tableFor<R>(map: Map<string, HostTable<R>>, key: string): HostTable<R> {
  let t = map.get(key);
  if (!t) map.set(key, (t = newTable()));
  return t;
}

function finish<R extends Matchable>(t: HostTable<R>): void {
  let max = 0;
  for (const k of t.prefixes.keys()) max = Math.max(max, k.length);
  t.prefixLengths = new Uint8Array(max + 1);
  for (const [k, b] of t.prefixes) {
    t.prefixLengths[k.length] = 1;
    sortBucket(b);
  }
  for (const b of t.exact.values()) sortBucket(b);
  if (t.root) sortBucket(t.root);
  const walk = (n: TrieNode<R>) => {
    if (n.leaf) sortBucket(n.leaf.bucket);
    for (const c of n.statics?.values() ?? []) walk(c);
    if (n.param) walk(n.param);
  };
  if (t.trie) walk(t.trie);
}

/** A route with several hosts is in several tables; it counts only at its best host key. */
function betterHost(m: RouteMatcher, host: string, rank: number, hostLen: number): boolean {
  if (rank < 3 && m.exactHosts?.has(host)) return true;
  if (rank === 2 && m.wildcardHosts) {
    for (const s of m.wildcardHosts) if (s.length > hostLen && host.length > s.length && host.endsWith(s)) return true;
  }
  return false;
}

/** The literal parts of a (case-sensitive) route's path condition, compared with the request's own spelling. */
function exactCase(m: RouteMatcher, path: string): boolean {
  switch (m.kind) {
    case 'exact':
      return path === m.path;
    case 'prefix':
      return path.startsWith(m.prefix);
    case 'pattern':
      return matchPattern(m.pattern!, path) !== null;
  }
}

/** Every pattern leaf matching the path, most specific first; parameter values from the request's spelling. */
function patternHits<R>(t: HostTable<R>, path: string, key: string): PatternHit<R>[] | undefined {
  const segs = key.split('/');
  if (segs.length - 1 > t.maxDepth) return undefined;
  const real = key === path ? segs : path.split('/');
  let hits: PatternHit<R>[] | undefined;
  const values: string[] = [];
  const walk = (node: TrieNode<R>, d: number): void => {
    if (d === segs.length) {
      if (node.leaf) (hits ??= []).push({ leaf: node.leaf, params: values.slice() });
      return;
    }
    const next = node.statics?.get(segs[d]!);
    if (next) walk(next, d + 1);
    if (node.param && segs[d] !== '') {
      values.push(real[d]!);
      walk(node.param, d + 1);
      values.pop();
    }
  };
  walk(t.trie!, 1);
  if (hits !== undefined && hits.length > 1) {
    hits.sort((a, b) => b.leaf.literalCount - a.leaf.literalCount || (a.leaf.mask < b.leaf.mask ? 1 : a.leaf.mask > b.leaf.mask ? -1 : 0));
  }
  return hits;
}
