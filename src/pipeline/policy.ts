/**
 * The Policy contract. A policy owns a piece of route config (and optionally top-level config),
 * is compiled once per snapshot, and returns hooks:
 * - onRequest runs in phase order and may answer locally by returning a GatewayError (401, 429 …);
 * - onResponse runs in reverse order on the response head, for upstream and local replies alike;
 * - onLog runs exactly once after the response finished, closed or failed.
 */
import type { TSchema } from '@sinclair/typebox';
import type { Logger } from 'pino';
import type { Config, RouteConfig } from '../config/schema.js';
import type { Problems } from '../config/validate.js';
import type { GatewayError } from '../errors.js';
import type { RequestContext } from './context.js';

export type Phase = 'pre-route' | 'auth' | 'admission' | 'transform' | 'observe';
export const PHASES: readonly Phase[] = ['pre-route', 'auth', 'admission', 'transform', 'observe'];

export type HookResult = GatewayError | undefined | void;

export interface RouteHooks {
  readonly policy: string;
  onRequest?(ctx: RequestContext): HookResult | Promise<HookResult>;
  /** Mutate the response headers before they are written. */
  onResponse?(ctx: RequestContext, headers: Record<string, string | string[] | number>): void;
  onLog?(ctx: RequestContext): void;
}

/**
 * Events policies report that are not visible on the request context (which observers read anyway).
 * The metrics module implements it; the default does nothing.
 */
export interface GatewayMetrics {
  /** The rate-limit store failed or timed out (the request was decided by onStoreError). */
  rateLimitStoreError(): void;
  /** A JWKS fetch failed (the last good key set keeps serving). */
  jwksFetchError(issuer: string): void;
}

export const NO_METRICS: GatewayMetrics = { rateLimitStoreError() {}, jwksFetchError() {} };

/** What the Gateway lends policies: nothing here is module-level. */
export interface GatewayServices {
  readonly logger: Logger;
  readonly metrics: GatewayMetrics;
  /** The environment config was read with (for policies that resolve files or secrets). */
  readonly env: Readonly<Record<string, string | undefined>>;
}

/** Gateway-wide observers (access log, metrics): told once about every request, matched or not. */
export interface RequestObserver {
  onDone(ctx: RequestContext): void;
}

export interface PolicyDefinition<Shared = unknown> {
  readonly name: string;
  readonly phase: Phase;
  /** Order within the phase, small numbers first. */
  readonly order: number;
  /** Route-level fields this policy owns (also accepted in `defaults`). */
  readonly routeFields?: Record<string, TSchema>;
  /** Top-level fields this policy owns. */
  readonly globalFields?: Record<string, TSchema>;
  /** Cross-field checks at load time; report problems with their field path. */
  validate?(config: Config, problems: Problems): void;
  /**
   * Build what all routes share (keys, stores, clients) once per snapshot. `previous` is the state of
   * the snapshot being replaced, so a reload can keep what did not change (a Redis connection …).
   */
  setup?(config: Config, services: GatewayServices, previous: Shared | undefined): Shared | Promise<Shared>;
  /** Header names (lower-case) removed from every client request before any route runs. */
  strippedRequestHeaders?(shared: Shared): readonly string[];
  /** Hooks for one route, or undefined when the policy does not apply to it. */
  create(route: RouteConfig, config: Config, shared: Shared): RouteHooks | undefined;
  /** Release what setup made, when a snapshot is retired and the next did not take it over. */
  dispose?(shared: Shared, next: Shared | undefined): void | Promise<void>;
}

/** Helper that keeps the Shared type parameter when listing policies. */
export function definePolicy<Shared>(def: PolicyDefinition<Shared>): PolicyDefinition<Shared> {
  return def;
}
