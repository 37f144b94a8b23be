/**
 * The policy contract: everything a policy (built-in or a user's plugin) sees and returns. This is
 * the leaf of the pipeline: it imports only types from outside the project and the error table, so
 * config, router, policies and server may all depend on it and it depends on none of them.
 *
 * A policy owns a piece of config, is compiled once per snapshot and returns hooks (Envoy's filter
 * chain): request hooks run in phase order and may answer locally, the proxy is the terminal step,
 * response hooks run in reverse on every response (upstream and local), done hooks run exactly once
 * when the exchange is over.
 */
import type { IncomingMessage } from 'node:http';
import type { Static, TSchema } from '@sinclair/typebox';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { GatewayError } from '../errors.js';

/**
 * When a policy runs. `pre-route` runs before route matching (it can answer requests no route
 * matches: a global CORS preflight, an IP deny list); the others run on the matched route in this
 * order, each with small order numbers first.
 */
export type Phase = 'pre-route' | 'auth' | 'admission' | 'transform' | 'observe';
export const PHASES: readonly Phase[] = ['pre-route', 'auth', 'admission', 'transform', 'observe'];

/** A reply the gateway writes itself instead of proxying: any status, headers and body. */
export interface LocalReply {
  readonly status: number;
  /** Header names are case-insensitive; hop-by-hop fields and Content-Length are the gateway's. */
  readonly headers?: Readonly<Record<string, string | number | readonly string[]>>;
  readonly body?: string | Uint8Array;
}

/** What a request hook returns: nothing to go on, a local reply, or a GatewayError (a problem+json reply). */
export type HookResult = LocalReply | GatewayError | undefined | void;

/** Who the request is from, once an authentication policy has verified it. */
export interface Principal {
  /** The consumer key for rate limits and logs: a JWT `sub`, or an API key's consumer name. */
  readonly subject: string | undefined;
  /** The JWT issuer, or `apikey` for API-key consumers: subjects are unique only within one issuer. */
  readonly issuer: string;
  readonly scopes: readonly string[];
  readonly claims: Readonly<Record<string, unknown>>;
}

/** What a policy knows of the route it is compiled for. */
export interface RouteInfo {
  readonly name: string;
  /** Position in the config file's routes list. */
  readonly index: number;
  /** Names of the route's `:params`, in order (ctx.params holds their values). */
  readonly paramNames: readonly string[];
  /** The upstream group's name. */
  readonly upstreamName: string;
}

/**
 * One request as policies see it. Request-header changes go to the upstream request; the client's
 * own headers are read with header().
 */
export interface PolicyContext {
  readonly req: IncomingMessage;
  readonly method: string;
  /** The normalised path (what is matched; what the upstream receives unless a policy rewrites it). */
  readonly path: string;
  /** The query string with its `?`, or ''. */
  readonly query: string;
  /** The request host, lower-case, without port. */
  readonly host: string;
  readonly requestId: string;
  readonly traceId: string;
  /** The client's address (after server.trustedProxies). */
  readonly clientIp: string;
  /** performance.now() when the request arrived. */
  readonly start: number;
  /** The matched route; undefined in `pre-route` hooks and for requests no route matches. */
  readonly routeInfo: RouteInfo | undefined;
  /** Values of the route's `:params`, in the order of routeInfo.paramNames. */
  readonly params: readonly string[];
  principal: Principal | undefined;
  /** The response status once known (0 before). */
  readonly status: number;
  /** A pino child logger bound to the request id and route. */
  readonly log: Logger;
  /** Per-policy scratch space: use your policy name as the key. */
  state: Record<string, unknown> | undefined;

  /** A request header as the client sent it (first value; lower-case name), after the gateway's stripping. */
  header(name: string): string | undefined;
  /** A `:param` of the matched route by name. */
  param(name: string): string | undefined;
  /** Set a header on the upstream request, replacing any value (lower-case name). */
  setRequestHeader(name: string, value: string): void;
  /** Add a header line to the upstream request. */
  addUpstreamHeader(name: string, value: string): void;
  /** Remove every upstream request header of this (lower-case) name. */
  removeUpstreamHeader(name: string): void;
  /**
   * Change the path: in `pre-route` hooks before matching (the new path is matched); later, the path
   * the upstream receives (after the target's base path, instead of the route's rewrite).
   */
  setPath(path: string): void;
  /** Replace the query string ('' for none; a leading `?` is optional). */
  setQuery(query: string): void;
  /** Add a header to the client response, whatever answers it (lower-case name). */
  setResponseHeader(name: string, value: string): void;
}

