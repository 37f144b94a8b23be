/**
 * Compile a validated Config into an immutable Snapshot: the sorted route table, each route holding
 * its upstream, its URL rewriter and its ordered policy hooks. Serving never looks config up again;
 * a reload compiles a new Snapshot and swaps one reference.
 */
import type { Config, RouteConfig } from '../config/schema.js';
import { policyView, sortPolicies } from '../config/policy-view.js';
import { compileRetryPolicy, type RetryBudget, type RetryPolicy } from '../proxy/retry.js';
import {
  DEFAULT_POLICY_TIMEOUT_MS,
  hookLists,
  NO_HOOKS,
  policyField,
  type AnyPolicy,
  type HookLists,
  type PolicyHooks,
  type PolicyServices,
  type RequestObserver,
  type RouteInfo,
} from '../pipeline/contract.js';
import { createUpstream, stopUpstream, upstreamIdentity, type PoolSet, type Upstream } from '../upstream/upstream.js';
import { REAL_TIMERS } from '../upstream/health.js';
import type { HealthTimers } from '../upstream/types.js';
import { parseDuration, parseSize } from '../util/units.js';
import { compileTrustedProxies, type TrustedProxies } from '../util/ip.js';
import { compileStrippedHeaders } from '../proxy/headers.js';
import { sortStatic, type RouteMatcher } from './match.js';
import { compilePathPattern, type PathPattern } from './pattern.js';
import { RouteIndex } from './route-index.js';
import { routeWarnings } from './warnings.js';

export interface CompiledRoute extends RouteInfo {
  readonly name: string;
  /** Position in the config file. */
  readonly index: number;
  readonly config: RouteConfig;
  readonly matcher: RouteMatcher;
  readonly upstream: Upstream;
  /** Build the upstream path (without the target's base path) from the normalised request path. */
  readonly rewrite: (path: string, params: readonly string[]) => string;
  readonly preserveHost: boolean;
  /** Bytes; Infinity when unlimited. */
  readonly maxBodySize: number;
  /** Response-head timeout for this route, ms. */
  readonly responseTimeout: number;
  /** Body idle timeout for this route (SSE, long polls), ms. */
  readonly idleTimeout: number;
  /** Retries of failed tries (the route's, else the upstream's); undefined when off. */
  readonly retry: RetryPolicy | undefined;
  /** Accepts WebSocket upgrades. */
  readonly websocket: boolean;
  /** WebSocket tunnel idle timeout, ms. */
  readonly websocketIdleTimeout: number;
  /** The route's chain: the snapshot's pre-route hooks, then the route's own, by phase and order. */
  readonly hooks: HookLists;
  /** Names of the policies on this route, in order (for /routes and validate). */
  readonly policies: readonly string[];
  /** TRACE is refused here (server.allowTrace, the route's allowTrace or TRACE in match.methods say otherwise). */
  readonly refuseTrace: boolean;
  /** The Allow field of that refusal: the route's methods without TRACE. */
  readonly allowWithoutTrace: string;
}

const ALL_METHODS_BUT_TRACE = 'GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS';

function traceRule(route: RouteConfig, config: Config): { refuseTrace: boolean; allowWithoutTrace: string } {
  const methods = route.match.methods;
  const allowed = route.allowTrace ?? (config.server.allowTrace || methods?.includes('TRACE') === true);
  const others = methods?.filter((m) => m !== 'TRACE' && m !== 'CONNECT');
  return { refuseTrace: !allowed, allowWithoutTrace: others === undefined ? ALL_METHODS_BUT_TRACE : others.join(', ') };
}

