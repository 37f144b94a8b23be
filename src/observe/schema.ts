/**
 * Config of the observability extension: the top-level `metrics` and `tracing` blocks. `logging`
 * stays in src/config/schema.ts beside the other core blocks.
 */
import { Type, type Static } from '@sinclair/typebox';
import { Duration, Strict } from '../config/types.js';

/** Seconds. From 1 ms (a cached reply) to 10 s (past most response timeouts). */
export const DEFAULT_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export const MetricsSchema = Strict(
  {
    enabled: Type.Boolean({ default: true, description: 'Count requests and serve Prometheus metrics at /metrics on the admin listener. Off costs nothing per request.' }),
    processMetrics: Type.Boolean({ default: true, description: 'Also export the default Node.js process metrics (CPU, memory, event loop lag, GC).' }),
    buckets: Type.Array(Type.Number({ exclusiveMinimum: 0 }), {
      minItems: 1,
      maxItems: 40,
      default: DEFAULT_BUCKETS,
      description: 'Upper bounds (seconds, ascending) of the request and upstream latency histograms.',
    }),
  },
  { default: {}, description: 'Prometheus metrics (prom-client), one registry per gateway.' },
);

export const TracingSchema = Strict(
  {
    enabled: Type.Boolean({
      default: true,
      description: 'Read W3C traceparent/tracestate, start a trace when there is none, send it upstream and log the trace id.',
    }),
    sampled: Type.Boolean({ default: true, description: 'Sampled flag (01) on traces the gateway starts itself; false sends 00.' }),
    otlp: Type.Optional(
      Strict(
        {
          endpoint: Type.String({ format: 'http-url', description: 'OTLP/HTTP traces endpoint, e.g. http://127.0.0.1:4318/v1/traces.' }),
          serviceName: Type.String({ default: 'gatewayd', description: 'service.name of the exported spans.' }),
          headers: Type.Record(Type.String(), Type.String({ writeOnly: true }), { default: {}, description: 'Extra headers on export requests (an API key …); values are secret, never shown in errors.' }),
          timeout: Duration('Timeout of one export request.', '10s'),
        },
        { description: 'Export one span per request over OTLP/HTTP (JSON). Off when absent: nothing is loaded. Needs the optional OpenTelemetry packages (see docs/observability.md).' },
      ),
    ),
  },
  { default: {}, description: 'W3C Trace Context propagation and optional OpenTelemetry export.' },
);

export type MetricsConfig = Static<typeof MetricsSchema>;
export type TracingConfig = Static<typeof TracingSchema>;
