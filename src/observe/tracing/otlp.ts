/**
 * Optional OpenTelemetry export: one SERVER span per request, sent over OTLP/HTTP by the
 * @opentelemetry SDK's batch processor. Loaded with import() only when `tracing.otlp` is set, so a
 * gateway without it loads none of the SDK and pays nothing per request.
 *
 * With a valid incoming traceparent the span is a child of the caller's span and its id becomes the
 * parent-id sent upstream; the caller's sampled flag decides (parent-based sampling). A trace the
 * gateway starts is sampled by `tracing.sampled`.
 */
import type { Span } from '@opentelemetry/api';
import { importOptional } from '../../config/optional-packages.js';
import type { RequestContext } from '../../pipeline/context.js';
import { parseDuration } from '../../util/units.js';
import type { TracingConfig } from '../schema.js';
import { formatTraceparent, takeTraceHeaders } from './trace-context.js';
import type { RequestTracer } from './tracer.js';

type OtlpConfig = NonNullable<TracingConfig['otlp']>;

export async function createOtlpTracer(cfg: TracingConfig, otlp: OtlpConfig): Promise<RequestTracer> {
  // Optional peer dependencies: validation names them when missing; this covers library use without it.
  const [api, sdk, resources, exporter] = await Promise.all([
    importOptional('@opentelemetry/api', 'tracing.otlp', () => import('@opentelemetry/api')),
    importOptional('@opentelemetry/sdk-trace-base', 'tracing.otlp', () => import('@opentelemetry/sdk-trace-base')),
    importOptional('@opentelemetry/resources', 'tracing.otlp', () => import('@opentelemetry/resources')),
    importOptional('@opentelemetry/exporter-trace-otlp-http', 'tracing.otlp', () => import('@opentelemetry/exporter-trace-otlp-http')),
  ]);
  const { trace, ROOT_CONTEXT, SpanKind, SpanStatusCode, TraceFlags } = api;
  const provider = new sdk.BasicTracerProvider({
    resource: resources.resourceFromAttributes({ 'service.name': otlp.serviceName }),
    sampler: new sdk.ParentBasedSampler({ root: cfg.sampled ? new sdk.AlwaysOnSampler() : new sdk.AlwaysOffSampler() }),
    spanProcessors: [
      new sdk.BatchSpanProcessor(
        new exporter.OTLPTraceExporter({ url: otlp.endpoint, headers: { ...otlp.headers }, timeoutMillis: parseDuration(otlp.timeout) ?? 10_000 }),
      ),
    ],
  });
  // Not registered globally: the provider belongs to this gateway (no module-level state).
  const tracer = provider.getTracer('gatewayd');
  const spans = new WeakMap<RequestContext, Span>();
  const origin = performance.timeOrigin;

  return {
    begin(ctx, headers) {
      const t = takeTraceHeaders(headers);
      const p = t.parent;
      const parent =
        p === undefined
          ? ROOT_CONTEXT
          : trace.setSpanContext(ROOT_CONTEXT, {
              traceId: p.traceId,
              spanId: p.parentId,
              traceFlags: parseInt(p.flags, 16) & TraceFlags.SAMPLED,
              isRemote: true,
            });
      const span = tracer.startSpan(ctx.method, { kind: SpanKind.SERVER, startTime: origin + ctx.start }, parent);
      const sc = span.spanContext();
      ctx.traceId = sc.traceId;
      ctx.spanId = sc.spanId;
      ctx.parentSpanId = p?.parentId ?? '';
      spans.set(ctx, span);
      headers.push('traceparent', formatTraceparent(sc.traceId, sc.spanId, sc.traceFlags & TraceFlags.SAMPLED ? '01' : '00'));
      if (t.tracestate !== '') headers.push('tracestate', t.tracestate);
    },

    end(ctx, end) {
      const span = spans.get(ctx);
      if (span === undefined) return;
      spans.delete(ctx);
      if (!span.isRecording()) return span.end();
      const route = ctx.route?.name;
      if (route !== undefined) span.updateName(`${ctx.method} ${route}`);
      span.setAttributes({
        'http.request.method': ctx.method,
        'url.path': ctx.path,
        'http.response.status_code': ctx.status,
        'client.address': ctx.clientIp,
        'gateway.request_id': ctx.requestId,
      });
      if (route !== undefined) span.setAttribute('gateway.route', route);
      if (ctx.upstreamName !== '') span.setAttribute('gateway.upstream', ctx.upstreamName);
      if (ctx.target !== undefined) span.setAttribute('server.address', ctx.target.origin);
      if (ctx.errorCode !== undefined) span.setAttribute('error.type', ctx.errorCode);
      if (ctx.principal?.subject !== undefined) span.setAttribute('enduser.id', ctx.principal.subject);
      // OTel HTTP semconv: a server span is an error for 5xx only.
      if (ctx.status >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
      span.end(origin + end);
    },

    async close() {
      await provider.shutdown();
    },
  };
}