export interface Snapshot {
  readonly config: Config;
  /** Most specific first (the order /routes and `gateway validate` show). */
  readonly routes: readonly CompiledRoute[];
  /** Finds the route for a request (README "Which route wins"). */
  readonly router: RouteIndex<CompiledRoute>;
  readonly upstreams: ReadonlyMap<string, Upstream>;
  readonly trustedProxies: TrustedProxies;
  /** Header names removed from every client request (gateway-owned and JWT claim headers), normalised (lower-case, `_` → `-`). */
  readonly strippedRequestHeaders: ReadonlySet<string>;
  /** req.rawHeaders entries allowed (2 × server.maxHeaderCount); more is a 431. */
  readonly maxRawHeaders: number;
  /** Per-policy shared state from setup(), by policy name. */
  readonly policyState: ReadonlyMap<string, unknown>;
  /** The policies this snapshot was compiled with, sorted by phase and order. */
  readonly policies: readonly AnyPolicy[];
  /** Hooks of `pre-route` policies: they run before matching, for every request. */
  readonly preRoute: HookLists;
  /** Names of the pre-route policies in force. */
  readonly preRoutePolicies: readonly string[];
  readonly observers: readonly RequestObserver[];
  readonly maxBodySize: number;
  readonly warnings: readonly string[];
  /**
   * Requests that started on this snapshot and have not finished (the one mutable field): a
   * retired snapshot's resources are released only once it is 0.
   */
  inFlight: number;
}

export function compileMatcher(route: RouteConfig): RouteMatcher {
  const { path, pathPrefix, methods, hosts, headers, methodFallthrough, caseInsensitive } = route.match;
  let kind: RouteMatcher['kind'] = 'prefix';
  let pattern: PathPattern | undefined;
  if (path !== undefined) {
    const p = compilePathPattern(path);
    if (typeof p === 'string') throw new Error(`route ${route.name}: ${p}`); // validate() already rejected this
    if (p.params.length > 0) {
      kind = 'pattern';
      pattern = p;
    } else kind = 'exact';
  }
  const prefix = pathPrefix !== undefined ? pathPrefix.replace(/\/+$/, '') : '';
  const exact = hosts?.filter((h) => !h.startsWith('*.')).map((h) => h.toLowerCase());
  const wild = hosts?.filter((h) => h.startsWith('*.')).map((h) => h.slice(1).toLowerCase());
  const literal = pattern ? pattern.segments.filter((s) => s !== null).join('/') : path ?? prefix;
  return {
    kind,
    path: path ?? '',
    pattern,
    prefix,
    methods: methods ? new Set(methods) : undefined,
    exactHosts: exact && exact.length > 0 ? new Set(exact) : undefined,
    wildcardHosts: wild && wild.length > 0 ? wild : undefined,
    headers: headers ? Object.entries(headers).map(([k, v]) => [k.toLowerCase(), v] as const) : undefined,
    fallthrough: methodFallthrough,
    caseInsensitive,
    literalHasUpper: /[A-Z]/.test(literal),
  };
}

/** The pure URL rule: strip the prefix, or substitute into the rewrite template, or pass through. */
export function compileRewrite(route: RouteConfig, matcher: RouteMatcher): CompiledRoute['rewrite'] {
  const { rewrite, stripPrefix } = route;
  if (matcher.kind === 'prefix' && (stripPrefix || rewrite !== undefined)) {
    const cut = matcher.prefix.length;
    const base = rewrite !== undefined ? rewrite.replace(/\/+$/, '') : '';
    return (path) => {
      const rest = path.slice(cut);
      const out = base + rest;
      return out === '' ? '/' : out.charCodeAt(0) === 47 ? out : '/' + out;
    };
  }
  if (rewrite !== undefined) {
    const names = matcher.pattern?.params ?? [];
    const parts = rewrite.split(/(:[A-Za-z_][A-Za-z0-9_]*)/);
    return (_path, params) => {
      let out = '';
      for (const part of parts) {
        const at = part.startsWith(':') ? names.indexOf(part.slice(1)) : -1;
        out += at >= 0 ? (params[at] ?? '') : part;
      }
      return out;
    };
  }
  return (path) => path;
}

export interface CompileOptions {
  services: PolicyServices;
  pools: PoolSet;
  /** The policy registry: the built-ins and any plugins, passed in by whoever composes the gateway. */
  policies: readonly AnyPolicy[];
  /**
   * The snapshot being replaced (a reload): upstreams whose config is the same are carried over
   * whole (pools, health state, running probes), and each policy's setup() gets its previous state.
   */
  previous?: Snapshot;
  observers?: readonly RequestObserver[];
  /** The clock of health checks and ejections (tests inject one). */
  timers?: HealthTimers;
}

