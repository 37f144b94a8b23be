/**
 * The access log: one pino line per request, `event: "access"`, at level info, in the framing of the
 * gateway's pino logger (level, time, pid) and through its asynchronous destination. No child
 * logger and no header object per request; the line is serialised by a writer that knows the
 * fields' types (see pinoFramedWriter for why, and when it falls back to logger.info).
 *
 * What is never written: request or response headers other than User-Agent (so Authorization,
 * cookies, API keys and every configured sensitive header cannot leak), the query string (it may
 * carry tokens: ?access_token=…), bodies and token claims other than `sub`.
 */
import pino, { type Logger } from 'pino';
import type { RequestContext } from '../../pipeline/context.js';
import { jsonMs, jsonNumber, jsonString, jsonStringOrNull } from './json.js';

/** Longer User-Agent values are cut: a log line's size must not be the client's choice. */
const MAX_USER_AGENT = 256;

export interface AccessLogOptions {
  /** Share of successful requests logged, 0..1. */
  readonly sample: number;
  /** Math.random, replaceable in tests. */
  readonly random?: () => number;
}

/** The User-Agent the request scan found, capped; null when the client sent none. */
function userAgent(ctx: RequestContext): string | null {
  const v = ctx.userAgent;
  if (v === '') return null;
  return v.length > MAX_USER_AGENT ? v.slice(0, MAX_USER_AGENT) : v;
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
    userAgent: userAgent(ctx),
    consumer: ctx.principal?.subject ?? null,
    rateLimited: ctx.rateLimited,
    errorCode: ctx.errorCode ?? null,
  };
}

/**
 * The record's fields as a JSON fragment (`,"event":"access",…`): the same keys, order and values as
 * accessRecord (a test holds the two together), read straight from the context.
 */
export function accessFields(ctx: RequestContext, end: number): string {
  const target = ctx.target;
  const route = ctx.route;
  // Quoted without an escaping scan: these are ids the gateway made or validated (request id, trace
  // id), a method Node's parser accepted, names the config schema restricts (route, upstream), a URL
  // origin, an IP address and an error code. Path, User-Agent and consumer come from the client: escaped.
  return (
    ',"event":"access","requestId":"' + ctx.requestId +
    '","traceId":' + (ctx.traceId === '' ? 'null' : '"' + ctx.traceId + '"') +
    ',"method":"' + ctx.method +
    '","path":' + (ctx.path === '' ? 'null' : jsonString(ctx.path)) +
    ',"route":' + (route === undefined ? 'null' : '"' + route.name + '"') +
    ',"status":' + jsonNumber(ctx.status) +
    ',"durationMs":' + jsonMs(end - ctx.start) +
    ',"upstream":' + (ctx.upstreamName === '' ? 'null' : '"' + ctx.upstreamName + '"') +
    ',"target":' + (target === undefined ? 'null' : '"' + target.origin + '"') +
    ',"upstreamDurationMs":' + (ctx.upstreamStart > 0 && ctx.upstreamEnd > 0 ? jsonMs(ctx.upstreamEnd - ctx.upstreamStart) : 'null') +
    ',"bytesIn":' + jsonNumber(ctx.bytesIn) +
    ',"bytesOut":' + jsonNumber(ctx.bytesOut) +
    ',"clientIp":"' + ctx.clientIp +
    '","userAgent":' + jsonStringOrNull(userAgent(ctx)) +
    ',"consumer":' + jsonStringOrNull(ctx.principal?.subject) +
    ',"rateLimited":' + (ctx.rateLimited ? 'true' : 'false') +
    ',"errorCode":' + (ctx.errorCode === undefined ? 'null' : '"' + ctx.errorCode + '"')
  );
}

const S = pino.symbols;
/** Present at run time (pino 8+), missing from pino's typings. */
const msgPrefixSym = (pino.symbols as unknown as Record<string, symbol>)['msgPrefixSym'];
type PinoInternals = Record<symbol, unknown> & Logger;
interface LineStream {
  write(line: string): unknown;
}
interface FramedWriter {
  write(fields: string): void;
  /** Hand what is batched to the destination now. */
  flush(): void;
}

/**
 * Write a pre-serialised line the way pino frames it for this logger: its level string, its time
 * function, its bindings (pid …) and its line end, to its destination (async sonic-boom, or the
 * pino-pretty transport). pino's generic serialiser costs ~2-3x this (measured: ~4 µs vs ~1.5 µs per
 * access line on the benchmark machine, against a ~44 µs request), and lines are batched per
 * event-loop turn (one destination write per turn, not per request). Undefined when the logger has
 * anything that must see each call (hooks, mixin, formatters.log, msgPrefix, a multistream that
 * routes by level): then the access log goes through logger.info().
 */
function pinoFramedWriter(logger: Logger): FramedWriter | undefined {
  const l = logger as PinoInternals;
  const stream = l[S.streamSym] as (LineStream & Record<symbol, unknown>) | undefined;
  const level = (l[S.lsCacheSym] as Record<number, string> | undefined)?.[logger.levels.values['info']!];
  const time = l[S.timeSym] as (() => string) | undefined;
  const endOfLine = l[S.endSym];
  const hooks = l[S.hooksSym] as { logMethod?: unknown; streamWrite?: unknown } | undefined;
  const formatters = l[S.formattersSym] as { log?: unknown } | undefined;
  if (stream === undefined || typeof stream.write !== 'function' || stream[S.needsMetadataGsym]) return undefined;
  if (typeof level !== 'string' || typeof time !== 'function' || typeof endOfLine !== 'string') return undefined;
  if (l[S.mixinSym] || formatters?.log || hooks?.logMethod || hooks?.streamWrite || (msgPrefixSym !== undefined && l[msgPrefixSym])) return undefined;
  // Lines of one event-loop turn go out in one write: sonic-boom measures the byte length of its
  // whole pending buffer on every write() call, which grows with the number of lines per batch.
  let pending = '';
  let scheduled = false;
  // pino's epoch time renders Date.now() per line; several lines share a millisecond under load.
  const epoch = time === pino.stdTimeFunctions.epochTime;
  let lastMs = 0;
  let lastTime = '';
  const stamp = (): string => {
    if (!epoch) return time();
    const now = Date.now();
    if (now !== lastMs) {
      lastMs = now;
      lastTime = `,"time":${now}`;
    }
    return lastTime;
  };
  const flush = (): void => {
    scheduled = false;
    if (pending === '') return;
    const out = pending;
    pending = '';
    stream.write(out);
  };
  return {
    write(fields) {
      pending += level + stamp() + (l[S.chindingsSym] as string) + fields + endOfLine;
      if (!scheduled) {
        scheduled = true;
        setImmediate(flush);
      }
    },
    flush,
  };
}

export interface AccessLog {
  write(ctx: RequestContext, end: number): void;
  /** Hand batched lines to the logger's destination (before the logger itself is flushed). */
  flush(): void;
}

export function createAccessLog(logger: Logger, opts: AccessLogOptions): AccessLog {
  const sample = opts.sample;
  const random = opts.random ?? Math.random;
  const framed = pinoFramedWriter(logger);
  if (framed === undefined) {
    return {
      write(ctx, end) {
        if (shouldLog(ctx, sample, random)) logger.info(accessRecord(ctx, end));
      },
      flush() {},
    };
  }
  return {
    write(ctx, end) {
      // The level is read per line: it can be changed at run time (logger.level = 'warn').
      if (shouldLog(ctx, sample, random) && logger.isLevelEnabled('info')) framed.write(accessFields(ctx, end));
    },
    flush: framed.flush,
  };
}
