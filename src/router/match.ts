/**
 * Route matching: the rule, and the reference matcher the index (route-index.ts) must agree with.
 *
 * A request first finds its **path match**: among the routes whose host, path and header conditions
 * all hold (methods aside), those with the highest key, compared element by element
 * (README "Which route wins"):
 *   1. host: an exact host (3), a wildcard host (2) with the length of the suffix that matched, none (1);
 *   2. path: an exact path (3), a `:param` pattern (2: more literal segments first, then the one whose
 *      first differing segment is literal), a prefix (1: the longer first);
 *   3. more header conditions first.
 * The routes with that key form one group and decide the method: the first of them (a method list
 * before "any method", then declaration order) that allows it takes the request; if none does, the
 * answer is 405 with the group's methods in Allow. Only when every route of the group sets
 * `match.methodFallthrough` does the next, less specific group get the request instead.
 *
 * Letter case: paths match case-sensitively unless a route sets `match.caseInsensitive`. With
 * `server.paths.caseVariants: refuse` a request is refused when a group more specific than the one that
 * decides would match it if case were ignored ("/ADMIN" beside a route for "/admin"), so a
 * case-insensitive backend cannot be reached at a path that route claims.
 */
import type { IncomingHttpHeaders } from 'node:http';
import { GatewayError } from '../errors.js';
import { matchPattern, type PathPattern } from './pattern.js';

export interface RouteMatcher {
  readonly kind: 'exact' | 'pattern' | 'prefix';
  readonly path: string;
  readonly pattern: PathPattern | undefined;
  /** For prefixes: the prefix without a trailing slash ('' for `/`). */
  readonly prefix: string;
  readonly methods: ReadonlySet<string> | undefined;
  readonly exactHosts: ReadonlySet<string> | undefined;
  /** `.example.com` for `*.example.com`. */
  readonly wildcardHosts: readonly string[] | undefined;
  readonly headers: readonly (readonly [string, string])[] | undefined;
  /** match.methodFallthrough */
  readonly fallthrough: boolean;
  readonly caseInsensitive: boolean;
  /** The literal parts of the path condition contain an upper-case ASCII letter. */
  readonly literalHasUpper: boolean;
}

export interface Matchable {
  readonly matcher: RouteMatcher;
  /** Position in the config file: real ties go to the route declared first. */
  readonly index: number;
}

/** A match: the route and its `:param` values in pattern order. */
export interface RouteMatch<R> {
  readonly route: R;
  readonly params: readonly string[];
}
/** No route takes the request: 405 (a path match refuses the method) or 400 (a case variant of a more specific route). */
export interface RouteRefusal {
  readonly route: undefined;
  readonly status: 405 | 400;
  /** For 405: the Allow list, sorted. */
  readonly allow: readonly string[];
}
/** undefined: no route (404). */
export type MatchResult<R> = RouteMatch<R> | RouteRefusal | undefined;

export const NO_PARAMS: readonly string[] = [];
export const CASE_VARIANT: RouteRefusal = Object.freeze({ route: undefined, status: 400, allow: NO_PARAMS });

export function allowsMethod(m: RouteMatcher, method: string): boolean {
  return m.methods === undefined || m.methods.has(method) || (method === 'HEAD' && m.methods.has('GET'));
}

export function headersMatch(m: RouteMatcher, req: { readonly headers: IncomingHttpHeaders }): boolean {
  if (m.headers === undefined) return true;
  const headers = req.headers; // Node folds the raw list on first access: only pay for it when a route asks
  for (const [name, want] of m.headers) {
    const got = headers[name];
    if (got === undefined) return false;
    if (want !== '*' && got !== want) return false;
  }
  return true;
}

/** ASCII lower case (normalised paths are ASCII, so this keeps every index the same). */
export function foldCase(s: string): string {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 65 && c <= 90) return s.toLowerCase();
  }
  return s;
}

/** Allow list of a 405: sorted, HEAD wherever GET is. */
export function allowList(methods: Iterable<string>): string[] {
  const set = new Set(methods);
  if (set.has('GET')) set.add('HEAD');
  return [...set].sort();
}

// ---------------------------------------------------------------- keys (what "more specific" means)

/** Host part of the key for this request's host, or undefined when the host condition fails. */
export function hostKey(m: RouteMatcher, host: string): [number, number] | undefined {
  if (m.exactHosts === undefined && m.wildcardHosts === undefined) return [1, 0];
  if (m.exactHosts?.has(host)) return [3, 0];
  let best = -1;
  for (const suffix of m.wildcardHosts ?? []) {
    if (host.length > suffix.length && host.endsWith(suffix) && suffix.length > best) best = suffix.length;
  }
  return best >= 0 ? [2, best] : undefined;
}

/**
 * Path part of the key: kind, then length (prefix: characters; pattern: literal segments), then for
 * patterns the literal positions ("1" literal, "0" parameter), compared as text: patterns matching the
 * same path have the same number of segments, so the one whose first differing segment is literal wins.
 */
export function pathKey(m: RouteMatcher): [number, number, string] {
  switch (m.kind) {
    case 'exact':
      return [3, 0, ''];
    case 'pattern':
      return [2, m.pattern!.literalCount, m.pattern!.segments.map((s) => (s === null ? '0' : '1')).join('')];
    case 'prefix':
      return [1, m.prefix.length, ''];
  }
}

export type MatchKey = readonly (number | string)[];

