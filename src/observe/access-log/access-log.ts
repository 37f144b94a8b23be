/**
 * The access log: one pino line per request, `event: "access"`, written at level info with one
 * logger call and one plain object (no child logger, no header objects).
 *
 * What is never written: request or response headers other than User-Agent (so Authorization,
 * cookies, API keys and every configured sensitive header cannot leak), the query string (it may
 * carry tokens: ?access_token=…), bodies and token claims other than `sub`.
 */
import type { Logger } from 'pino';
import type { RequestContext } from '../../pipeline/context.js';

/** Longer User-Agent values are cut: a log line's size must not be the client's choice. */
const MAX_USER_AGENT = 256;

export interface AccessLogOptions {
  /** Share of successful requests logged, 0..1. */
  readonly sample: number;
  /** Math.random, replaceable in tests. */
  readonly random?: () => number;
}

/** The User-Agent from the raw header list, without building Node's header object. */
function userAgent(raw: readonly string[]): string | null {
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    if (name.length === 10 && (name === 'user-agent' || name === 'User-Agent' || name.toLowerCase() === 'user-agent')) {
      const v = raw[i + 1]!;
      return v.length > MAX_USER_AGENT ? v.slice(0, MAX_USER_AGENT) : v;
    }
  }
  return null;
}

/** Milliseconds rounded to the microsecond. */
function ms(x: number): number {
  return Math.round(x * 1000) / 1000;
}

/**
 * Whether a request is written: every response with status >= 400 (gateway refusals, upstream
 * failures, 499 client-closed) and every rate-limited or auth-failed request; successes by `sample`.
 */
export function shouldLog(ctx: RequestContext, sample: number, random: () => number): boolean {
  if (sample >= 1 || ctx.status >= 400 || ctx.rateLimited || ctx.authFailure !== undefined) return true;
  return sample > 0 && random() < sample;
}

/** The line's fields (pino adds time and level). Every key is always present; null when unknown. */
export function accessRecord(ctx: RequestContext, end: number) {
  const target = ctx.target;
  return {
    event: 'access',
    requestId: ctx.requestId,
    traceId: ctx.traceId || null,
    method: ctx.method,
    path: ctx.path || null,
    route: ctx.route !== undefined ? ctx.route.name : null,
    status: ctx.status,
    durationMs: ms(end - ctx.start),
    upstream: ctx.upstreamName || null,
    target: target !== undefined ? target.origin : null,
    upstreamDurationMs: ctx.upstreamStart > 0 && ctx.upstreamEnd > 0 ? ms(ctx.upstreamEnd - ctx.upstreamStart) : null,
    bytesIn: ctx.bytesIn,
    bytesOut: ctx.bytesOut,
    clientIp: ctx.clientIp,
    userAgent: userAgent(ctx.req.rawHeaders),
    consumer: ctx.principal?.subject ?? null,
    rateLimited: ctx.rateLimited,
    errorCode: ctx.errorCode ?? null,
  };
}

export interface AccessLog {
  write(ctx: RequestContext, end: number): void;
}

export function createAccessLog(logger: Logger, opts: AccessLogOptions): AccessLog {
  const sample = opts.sample;
  const random = opts.random ?? Math.random;
  return {
    write(ctx, end) {
      if (!shouldLog(ctx, sample, random)) return;
      logger.info(accessRecord(ctx, end));
    },
  };
}
