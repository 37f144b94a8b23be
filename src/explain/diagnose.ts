/**
 * Why a route does or does not take a request, condition by condition. Every answer comes from the
 * gateway's own matcher (router/match.ts): each route is asked alone, once with the request as it
 * is and once with all but one condition replaced by a value the route's config accepts, so a
 * change to the matching rules changes these answers with it. Explain never decides a match itself:
 * the route that won is the one the real handler chose.
 */
import type { IncomingHttpHeaders } from 'node:http';
import type { CompiledRoute } from '../router/compile.js';
import { matchReference, type MatchResult } from '../router/match.js';
import { distance } from '../util/suggest.js';

/** The request as the router saw it. */
export interface MatchInput {
  readonly method: string;
  readonly host: string;
  readonly path: string;
  readonly headers: IncomingHttpHeaders;
}

export interface RouteCheck {
  readonly route: CompiledRoute;
  /** 1-based position in match order (most specific first). */
  readonly position: number;
  readonly path: boolean;
  readonly host: boolean;
  readonly headers: boolean;
  /** The method is allowed (only meaningful when path, host and headers hold). */
  readonly method: boolean;
  /** Each condition, in words: what the route asks and how the request fares. */
  readonly reasons: { readonly path: string; readonly host: string; readonly headers: string; readonly method: string };
}

/**
 * The one place explain asks the router: the reference matcher (the rule the route index is tested
 * against) over a table of one route. A letter-case variant is no match of the route itself ('route').
 */
function ask(route: CompiledRoute, method: string, host: string, path: string, headers: IncomingHttpHeaders): MatchResult<CompiledRoute> {
  return matchReference([route], method, host, path, { headers }, 'route');
}

/** A host the route accepts (its first host; `x.example.com` for `*.example.com`), or the request's when it has none. */
function acceptedHost(route: CompiledRoute, host: string): string {
  const first = route.config.match.hosts?.[0];
  if (first === undefined) return host;
  return (first.startsWith('*.') ? 'x' + first.slice(1) : first).toLowerCase();
}

/** Header fields the route accepts. */
function acceptedHeaders(route: CompiledRoute): IncomingHttpHeaders {
  const out: IncomingHttpHeaders = {};
  for (const [k, v] of Object.entries(route.config.match.headers ?? {})) out[k.toLowerCase()] = v === '*' ? 'x' : v;
  return out;
}

/** A path the route accepts: its exact path, its prefix, or its pattern with `x` for each parameter. */
function acceptedPath(route: CompiledRoute): string {
  const m = route.config.match;
  if (m.path !== undefined) return m.path.split('/').map((s) => (s.startsWith(':') || s === '*' ? 'x' : s)).join('/');
  return m.pathPrefix ?? '/';
}

/** The route's path condition in words. */
export function pathRule(route: CompiledRoute): string {
  const m = route.config.match;
  if (m.pathPrefix !== undefined) return `prefix ${m.pathPrefix}`;
  return m.path!.includes(':') ? `pattern ${m.path}` : `exact path ${m.path}`;
}

function list(xs: readonly string[]): string {
  return `[${xs.join(', ')}]`;
}

