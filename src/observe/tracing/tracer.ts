/** The per-gateway request tracer: called by the request entry before anything can refuse the request. */
import type { RequestContext } from '../../pipeline/context.js';
import type { TracingConfig } from '../schema.js';
import { propagate, RandomIds } from './trace-context.js';

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
  return {
    begin(ctx, headers) {
      const d = propagate(headers, ids, flags);
      ctx.traceId = d.traceId;
      ctx.parentSpanId = d.parentId;
      headers.push('traceparent', d.traceparent);
      if (d.tracestate !== '') headers.push('tracestate', d.tracestate);
    },
  };
}