export function compareKeys(a: MatchKey, b: MatchKey): number {
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!;
    const y = b[i]!;
    if (x !== y) return x < y ? 1 : -1; // larger first
  }
  return 0;
}

/** Static order of the route table (for /routes and `gateway validate`): most specific first. */
export function staticKey(m: RouteMatcher): MatchKey {
  const host = m.exactHosts ? [3, 0] : m.wildcardHosts ? [2, Math.max(...m.wildcardHosts.map((h) => h.length))] : [1, 0];
  return [...host, ...pathKey(m), m.headers?.length ?? 0, m.methods ? 1 : 0];
}

/** Sort routes most specific first, each key computed once (10,000 routes: 140,000 comparisons). */
export function sortStatic<R extends Matchable>(routes: R[]): R[] {
  const keys = new Map(routes.map((r) => [r, staticKey(r.matcher)]));
  return routes.sort((a, b) => compareKeys(keys.get(a)!, keys.get(b)!) || a.index - b.index);
}

/** Within a group: a method list before "any method", then declaration order. */
export function compareInGroup(a: Matchable, b: Matchable): number {
  return (a.matcher.methods ? 0 : 1) - (b.matcher.methods ? 0 : 1) || a.index - b.index;
}

// ---------------------------------------------------------------- the reference matcher

/** `params` when the path condition holds with exact case, 'folded' when only ignoring case, else null. */
function pathMatches(m: RouteMatcher, path: string, folded: string): readonly string[] | 'folded' | null {
  const exact = pathMatchesText(m, path, false);
  if (exact !== null) return exact;
  const loose = pathMatchesText(m, folded, true);
  if (loose === null) return null;
  if (!m.caseInsensitive) return 'folded';
  return m.kind === 'pattern' ? valuesAt(m.pattern!, path) : loose;
}

function pathMatchesText(m: RouteMatcher, path: string, fold: boolean): readonly string[] | null {
  const f = (s: string) => (fold ? foldCase(s) : s);
  switch (m.kind) {
    case 'exact':
      return path === f(m.path) ? NO_PARAMS : null;
    case 'prefix': {
      const prefix = f(m.prefix);
      if (prefix === '') return NO_PARAMS;
      if (!path.startsWith(prefix)) return null;
      return path.length === prefix.length || path.charCodeAt(prefix.length) === 47 ? NO_PARAMS : null;
    }
    case 'pattern': {
      const p = m.pattern!;
      return matchPattern(fold ? { ...p, segments: p.segments.map((s) => (s === null ? null : foldCase(s))) } : p, path);
    }
  }
}

/** The parameter values of a pattern at the positions of `path` (whose literals matched ignoring case). */
function valuesAt(p: PathPattern, path: string): string[] {
  const parts = path.split('/').slice(1);
  return p.segments.flatMap((s, i) => (s === null ? [parts[i]!] : []));
}

/**
 * The rule as plainly as it can be written: every route is tried, the matches are sorted by key.
 * O(routes) per request: the gateway serves through RouteIndex; this is what a test compares it with.
 */
export function matchReference<R extends Matchable>(
  routes: readonly R[],
  method: string,
  host: string,
  path: string,
  req: { readonly headers: IncomingHttpHeaders },
  caseVariants: 'refuse' | 'route',
): MatchResult<R> {
  const folded = foldCase(path);
  const found: { route: R; key: MatchKey; params: readonly string[] | 'folded' }[] = [];
  for (const route of routes) {
    const m = route.matcher;
    const hk = hostKey(m, host);
    if (hk === undefined) continue;
    const params = pathMatches(m, path, folded);
    if (params === null || (params === 'folded' && caseVariants === 'route')) continue;
    if (!headersMatch(m, req)) continue;
    found.push({ route, key: [...hk, ...pathKey(m), m.headers?.length ?? 0], params });
  }
  found.sort((a, b) => compareKeys(a.key, b.key) || compareInGroup(a.route, b.route));
  let shadowed = false;
  const allow = new Set<string>();
  for (let i = 0; i < found.length; ) {
    let j = i;
    while (j < found.length && compareKeys(found[j]!.key, found[i]!.key) === 0) j++;
    const group = found.slice(i, j).filter((f) => f.params !== 'folded');
    i = j;
    if (group.length === 0) {
      shadowed = true; // only case variants in this group
      continue;
    }
    if (shadowed) return CASE_VARIANT;
    const taker = group.find((f) => allowsMethod(f.route.matcher, method));
    if (taker) return { route: taker.route, params: taker.params as readonly string[] };
    for (const f of group) for (const x of f.route.matcher.methods!) allow.add(x);
    if (!group.every((f) => f.route.matcher.fallthrough)) break;
  }
  if (shadowed) return CASE_VARIANT;
  return allow.size > 0 ? { route: undefined, status: 405, allow: allowList(allow) } : undefined;
}

/** The reply for a request no route takes: 404, 405 with Allow, or 400 for a case variant. */
export function refusalError(found: RouteRefusal | undefined, method: string, path: string): GatewayError {
  if (found === undefined) return new GatewayError('GW_ERR_ROUTE_NOT_FOUND', `No route for ${method} ${path}.`);
  if (found.status === 400) {
    return new GatewayError('GW_ERR_PATH_INVALID', 'This path differs only in letter case from a path a more specific route takes; use its exact spelling.');
  }
  const allow = found.allow.join(', ');
  return new GatewayError('GW_ERR_METHOD_NOT_ALLOWED', `${method} is not allowed here; allowed: ${allow}.`, { allow });
}