/** Merge `defaults` under the route: a field the route sets wins whole (no deep merge of policy config). */
function withDefaults(route: RouteConfig, defaults: Config['defaults']): RouteConfig {
  const merged: Record<string, unknown> = { ...defaults };
  for (const [k, v] of Object.entries(route)) if (v !== undefined) merged[k] = v;
  return merged as RouteConfig;
}

/** The route's retry policy: its own `retries` (false: none), else its upstream's. */
function retryOf(route: RouteConfig, config: Config, budgets: Map<string, RetryBudget>): RetryPolicy | undefined {
  const cfg = route.retries ?? config.upstreams[route.upstream]?.retries;
  return cfg === undefined || cfg === false ? undefined : compileRetryPolicy(cfg, route.upstream, budgets);
}

export async function compileSnapshot(config: Config, warnings: readonly string[], opts: CompileOptions): Promise<Snapshot> {
  const upstreams = new Map<string, Upstream>();
  const deps = { logger: opts.services.logger, timers: opts.timers ?? REAL_TIMERS };
  const made: Upstream[] = [];
  for (const [name, cfg] of Object.entries(config.upstreams)) {
    const prev = opts.previous?.upstreams.get(name);
    if (prev !== undefined && prev.identity === upstreamIdentity(name, cfg, opts.services.configDir)) upstreams.set(name, prev);
    else {
      const u = createUpstream(name, cfg, opts.pools, deps, opts.services.configDir);
      made.push(u);
      upstreams.set(name, u);
    }
  }
  try {
    return await compileWith(config, warnings, opts, upstreams);
  } catch (err) {
    // Nothing of a failed compile may linger: give back the pools the new upstreams took.
    for (const u of made) await stopUpstream(u, opts.pools);
    throw err;
  }
}

async function compileWith(config: Config, warnings: readonly string[], opts: CompileOptions, upstreams: Map<string, Upstream>): Promise<Snapshot> {
  /** One retry budget per upstream for this snapshot (a reload starts them full again). */
  const budgets = new Map<string, RetryBudget>();
  const policies = sortPolicies(opts.policies);
  const policyState = new Map<string, unknown>();
  const stripped = new Set<string>();
  try {
    for (const policy of policies) {
      const shared = policy.setup ? await policy.setup(policyView(policy, config), opts.services, opts.previous?.policyState.get(policy.name)) : undefined;
      policyState.set(policy.name, shared);
      for (const h of policy.strippedRequestHeaders?.(shared) ?? []) stripped.add(h.toLowerCase());
    }
  } catch (err) {
    // A failed reload leaves the serving snapshot as it was: release only what this attempt made
    // (to dispose(), the previous state is the one "taking over").
    for (const policy of policies) {
      const state = policyState.get(policy.name);
      if (state !== undefined) await policy.dispose?.(state, opts.previous?.policyState.get(policy.name));
    }
    throw err;
  }
  const instantiate = (policy: AnyPolicy, value: unknown, route: RouteInfo | undefined, into: PolicyHooks[], timeouts: number[]): void => {
    if (policy.config !== undefined && value === undefined) return;
    const h = policy.create(value, { ...opts.services, route, shared: policyState.get(policy.name) });
    if (h === undefined) return;
    into.push(h.policy === undefined ? { ...h, policy: policy.name } : h);
    timeouts.push(policy.timeout ?? DEFAULT_POLICY_TIMEOUT_MS);
  };
  const preHooks: PolicyHooks[] = [];
  const preTimeouts: number[] = [];
  const doc = config as unknown as Record<string, unknown>;
  for (const policy of policies) if (policy.phase === 'pre-route') instantiate(policy, doc[policyField(policy)], undefined, preHooks, preTimeouts);
  const preRoute = preHooks.length > 0 ? hookLists(preHooks, preTimeouts) : NO_HOOKS;

  const serverMax = parseSize(config.server.maxBodySize)!;
  const routes: CompiledRoute[] = config.routes.map((raw, index) => {
    const route = withDefaults(raw, config.defaults);
    const matcher = compileMatcher(route);
    const upstream = upstreams.get(route.upstream)!;
    const info: RouteInfo = { name: route.name, index, paramNames: matcher.pattern?.params ?? [], upstreamName: route.upstream };
    const hooks = [...preHooks];
    const timeouts = [...preTimeouts];
    const fields = route as unknown as Record<string, unknown>;
    for (const policy of policies) if (policy.phase !== 'pre-route') instantiate(policy, fields[policyField(policy)], info, hooks, timeouts);
    const max = route.maxBodySize !== undefined ? parseSize(route.maxBodySize)! : serverMax;
    return {
      ...info,
      config: route,
      matcher,
      upstream,
      rewrite: compileRewrite(route, matcher),
      preserveHost: route.preserveHost,
      maxBodySize: max === 0 ? Infinity : max,
      responseTimeout: route.timeouts?.response !== undefined ? parseDuration(route.timeouts.response)! : upstream.responseTimeout,
      idleTimeout: route.timeouts?.idle !== undefined ? parseDuration(route.timeouts.idle)! : upstream.idleTimeout,
      retry: retryOf(route, config, budgets),
      websocket: route.websocket,
      websocketIdleTimeout: route.timeouts?.websocketIdle !== undefined ? parseDuration(route.timeouts.websocketIdle)! : upstream.websocketIdleTimeout,
      hooks: hooks.length > 0 ? hookLists(hooks, timeouts) : NO_HOOKS,
      policies: hooks.map((h) => h.policy!),
      ...traceRule(route, config),
    };
  });
  sortStatic(routes);
  const router = new RouteIndex(routes, { caseVariants: config.server.paths.caseVariants });

  return {
    config,
    routes,
    router,
    upstreams,
    trustedProxies: compileTrustedProxies(config.server.trustedProxies),
    strippedRequestHeaders: compileStrippedHeaders(stripped),
    policyState,
    policies,
    preRoute,
    preRoutePolicies: preHooks.map((h) => h.policy!),
    observers: opts.observers ?? [],
    maxBodySize: serverMax === 0 ? Infinity : serverMax,
    maxRawHeaders: 2 * config.server.maxHeaderCount,
    warnings: [...warnings, ...routeWarnings(routes, router)],
    inFlight: 0,
  };
}

