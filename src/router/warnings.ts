/**
 * Warnings about the route table, for `gateway validate`, /routes and the start-up log. Each check is
 * linear in the number of routes (the table may hold 10,000): no pairwise comparison of all routes.
 */
import type { IncomingHttpHeaders } from 'node:http';
import type { Matchable } from './match.js';
import type { RouteIndex } from './route-index.js';

/** What the warnings read of a compiled route (compile.ts's CompiledRoute has it; no import back). */
interface WarnedRoute extends Matchable {
  readonly index: number;
  readonly name: string;
  /** Names of the route's policies. */
  readonly policies: readonly string[];
  readonly config: { readonly auth?: unknown };
}

const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'TRACE'];
const PROBE = 'gw-probe';

export function routeWarnings<R extends WarnedRoute>(routes: readonly R[], router: RouteIndex<R>): string[] {
  return [...tieWarnings(routes), ...weakerFallbackWarnings(routes, router)];
}

const at = (r: WarnedRoute) => `routes[${r.index}] (${r.name})`;

/** Two routes that match exactly the same requests (and share a method): the later one never wins them. */
function tieWarnings(routes: readonly WarnedRoute[]): string[] {
  const byCondition = new Map<string, WarnedRoute[]>();
  for (const r of routes) {
    const m = r.matcher;
    // Joined with characters no host, path or header name can hold.
    const key = [
      m.kind,
      m.path,
      m.prefix,
      m.caseInsensitive ? 'i' : '',
      m.exactHosts ? [...m.exactHosts].sort().join(' ') : '',
      m.wildcardHosts ? [...m.wildcardHosts].sort().join(' ') : '',
      m.headers ? m.headers.map(([k, v]) => `${k}:${v}`).sort().join('\n') : '',
      m.methods === undefined ? 'any' : '',
    ].join('\t');
    const list = byCondition.get(key);
    if (list) list.push(r);
    else byCondition.set(key, [r]);
  }
  const warnings: string[] = [];
  for (const list of byCondition.values()) {
    if (list.length < 2) continue;
    list.sort((a, b) => a.index - b.index);
    for (let j = 1; j < list.length; j++) {
      const b = list[j]!;
      const first = list.slice(0, j).find((a) => !a.matcher.methods || !b.matcher.methods || [...a.matcher.methods].some((x) => b.matcher.methods!.has(x)));
      if (first) warnings.push(`${at(b)}: matches the same requests as ${at(first)}, which is declared first and wins`);
    }
  }
  return warnings;
}

/** A request this route's conditions match: its own host, path (parameters filled in) and headers. */
function sampleRequest(r: WarnedRoute): { host: string; path: string; req: { headers: IncomingHttpHeaders } } {
  const m = r.matcher;
  const host = m.exactHosts ? [...m.exactHosts][0]! : m.wildcardHosts ? PROBE + m.wildcardHosts[0]! : `${PROBE}.invalid`;
  const path =
    m.kind === 'pattern' ? '/' + m.pattern!.segments.map((s) => s ?? PROBE).join('/') : m.kind === 'prefix' ? m.prefix || '/' : m.path;
  const headers: IncomingHttpHeaders = {};
  for (const [name, value] of m.headers ?? []) headers[name] = value === '*' ? PROBE : value;
  return { host, path, req: { headers } };
}

/** What `to` lacks of `from`'s protection, in words, or undefined when it is at least as strong. */
function weaker(from: WarnedRoute, to: WarnedRoute): string | undefined {
  const missing = from.policies.filter((p) => !to.policies.includes(p));
  if (missing.length > 0) return `has no ${missing.join(', ')}`;
  if (JSON.stringify(from.config.auth) !== JSON.stringify(to.config.auth)) return `has other auth settings (${JSON.stringify(to.config.auth ?? 'none')})`;
  return undefined;
}

/**
 * Issue 15: a route with a method list refuses the other methods with 405 (its path match decides).
 * Where those methods would land on a less specific route with weaker policies if they went on — as
 * they do with match.methodFallthrough, and as they did before that rule — say so, per route.
 */
function weakerFallbackWarnings<R extends WarnedRoute>(routes: readonly R[], router: RouteIndex<R>): string[] {
  const warnings: string[] = [];
  for (const r of routes) {
    const methods = r.matcher.methods;
    if (methods === undefined) continue;
    const { host, path, req } = sampleRequest(r);
    const landing = new Map<R, string[]>();
    for (const method of METHODS) {
      if (methods.has(method) || (method === 'HEAD' && methods.has('GET'))) continue;
      const found = router.matchPast(r, method, host, path, req);
      if (found?.route === undefined || found.route === r) continue;
      const list = landing.get(found.route);
      if (list) list.push(method);
      else landing.set(found.route, [method]);
    }
    for (const [to, refused] of landing) {
      const why = weaker(r, to);
      if (why === undefined) continue;
      warnings.push(
        r.matcher.fallthrough
          ? `${at(r)}: methodFallthrough sends ${refused.join(', ')} ${path} to ${at(to)}, which ${why}`
          : `${at(r)}: ${refused.join(', ')} ${path} are refused with 405 here; with match.methodFallthrough they would go to ${at(to)}, which ${why}`,
      );
    }
  }
  return warnings;
}