/** A response field's value: one line, or a repeated field's lines (Set-Cookie), or a number. */
export type FieldValue = string | string[] | number;

/**
 * The response head a response hook may change. `get`, `set`, `append` and `delete` work on the
 * fields as they arrived from the upstream (a flat list) and are the cheap way; reading `headers`
 * turns them into an object once per response (a little more work per request, the same result).
 */
export interface ResponseHead {
  readonly status: number;
  /** True when the gateway answered itself (a refusal, a local reply); false for an upstream response. */
  readonly local: boolean;
  /** Every field as an object with lower-case names: change, add or delete fields. */
  readonly headers: Record<string, FieldValue>;
  /** A field's value (lower-case name): a string, an array when the field is repeated, undefined when absent. */
  get(name: string): FieldValue | undefined;
  /** Replace every field of this (lower-case) name with this value (an array: one line each). */
  set(name: string, value: FieldValue): void;
  /** One more line of this field, after those already there. */
  append(name: string, value: string): void;
  /** Remove every field of this (lower-case) name. */
  delete(name: string): void;
}

export interface PolicyHooks {
  /** The policy's name, for logs (the gateway fills it in from the definition when absent). */
  readonly policy?: string;
  /** May answer locally (return a LocalReply or a GatewayError) or change the upstream request. May be async. */
  onRequest?(ctx: PolicyContext): HookResult | Promise<HookResult>;
  /** Change the response head before it is written (reverse order; also for local replies). Synchronous. */
  onResponse?(ctx: PolicyContext, head: ResponseHead): void;
  /** Once the exchange is over (finished, closed or failed), exactly once, even when another hook threw. */
  onDone?(ctx: PolicyContext): void;
}

/** A compiled chain: hooks that have each member, request hooks in order, response hooks already reversed. */
export interface HookLists {
  readonly request: readonly PolicyHooks[];
  /** In the order they run: last policy first. */
  readonly response: readonly PolicyHooks[];
  readonly done: readonly PolicyHooks[];
  /** Per hook in `request`: its async time budget, ms (0: none). */
  readonly timeouts: readonly number[];
}

export const NO_HOOKS: HookLists = Object.freeze({ request: [], response: [], done: [], timeouts: [] });

/** Order hooks for a chain (definitions already sorted by phase and order) and precompute what the runner needs. */
export function hookLists(hooks: readonly PolicyHooks[], timeouts: readonly number[]): HookLists {
  const request: PolicyHooks[] = [];
  const budgets: number[] = [];
  hooks.forEach((h, i) => {
    if (h.onRequest) {
      request.push(h);
      budgets.push(timeouts[i] ?? 0);
    }
  });
  return {
    request,
    response: hooks.filter((h) => h.onResponse).reverse(),
    done: hooks.filter((h) => h.onDone),
    timeouts: budgets,
  };
}


/** Gateway events built-in policies report; the metrics module implements them. */
export interface GatewayMetrics {
  /** The rate-limit store failed or timed out (the request was decided by onStoreError). */
  rateLimitStoreError(): void;
  /** A JWKS fetch failed (the last good key set keeps serving). */
  jwksFetchError(issuer: string): void;
}

export const NO_METRICS: GatewayMetrics = { rateLimitStoreError() {}, jwksFetchError() {} };

/** What the gateway lends policies. Nothing here is module-level: each gateway has its own. */
export interface PolicyServices {
  readonly logger: Logger;
  readonly metrics: GatewayMetrics;
  /**
   * The gateway's prom-client registry (exposed on /metrics when metrics are on). Register once per
   * gateway: `registry.getSingleMetric(name) ?? new Counter({ name, help, registers: [registry] })`.
   */
  readonly registry: Registry;
  /** The environment the config was read with (for secrets and files). */
  readonly env: Readonly<Record<string, string | undefined>>;
  /** The config file's directory, for resolving relative paths ('' in library mode with an object). */
  readonly configDir: string;
}

/** What create() is given besides the policy's own config. */
export interface CreateServices<Shared = unknown> extends PolicyServices {
  /** The route being compiled; undefined for a `pre-route` policy. */
  readonly route: RouteInfo | undefined;
  /** What setup() returned for this snapshot. */
  readonly shared: Shared;
}