/** The compiled table as plain data, for `/routes` and `gateway validate`. */
export function describeRoutes(snapshot: Snapshot): unknown[] {
  return snapshot.routes.map((r) => ({
    name: r.name,
    match: {
      ...(r.matcher.kind === 'prefix' ? { pathPrefix: r.config.match.pathPrefix } : { path: r.matcher.path }),
      methods: r.matcher.methods ? [...r.matcher.methods] : 'any',
      hosts: r.config.match.hosts ?? 'any',
      ...(r.matcher.headers ? { headers: Object.fromEntries(r.matcher.headers) } : {}),
      ...(r.matcher.fallthrough ? { methodFallthrough: true } : {}),
      ...(r.matcher.caseInsensitive ? { caseInsensitive: true } : {}),
    },
    upstream: r.upstream.name,
    targets: r.upstream.targets.map((t) => t.origin + t.basePath),
    rewrite: r.config.rewrite ?? (r.config.stripPrefix ? 'strip prefix' : 'none'),
    maxBodySize: Number.isFinite(r.maxBodySize) ? r.maxBodySize : 'unlimited',
    ...(r.websocket ? { websocket: true } : {}),
    policies: r.policies,
  }));
}

/**
 * Release what compileSnapshot set up and `next` (the snapshot that replaced this one) did not take
 * over: policy state (timers, connections) and upstreams (probes, ejection timers, pools). Without
 * `pools` the caller closes every pool itself.
 */
export async function disposeSnapshot(snapshot: Snapshot, next?: Snapshot, pools?: PoolSet): Promise<void> {
  for (const policy of snapshot.policies) {
    const state = snapshot.policyState.get(policy.name);
    if (state !== undefined) await policy.dispose?.(state, next?.policyState.get(policy.name));
  }
  const kept = new Set(next?.upstreams.values() ?? []);
  for (const u of snapshot.upstreams.values()) if (!kept.has(u)) await stopUpstream(u, pools);
}
