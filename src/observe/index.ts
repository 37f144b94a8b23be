/**
 * The observability extension: access log, Prometheus metrics and trace context, built once per
 * gateway from its config. What is switched off is not in the request path at all: no observer
 * when both the access log and metrics are off, no tracer when tracing is off, and the OpenTelemetry
 * SDK is imported only when `tracing.otlp` is set.
 */
import type { ExtensionFactory, GatewayExtension } from '../gateway.js';
import type { RequestContext } from '../pipeline/context.js';
import type { RequestObserver } from '../pipeline/policy.js';
import { createAccessLog, type AccessLog } from './access-log/access-log.js';
import { createMetricsHandler } from './metrics/handler.js';
import { GatewayMetricsRecorder } from './metrics/metrics.js';
import { createPropagator, type RequestTracer } from './tracing/tracer.js';

/** One observer for all three, so the end time is read once per request. */
function observer(log: AccessLog | undefined, metrics: GatewayMetricsRecorder | undefined, tracer: RequestTracer | undefined): RequestObserver {
  const endSpan = tracer?.end?.bind(tracer);
  return {
    onDone(ctx: RequestContext) {
      const end = performance.now();
      if (metrics !== undefined) metrics.record(ctx, end);
      if (log !== undefined) log.write(ctx, end);
      if (endSpan !== undefined) endSpan(ctx, end);
    },
  };
}

export const createObservability: ExtensionFactory = async (config, { logger }) => {
  const metrics = config.metrics.enabled ? new GatewayMetricsRecorder(config.metrics) : undefined;
  const log = config.logging.accessLog ? createAccessLog(logger, { sample: config.logging.sample }) : undefined;
  const tracing = config.tracing;
  let tracer: RequestTracer | undefined;
  if (tracing.enabled) {
    if (tracing.otlp !== undefined) {
      const { createOtlpTracer } = await import('./tracing/otlp.js');
      tracer = await createOtlpTracer(tracing, tracing.otlp);
      logger.info({ event: 'tracing.otlp', endpoint: tracing.otlp.endpoint }, 'exporting spans over OTLP/HTTP');
    } else tracer = createPropagator(tracing);
  }
  const ext: GatewayExtension = {
    tracer,
    async close() {
      await tracer?.close?.();
    },
  };
  if (metrics !== undefined || log !== undefined || tracer?.end !== undefined) ext.observers = [observer(log, metrics, tracer)];
  if (metrics !== undefined) {
    ext.metrics = metrics;
    ext.metricsHandler = createMetricsHandler(metrics.registry);
    ext.bind = (gateway) => metrics.bindInFlight(gateway);
    ext.onUpstreamError = (ctx, target, kind) => metrics.upstreamError(ctx.upstreamName, target.origin, kind);
  }
  return ext;
};
