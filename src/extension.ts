/**
 * Extension points for gateway-wide features (metrics, access log, tracing): built once per gateway
 * from its config. Kept apart from gateway.ts so the features depend on this contract, not on the Gateway.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Registry } from 'prom-client';
import type { Config } from './config/schema.js';
import type { RequestContext } from './pipeline/context.js';
import type { GatewayMetrics, PolicyServices, RequestObserver } from './pipeline/contract.js';
import type { RequestTracer } from './observe/tracing/tracer.js';
import type { UpstreamErrorKind } from './proxy/errors.js';
import type { RetryReason } from './proxy/retry.js';
import type { Target } from './upstream/upstream.js';
import type { Snapshot } from './router/compile.js';

/** Extension points for gateway-wide features (metrics, access log): built per gateway. */
export interface GatewayExtension {
  observers?: readonly RequestObserver[];
  /** Instruments policies report to (the metrics module provides them). */
  metrics?: GatewayMetrics;
  metricsHandler?: (req: IncomingMessage, res: ServerResponse) => void;
  /** The registry /metrics serves, lent to policies for their own instruments. */
  registry?: Registry;
  onUpstreamError?(ctx: RequestContext, target: Target, kind: UpstreamErrorKind, err: Error): void;
  /** A failed try is tried again. */
  onRetry?(ctx: RequestContext, reason: RetryReason): void;
  /** A retry was refused by the upstream's retry budget. */
  onRetryBudgetExhausted?(ctx: RequestContext): void;
  /** Trace context: sets ctx.traceId and the upstream traceparent before anything can refuse a request. */
  tracer?: RequestTracer;
  /** Told the gateway once it exists (the in-flight gauge and the target-health gauge read it). */
  bind?(gateway: GatewayState): void;
  /** A reload finished (metrics: gateway_config_reloads_total …). */
  onReload?(ok: boolean): void;
  close?(): void | Promise<void>;
}

/** What extensions may read of a running gateway. */
export interface GatewayState {
  readonly requestsInFlight: number;
  readonly snapshot: Snapshot;
  /** Connections closed at once because server.maxConnections was reached. */
  readonly connectionsDropped: number;
}

/** Builds the gateway-wide extensions (issue-owned modules plug in here). */
export type ExtensionFactory = (
  config: Config,
  base: Pick<PolicyServices, 'logger' | 'env'>,
) => GatewayExtension | Promise<GatewayExtension>;

