/**
 * The gateway's Prometheus metrics. Names and labels are a public contract (README, dashboard):
 * never rename one. Labels are bounded: route names from the config (unmatched requests under
 * route=""), methods (Node's parser accepts a fixed list), status codes, upstream and target names
 * from the config, and the error kinds and auth failure reasons the code defines.
 */
import { collectDefaultMetrics, Registry } from 'prom-client';
import type { RequestContext } from '../../pipeline/context.js';
import type { GatewayMetrics } from '../../pipeline/policy.js';
import type { UpstreamErrorKind } from '../../proxy/errors.js';
import type { MetricsConfig } from '../schema.js';
import { CollectedMetric, Histo, type Sample } from './series.js';

/** At most this many distinct auth failure reasons per route; more count as "other" (labels stay bounded). */
const MAX_REASONS = 32;

class MethodSeries {
  /** Requests by status code. */
  readonly statuses = new Map<number, number>();
  readonly duration: Histo;
  constructor(bounds: readonly number[]) {
    this.duration = new Histo(bounds);
  }
}

class RouteSeries {
  readonly methods = new Map<string, MethodSeries>();
  rateLimited = 0;
  readonly authFailures = new Map<string, number>();
}

class TargetSeries {
  readonly duration: Histo;
  readonly errors = new Map<UpstreamErrorKind, number>();
  constructor(bounds: readonly number[]) {
    this.duration = new Histo(bounds);
  }
}

/** What the gauges read of the running gateway. */
export interface InFlightSource {
  readonly requestsInFlight: number;
  /** The snapshot in force: its upstreams' targets for gateway_upstream_target_healthy. */
  readonly snapshot?: { readonly upstreams: ReadonlyMap<string, { readonly targets: readonly { readonly origin: string; readonly available: boolean; readonly health: { readonly healthy: boolean; readonly outlier: string } }[] }> };
  readonly connectionsDropped?: number;
}

export class GatewayMetricsRecorder implements GatewayMetrics {
  readonly registry = new Registry();
  private readonly routes = new Map<string, RouteSeries>();
  /** upstream name → target origin → series. */
  private readonly upstreams = new Map<string, Map<string, TargetSeries>>();
  private readonly jwksErrors = new Map<string, number>();
  private storeErrors = 0;
  private readonly reloads = { success: 0, failure: 0 };
  /** The initial load counts as a successful one (as Prometheus' own config_last_reload_success_timestamp). */
  private lastReloadSuccess = Date.now() / 1000;
  private inFlight: InFlightSource | undefined;
  private readonly bounds: readonly number[];

  constructor(cfg: MetricsConfig) {
    this.bounds = [...cfg.buckets].sort((a, b) => a - b);
    if (cfg.processMetrics) {
      collectDefaultMetrics({ register: this.registry });
      // Gauges named *_total break the naming rules (promtool check metrics fails on them); the
      // per-type gauges nodejs_active_handles{type} … carry the same numbers.
      for (const name of ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total']) {
        this.registry.removeSingleMetric(name);
      }
    }
    for (const m of this.instruments()) m.register(this.registry);
  }

  bindInFlight(source: InFlightSource): void {
    this.inFlight = source;
  }

  /** The request path: called once per request, after the response finished or the client left. */
  record(ctx: RequestContext, end: number): void {
    const routeName = ctx.route !== undefined ? ctx.route.name : '';
    let route = this.routes.get(routeName);
    if (route === undefined) this.routes.set(routeName, (route = new RouteSeries()));
    let method = route.methods.get(ctx.method);
    if (method === undefined) route.methods.set(ctx.method, (method = new MethodSeries(this.bounds)));
    const statuses = method.statuses;
    statuses.set(ctx.status, (statuses.get(ctx.status) ?? 0) + 1);
    method.duration.observe((end - ctx.start) / 1000);
    if (ctx.rateLimited) route.rateLimited++;
    if (ctx.authFailure !== undefined) {
      const f = route.authFailures;
      const reason = f.has(ctx.authFailure) || f.size < MAX_REASONS ? ctx.authFailure : 'other';
      f.set(reason, (f.get(reason) ?? 0) + 1);
    }
    const target = ctx.target;
    if (target !== undefined && ctx.upstreamEnd > 0) {
      this.target(ctx.upstreamName, target.origin).duration.observe((ctx.upstreamEnd - ctx.upstreamStart) / 1000);
    }
  }

  upstreamError(upstream: string, target: string, kind: UpstreamErrorKind): void {
    const errors = this.target(upstream, target).errors;
    errors.set(kind, (errors.get(kind) ?? 0) + 1);
  }

  configReloaded(ok: boolean): void {
    if (ok) {
      this.reloads.success++;
      this.lastReloadSuccess = Date.now() / 1000;
    } else this.reloads.failure++;
  }

  rateLimitStoreError(): void {
    this.storeErrors++;
  }

  jwksFetchError(issuer: string): void {
    this.jwksErrors.set(issuer, (this.jwksErrors.get(issuer) ?? 0) + 1);
  }

