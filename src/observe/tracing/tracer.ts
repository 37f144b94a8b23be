/** The per-gateway request tracer: called by the request entry before anything can refuse the request. */
import type { RequestContext } from '../../pipeline/context.js';
import type { TracingConfig } from '../schema.js';
import { formatTraceparent, RandomIds, takeTraceHeaders } from './trace-context.js';

export interface RequestTracer {
  /**
   * Set ctx.traceId (and ctx.parentSpanId, ctx.spanId when spans are recorded) and replace the
   * client's traceparent and tracestate in the upstream header list with what the gateway sends.
   */
  begin(ctx: RequestContext, upstreamHeaders: string[]): void;
  /** After the response finished or the client left (ends the span, when spans are recorded). */
  end?(ctx: RequestContext, end: number): void;
  close?(): Promise<void>;
}

/** Propagation only: no span is recorded, a valid traceparent passes through unchanged. */
export function createPropagator(cfg: TracingConfig): RequestTracer {
  const ids = new RandomIds();
  const flags = cfg.sampled ? '01' : '00';
  const tail = '-' + flags;
  return {
    // propagate() inlined: the same decision without a decision object per request, and the usual
    // case (no incoming trace) takes no object at all (takeTraceHeaders answers a shared constant).
    begin(ctx, headers) {
      const t = takeTraceHeaders(headers);
      const p = t.parent;
      if (p === undefined) {
        const traceId = ids.traceId();
        ctx.traceId = traceId;
        ctx.parentSpanId = '';
        headers.push('traceparent', '00-' + traceId + '-' + ids.spanId() + tail);
        return;
      }
      ctx.traceId = p.traceId;
      ctx.parentSpanId = p.parentId;
      headers.push('traceparent', t.raw ?? formatTraceparent(p.traceId, p.parentId, p.flags));
      if (t.tracestate !== '') headers.push('tracestate', t.tracestate);
    },
  };
}
