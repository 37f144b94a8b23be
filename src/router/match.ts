/**
 * Route matching. Routes are sorted once by specificity when the snapshot is compiled, so the first
 * route that matches is the most specific one. The order (README "Which route wins"):
 *   1. host: an exact host before a wildcard host (longer suffix first) before no host condition;
 *   2. path: an exact path, then a parameter pattern (more literal segments first), then a prefix
 *      (longer first);
 *   3. more header conditions first; 4. a method list before "any method";
 *   5. real ties keep declaration order (and `gateway validate` warns).
 */
import type { IncomingHttpHeaders } from 'node:http';
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
}

export interface Matchable {
  readonly matcher: RouteMatcher;
}

export type MatchResult<R> =
  | { route: R; params: readonly string[] }
  | { route: undefined; allow: readonly string[] }
  | undefined;

const NO_PARAMS: readonly string[] = [];

function pathMatches(m: RouteMatcher, path: string): readonly string[] | null {
  switch (m.kind) {
    case 'exact':
      return path === m.path ? NO_PARAMS : null;
    case 'prefix':
      if (m.prefix === '') return NO_PARAMS;
      if (!path.startsWith(m.prefix)) return null;
      return path.length === m.prefix.length || path.charCodeAt(m.prefix.length) === 47 ? NO_PARAMS : null;
    case 'pattern':
      return matchPattern(m.pattern!, path);
  }
}

function hostMatches(m: RouteMatcher, host: string): boolean {
  if (m.exactHosts === undefined && m.wildcardHosts === undefined) return true;
  if (m.exactHosts?.has(host)) return true;
  if (m.wildcardHosts) {
    for (const suffix of m.wildcardHosts) {
      if (host.length > suffix.length && host.endsWith(suffix)) return true;
    }
  }
  return false;
}

function headersMatch(m: RouteMatcher, req: { readonly headers: IncomingHttpHeaders }): boolean {
  if (m.headers === undefined) return true;
  const headers = req.headers; // Node folds the raw list on first access: only pay for it when a route asks
  for (const [name, want] of m.headers) {
    const got = headers[name];
    if (got === undefined) return false;
    if (want !== '*' && got !== want) return false;
  }
  return true;
}

/** Find the route for a request among routes sorted by specificity. */
export function matchRoute<R extends Matchable>(
  routes: readonly R[],
  method: string,
  host: string,
  path: string,
  req: { readonly headers: IncomingHttpHeaders },
): MatchResult<R> {
  let allow: Set<string> | undefined;
  for (let i = 0; i < routes.length; i++) {
    const route = routes[i]!;
    const m = route.matcher;
    const params = pathMatches(m, path);
    if (params === null || !hostMatches(m, host) || !headersMatch(m, req)) continue;
    if (m.methods === undefined || m.methods.has(method) || (method === 'HEAD' && m.methods.has('GET'))) {
      return { route, params };
    }
    allow ??= new Set();
    for (const x of m.methods) allow.add(x);
  }
  if (allow) {
    if (allow.has('GET')) allow.add('HEAD');
    return { route: undefined, allow: [...allow].sort() };
  }
  return undefined;
}

/** Sort key: larger is more specific. Compared element by element. */
export function specificity(m: RouteMatcher): number[] {
  const host = m.exactHosts ? 3 : m.wildcardHosts ? 2 : 1;
  const hostLen = m.wildcardHosts ? Math.min(...m.wildcardHosts.map((h) => h.length)) : 0;
  const pathKind = m.kind === 'exact' ? 3 : m.kind === 'pattern' ? 2 : 1;
  const pathLen =
    m.kind === 'pattern' ? m.pattern!.literalCount * 1000 + m.pattern!.segments.length : m.kind === 'prefix' ? m.prefix.length : m.path.length;
  return [host, hostLen, pathKind, pathLen, m.headers?.length ?? 0, m.methods ? 1 : 0];
}

export function compareSpecificity(a: RouteMatcher, b: RouteMatcher): number {
  const sa = specificity(a);
  const sb = specificity(b);
  for (let i = 0; i < sa.length; i++) if (sa[i] !== sb[i]) return sb[i]! - sa[i]!;
  return 0;
}