export function checkRoute(route: CompiledRoute, position: number, req: MatchInput): RouteCheck {
  const anyHost = acceptedHost(route, req.host);
  const okHeaders = acceptedHeaders(route);
  const okPath = acceptedPath(route);
  const path = ask(route, req.method, anyHost, req.path, okHeaders) !== undefined;
  const host = ask(route, req.method, req.host, okPath, okHeaders) !== undefined;
  const headers = ask(route, req.method, anyHost, okPath, req.headers) !== undefined;
  const full = ask(route, req.method, req.host, req.path, req.headers);
  const method = full !== undefined && full.route !== undefined;
  const m = route.config.match;

  const hostWords = m.hosts === undefined ? 'any host' : `host ${JSON.stringify(req.host)} ${host ? 'is' : 'is not'} one of ${list(m.hosts)}`;
  let pathWords = `${JSON.stringify(req.path)} ${path ? 'matches' : 'does not match'} ${pathRule(route)}`;
  if (path && method && route.paramNames.length > 0 && full?.route !== undefined) {
    pathWords += ` (${route.paramNames.map((n, i) => `${n}=${full.params[i] ?? ''}`).join(', ')})`;
  }
  const wanted = Object.entries(m.headers ?? {});
  const headerWords =
    wanted.length === 0
      ? 'no header conditions'
      : wanted
          .map(([k, v]) => {
            const got = req.headers[k.toLowerCase()];
            const shown = got === undefined ? 'missing' : JSON.stringify(Array.isArray(got) ? got.join(', ') : got);
            return `${k.toLowerCase()}: ${v === '*' ? 'present' : JSON.stringify(v)} (got ${shown})`;
          })
          .join('; ');
  const methods = m.methods;
  const methodWords =
    methods === undefined
      ? 'any method'
      : methods.includes(req.method as never)
        ? `${req.method} is in ${list(methods)}`
        : req.method === 'HEAD' && methods.includes('GET')
          ? `HEAD is served by GET in ${list(methods)}`
          : `${req.method} is not in ${list(methods)}`;
  return { route, position, path, host, headers, method, reasons: { path: pathWords, host: hostWords, headers: headerWords, method: methodWords } };
}

/** Every route of the table checked against the request, in match order. */
export function checkAll(routes: readonly CompiledRoute[], req: MatchInput): RouteCheck[] {
  return routes.map((r, i) => checkRoute(r, i + 1, req));
}

/** What failed, in words, for a route that did not take the request. */
export function failedConditions(c: RouteCheck): string[] {
  const out: string[] = [];
  if (!c.path) out.push(c.reasons.path);
  if (!c.host) out.push(c.reasons.host);
  if (!c.headers) out.push(`headers: ${c.reasons.headers}`);
  if (c.path && c.host && c.headers && !c.method) out.push(c.reasons.method);
  return out;
}

export type CandidateKind = 'method' | 'host' | 'headers' | 'path';

export interface Candidate {
  readonly kind: CandidateKind;
  readonly check: RouteCheck;
  readonly why: readonly string[];
}

/** How close a route's path rule is to a path: leading segments in common, then edit distance. */
function pathCloseness(route: CompiledRoute, path: string): [number, number] {
  const rule = route.config.match.path ?? route.config.match.pathPrefix ?? '/';
  const a = path.split('/').filter((s) => s !== '');
  const b = rule.split('/').filter((s) => s !== '');
  let common = 0;
  while (common < a.length && common < b.length && (a[common] === b[common] || b[common]!.startsWith(':'))) common++;
  return [common, distance(path, rule)];
}

/**
 * The routes nearest to taking a request none took: the same path with another method (a 405), the
 * same path on another host or with other header values; failing those, the nearest paths.
 */
export function closestCandidates(checks: readonly RouteCheck[], path: string, limit = 3): Candidate[] {
  const out: Candidate[] = [];
  const push = (kind: CandidateKind, c: RouteCheck) => out.push({ kind, check: c, why: failedConditions(c) });
  for (const c of checks) if (c.path && c.host && c.headers && !c.method) push('method', c);
  for (const c of checks) if (c.path && !c.host) push('host', c);
  for (const c of checks) if (c.path && c.host && !c.headers) push('headers', c);
  const rest = checks
    .filter((c) => !c.path)
    .map((c) => ({ c, score: pathCloseness(c.route, path) }))
    .sort((x, y) => y.score[0] - x.score[0] || x.score[1] - y.score[1] || x.c.position - y.c.position);
  if (out.length > 0) return out; // the same path exists: other paths are beside the point
  for (const { c } of rest.slice(0, limit)) push('path', c);
  return out;
}