  private target(upstream: string, origin: string): TargetSeries {
    let targets = this.upstreams.get(upstream);
    if (targets === undefined) this.upstreams.set(upstream, (targets = new Map()));
    let series = targets.get(origin);
    if (series === undefined) targets.set(origin, (series = new TargetSeries(this.bounds)));
    return series;
  }

  private instruments(): CollectedMetric[] {
    const perRoute = (fn: (name: string, route: RouteSeries, out: Sample[]) => void) => (): Sample[] => {
      const out: Sample[] = [];
      for (const [name, route] of this.routes) fn(name, route, out);
      return out;
    };
    const perTarget = (fn: (upstream: string, target: string, series: TargetSeries, out: Sample[]) => void) => (): Sample[] => {
      const out: Sample[] = [];
      for (const [upstream, targets] of this.upstreams) for (const [target, series] of targets) fn(upstream, target, series, out);
      return out;
    };
    return [
      new CollectedMetric('gateway_http_requests_total', 'Requests answered, by route name ("" when no route matched), method and status (499: the client closed first).', 'counter',
        perRoute((route, r, out) => {
          for (const [method, m] of r.methods) for (const [status, n] of m.statuses) out.push({ value: n, labels: { route, method, status: String(status) } });
        }),
      ),
      new CollectedMetric('gateway_http_request_duration_seconds', 'Time from the request arriving to the response finishing, by route and method.', 'histogram',
        perRoute((route, r, out) => {
          for (const [method, m] of r.methods) m.duration.samples('gateway_http_request_duration_seconds', { route, method }, out);
        }),
      ),
      new CollectedMetric('gateway_upstream_request_duration_seconds', 'Time from sending a request to a target until its response ended or failed, by upstream and target.', 'histogram',
        perTarget((upstream, target, s, out) => s.duration.samples('gateway_upstream_request_duration_seconds', { upstream, target }, out)),
      ),
      new CollectedMetric('gateway_upstream_errors_total', 'Failed requests to a target, by upstream, target and kind (refused, timeout, reset, protocol, other).', 'counter',
        perTarget((upstream, target, s, out) => {
          for (const [kind, n] of s.errors) out.push({ value: n, labels: { upstream, target, kind } });
        }),
      ),
      new CollectedMetric('gateway_http_requests_in_flight', 'Requests being handled now.', 'gauge', () => [
        { value: this.inFlight?.requestsInFlight ?? 0, labels: {} },
      ]),
      new CollectedMetric('gateway_auth_failures_total', 'Requests refused by authentication, by route and reason.', 'counter',
        perRoute((route, r, out) => {
          for (const [reason, n] of r.authFailures) out.push({ value: n, labels: { route, reason } });
        }),
      ),
      new CollectedMetric('gateway_rate_limited_total', 'Requests over a rate limit (refused, or counted only in shadow mode), by route.', 'counter',
        perRoute((route, r, out) => {
          if (r.rateLimited > 0) out.push({ value: r.rateLimited, labels: { route } });
        }),
      ),
      new CollectedMetric('gateway_rate_limit_store_errors_total', 'Rate-limit store failures and timeouts (the request was decided by onStoreError).', 'counter', () => [
        { value: this.storeErrors, labels: {} },
      ]),
      new CollectedMetric('gateway_config_reloads_total', 'Config reloads (SIGHUP, POST /reload, --watch), by result (success, failure: the previous config kept serving).', 'counter', () => [
        { value: this.reloads.success, labels: { result: 'success' } },
        { value: this.reloads.failure, labels: { result: 'failure' } },
      ]),
      new CollectedMetric('gateway_config_last_reload_success_timestamp_seconds', 'When the config in force was loaded (start or last successful reload), Unix seconds.', 'gauge', () => [
        { value: this.lastReloadSuccess, labels: {} },
      ], 'min'), // under --workers: the worker with the oldest config
      new CollectedMetric('gateway_upstream_target_healthy', 'Whether a target gets traffic: 1 when its active health checks pass (or there are none) and it is not ejected by outlier detection, else 0.', 'gauge', () => {
        const out: Sample[] = [];
        for (const [upstream, u] of this.inFlight?.snapshot?.upstreams ?? []) {
          for (const t of u.targets) out.push({ value: t.health.healthy && t.health.outlier !== 'ejected' ? 1 : 0, labels: { upstream, target: t.origin } });
        }
        return out;
      }, 'min'), // under --workers each worker probes on its own: healthy only if healthy in all
      new CollectedMetric('gateway_connections_dropped_total', 'Client connections closed at once because server.maxConnections were open.', 'counter', () => [
        { value: this.inFlight?.connectionsDropped ?? 0, labels: {} },
      ]),
      new CollectedMetric('gateway_jwks_fetch_errors_total', 'Failed JWKS fetches, by issuer (the last good key set keeps serving).', 'counter', () =>
        [...this.jwksErrors].map(([issuer, n]) => ({ value: n, labels: { issuer } })),
      ),
    ];
  }
}