/** Problems found in config, each with its field path (`routes[2].cors.origins`). */
export interface Problems {
  add(path: string, msg: string): void;
  warn(path: string, msg: string): void;
  readonly list: string[];
  readonly warnings: string[];
}

/** The config a policy validates and sets up from: its own fields, the routes that use them, the whole document. */
export interface PolicyConfigView<RouteCfg = unknown, GlobalCfg = unknown> {
  /** The top-level field (`globalField`), if the policy has one and it is set. */
  readonly global: GlobalCfg | undefined;
  /** `defaults.<field>`. */
  readonly defaults: RouteCfg | undefined;
  /** Every route with its `<field>` (defaults merged in), `at` being its field path (`routes[3]`). */
  readonly routes: readonly { readonly at: string; readonly name: string; readonly config: RouteCfg | undefined }[];
  /** The whole validated config, read-only. */
  readonly document: Readonly<Record<string, unknown>>;
}

/** Gateway-wide observers (access log, metrics): told once about every request, matched or not. */
export interface RequestObserver {
  onDone(ctx: PolicyContext): void;
}

export interface PolicyDefinition<RouteCfg = unknown, Shared = unknown, GlobalCfg = unknown> {
  /** Unique name: in logs, `/routes`, `gateway explain`, and the default config field name. */
  readonly name: string;
  readonly phase: Phase;
  /** Order within the phase, small numbers first. */
  readonly order: number;
  /** Route-level config field (default: name), also accepted in `defaults`; top-level for a `pre-route` policy. */
  readonly field?: string;
  /** Schema of that field's value: validated with field paths, shown in `gateway schema` and the docs. */
  readonly config?: TSchema;
  /** Top-level field for settings every route shares (default: field). */
  readonly globalField?: string;
  readonly global?: TSchema;
  /** Time an async request hook may take before the request fails with 500 GW_ERR_POLICY_FAILED, ms (0: none). Default 5000. */
  readonly timeout?: number;
  /** Cross-field checks at load time; report problems with their field path. */
  validate?(view: PolicyConfigView<RouteCfg, GlobalCfg>, problems: Problems): void;
  /**
   * Build what all routes share (keys, stores, clients) once per snapshot. `previous` is the state of
   * the snapshot being replaced, so a reload can keep what did not change.
   */
  setup?(view: PolicyConfigView<RouteCfg, GlobalCfg>, services: PolicyServices, previous: Shared | undefined): Shared | Promise<Shared>;
  /** Header names (lower-case) removed from every client request before any policy runs. */
  strippedRequestHeaders?(shared: Shared): readonly string[];
  /**
   * Hooks for one route (or, for `pre-route`, for the gateway), or undefined when the policy does not
   * apply. Called only when the route (or the top level, for `pre-route`) sets the policy's field, or
   * always when the policy has no `config` schema.
   */
  create(config: RouteCfg, services: CreateServices<Shared>): PolicyHooks | undefined;
  /** Release what setup made, when a snapshot is retired and the next did not take it over. */
  dispose?(shared: Shared, next: Shared | undefined): void | Promise<void>;
}

/** A policy whose config types are erased (the form registries hold). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- each policy has its own config and shared types
export type AnyPolicy = PolicyDefinition<any, any, any>;

/**
 * Define a policy: the identity function, for the types. With a TypeBox `config` schema, create()'s
 * config argument is typed from it (`Static<typeof schema>`).
 */
export function definePolicy<C extends TSchema, Shared = undefined>(
  def: Omit<PolicyDefinition<Static<C>, Shared, unknown>, 'config'> & { readonly config: C },
): PolicyDefinition<Static<C>, Shared, unknown>;
export function definePolicy<RouteCfg = unknown, Shared = unknown, GlobalCfg = unknown>(
  def: PolicyDefinition<RouteCfg, Shared, GlobalCfg>,
): PolicyDefinition<RouteCfg, Shared, GlobalCfg>;
export function definePolicy(def: AnyPolicy): AnyPolicy {
  return def;
}

export const DEFAULT_POLICY_TIMEOUT_MS = 5000;

/** The config field a policy reads on routes (and top level, for pre-route). */
export function policyField(def: Pick<PolicyDefinition, 'name' | 'field'>): string {
  return def.field ?? def.name;
}

export function policyGlobalField(def: Pick<PolicyDefinition, 'name' | 'field' | 'globalField'>): string {
  return def.globalField ?? def.field ?? def.name;
}
