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
import { LineDestination } from '../../logger.js';
import type { RequestContext } from '../../pipeline/context.js';
import { bytesOf, putBytes, putMs, putPlain, putUint } from './bytes.js';
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
    upstream: ctx.upstreamName || null,
    target: target !== undefined ? target.origin : null,
    status: ctx.status,
    durationMs: ms(end - ctx.start),
    upstreamDurationMs: ctx.upstreamStart > 0 && ctx.upstreamEnd > 0 ? ms(ctx.upstreamEnd - ctx.upstreamStart) : null,
    bytesIn: ctx.bytesIn,
    bytesOut: ctx.bytesOut,
    clientIp: ctx.clientIp,
    userAgent: userAgent(ctx),
    consumer: ctx.principal?.subject ?? null,
    rateLimited: ctx.rateLimited,
    errorCode: ctx.errorCode ?? null,
    clientCert: ctx.clientCert || null,
    attempts: ctx.attempts,
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
    ',"upstream":' + (ctx.upstreamName === '' ? 'null' : '"' + ctx.upstreamName + '"') +
    ',"target":' + (target === undefined ? 'null' : '"' + target.origin + '"') +
    ',"status":' + jsonNumber(ctx.status) +
    ',"durationMs":' + jsonMs(end - ctx.start) +
    ',"upstreamDurationMs":' + (ctx.upstreamStart > 0 && ctx.upstreamEnd > 0 ? jsonMs(ctx.upstreamEnd - ctx.upstreamStart) : 'null') +
    ',"bytesIn":' + jsonNumber(ctx.bytesIn) +
    ',"bytesOut":' + jsonNumber(ctx.bytesOut) +
    ',"clientIp":"' + ctx.clientIp +
    '","userAgent":' + jsonStringOrNull(userAgent(ctx)) +
    ',"consumer":' + jsonStringOrNull(ctx.principal?.subject) +
    ',"rateLimited":' + (ctx.rateLimited ? 'true' : 'false') +
    ',"errorCode":' + (ctx.errorCode === undefined ? 'null' : '"' + ctx.errorCode + '"') +
    ',"clientCert":' + (ctx.clientCert === '' ? 'null' : jsonString(ctx.clientCert)) +
    ',"attempts":' + jsonNumber(ctx.attempts)
  );
}

// The fixed parts of the line, in accessFields' order, encoded once.
const F = {
  requestId: bytesOf(',"event":"access","requestId":"'),
  traceId: bytesOf('","traceId":'),
  method: bytesOf(',"method":"'),
  path: bytesOf('","path":'),
  durationMs: bytesOf(',"durationMs":'),
  upstreamDurationMs: bytesOf(',"upstreamDurationMs":'),
  bytesIn: bytesOf(',"bytesIn":'),
  bytesOut: bytesOf(',"bytesOut":'),
  clientIp: bytesOf(',"clientIp":"'),
  userAgent: bytesOf('","userAgent":'),
  consumer: bytesOf(',"consumer":'),
  rateLimited: bytesOf(',"rateLimited":'),
  errorCode: bytesOf(',"errorCode":'),
  clientCert: bytesOf(',"clientCert":'),
  attempts: bytesOf(',"attempts":'),
  null: bytesOf('null'),
  true: bytesOf('true'),
  false: bytesOf('false'),
};
/** Room for the fixed parts and numbers of one line; string values add their length. */
const FIXED_MAX = Object.values(F).reduce((n, f) => n + f.length, 0) + 8 * 24;

/**
 * `,"route":…,"upstream":…,"target":…,"status":` of one route and target, encoded once: the three
 * values come from the config, so they are the same for every request of that pair. Keyed by the
 * route (NO_ROUTE when none matched), then by the target, or by NO_TARGET / NOT_FORWARDED when the
 * request got no target (the upstream is the route's, or none).
 */
const NO_ROUTE = {};
const NO_TARGET = {};
const NOT_FORWARDED = {};
const whereCache = new WeakMap<object, Map<object, Uint8Array>>();
// The last pair looked up: accessBytesMax and accessBytes ask for the same one, and consecutive
// requests mostly go the same way.
let lastRoute: object = NO_ROUTE;
let lastTarget: object = NO_ROUTE;
let lastBytes = bytesOf('');

function whereBytes(ctx: RequestContext): Uint8Array {
  const route = ctx.route;
  const target = ctx.target;
  const byRoute = route ?? NO_ROUTE;
  const byTarget = target ?? (ctx.upstreamName === '' ? NOT_FORWARDED : NO_TARGET);
  if (byRoute === lastRoute && byTarget === lastTarget) return lastBytes;
  let perRoute = whereCache.get(byRoute);
  if (perRoute === undefined) whereCache.set(byRoute, (perRoute = new Map()));
  let bytes = perRoute.get(byTarget);
  if (bytes === undefined) {
    const text =
      ',"route":' + jsonStringOrNull(route?.name) +
      ',"upstream":' + jsonStringOrNull(ctx.upstreamName === '' ? null : ctx.upstreamName) +
      ',"target":' + jsonStringOrNull(target?.origin) +
      ',"status":';
    perRoute.set(byTarget, (bytes = bytesOf(text)));
  }
  lastRoute = byRoute;
  lastTarget = byTarget;
  lastBytes = bytes;
  return bytes;
}

/** `"s"` when s needs no escaping, -1 otherwise. */
function putQuoted(b: Uint8Array, p: number, s: string): number {
  b[p] = 34;
  p = putPlain(b, p + 1, s);
  if (p < 0) return -1;
  b[p] = 34;
  return p + 1;
}

function putQuotedOrNull(b: Uint8Array, p: number, s: string | null | undefined): number {
  return s === null || s === undefined ? putBytes(b, p, F.null) : putQuoted(b, p, s);
}

/** Upper bound of accessBytes' output for this request (every character it copies is one byte). */
export function accessBytesMax(ctx: RequestContext): number {
  return (
    FIXED_MAX + ctx.requestId.length + ctx.traceId.length + ctx.method.length + ctx.path.length + whereBytes(ctx).length +
    ctx.clientIp.length + Math.min(ctx.userAgent.length, MAX_USER_AGENT) +
    (ctx.principal?.subject?.length ?? 0) + (ctx.errorCode?.length ?? 0) + ctx.clientCert.length
  );
}

/**
 * accessFields written as UTF-8 into `b` from `p` (see bytes.ts): the same bytes, or -1 when a
 * value needs escaping (the caller then writes accessFields). `b` must have accessBytesMax(ctx) bytes free.
 */
export function accessBytes(ctx: RequestContext, end: number, b: Uint8Array, p: number): number {
  p = putPlain(b, putBytes(b, p, F.requestId), ctx.requestId);
  if (p < 0) return -1;
  p = putBytes(b, p, F.traceId);
  p = ctx.traceId === '' ? putBytes(b, p, F.null) : putQuoted(b, p, ctx.traceId);
  if (p < 0) return -1;
  p = putPlain(b, putBytes(b, p, F.method), ctx.method);
  if (p < 0) return -1;
  p = putBytes(b, p, F.path);
  p = ctx.path === '' ? putBytes(b, p, F.null) : putQuoted(b, p, ctx.path);
  if (p < 0) return -1;
  p = putUint(b, putBytes(b, p, whereBytes(ctx)), ctx.status);
  p = putMs(b, putBytes(b, p, F.durationMs), end - ctx.start);
  p = putBytes(b, p, F.upstreamDurationMs);
  p = ctx.upstreamStart > 0 && ctx.upstreamEnd > 0 ? putMs(b, p, ctx.upstreamEnd - ctx.upstreamStart) : putBytes(b, p, F.null);
  p = putUint(b, putBytes(b, p, F.bytesIn), ctx.bytesIn);
  p = putUint(b, putBytes(b, p, F.bytesOut), ctx.bytesOut);
  p = putPlain(b, putBytes(b, p, F.clientIp), ctx.clientIp);
  if (p < 0) return -1;
  p = putQuotedOrNull(b, putBytes(b, p, F.userAgent), userAgent(ctx));
  if (p < 0) return -1;
  p = putQuotedOrNull(b, putBytes(b, p, F.consumer), ctx.principal?.subject);
  if (p < 0) return -1;
  p = putBytes(b, putBytes(b, p, F.rateLimited), ctx.rateLimited ? F.true : F.false);
  p = putQuotedOrNull(b, putBytes(b, p, F.errorCode), ctx.errorCode);
  if (p < 0) return -1;
  p = putQuotedOrNull(b, putBytes(b, p, F.clientCert), ctx.clientCert === '' ? null : ctx.clientCert);
  if (p < 0) return -1;
  return putUint(b, putBytes(b, p, F.attempts), ctx.attempts);
}

const S = pino.symbols;
/** Present at run time (pino 8+), missing from pino's typings. */
const msgPrefixSym = (pino.symbols as unknown as Record<string, symbol>)['msgPrefixSym'];
type PinoInternals = Record<symbol, unknown> & Logger;
interface LineStream {
  write(line: string): unknown;
}

/**
 * Write the access line the way pino frames it for this logger: its level string, its time
 * function, its bindings (pid …) and its line end, to its destination. pino's generic serialiser
 * costs ~2-3x a string built by accessFields (measured: ~4 µs vs ~1.5 µs per access line on the
 * benchmark machine, against a ~44 µs request), and a line encoded by accessBytes straight into the
 * gateway's LineDestination costs a fraction of that string (see bytes.ts).
 * Undefined when the logger has anything that must see each call (hooks, mixin, formatters.log,
 * msgPrefix, a multistream that routes by level): then the access log goes through logger.info().
 */
function pinoFramedWriter(logger: Logger): ((ctx: RequestContext, end: number) => void) | undefined {
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
  const asString = (ctx: RequestContext, end: number): void => {
    stream.write(level + stamp() + (l[S.chindingsSym] as string) + accessFields(ctx, end) + endOfLine);
  };
  if (!(stream instanceof LineDestination) || !epoch) return asString;

  const dest = stream;
  // The line's time is the request's end (a performance.now() reading the observer already took)
  // on the wall clock: the offset between the two clocks is read again every second, so the log
  // follows wall-clock adjustments (NTP) within a second, without a Date.now() call per line.
  let offset = Date.now() - performance.now();
  let offsetAt = performance.now();
  const wallClockMs = (at: number): number => {
    if (at - offsetAt > 1000) {
      offset = Date.now() - performance.now();
      offsetAt = at;
    }
    return Math.floor(at + offset);
  };
  const levelBytes = bytesOf(level);
  const timeBytes = bytesOf(',"time":');
  const eolBytes = bytesOf(endOfLine);
  // The bindings change only when someone calls logger.setBindings(): re-encoded then.
  let chindings = '';
  let chindingsBytes = bytesOf('');
  return (ctx, end) => {
    const ch = l[S.chindingsSym] as string;
    if (ch !== chindings) {
      chindings = ch;
      chindingsBytes = bytesOf(ch);
    }
    const max = levelBytes.length + timeBytes.length + 16 + chindingsBytes.length + accessBytesMax(ctx) + eolBytes.length;
    const b = dest.reserve(max);
    if (b === undefined) return asString(ctx, end);
    let p = putBytes(b, dest.offset, levelBytes);
    p = putUint(b, putBytes(b, p, timeBytes), wallClockMs(end));
    p = accessBytes(ctx, end, b, putBytes(b, p, chindingsBytes));
    if (p < 0) return asString(ctx, end); // a value that needs escaping: nothing was committed
    dest.commit(putBytes(b, p, eolBytes));
  };
}

export interface AccessLog {
  write(ctx: RequestContext, end: number): void;
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
    };
  }
  return {
    write(ctx, end) {
      // The level is read per line: it can be changed at run time (logger.level = 'warn').
      if (shouldLog(ctx, sample, random) && logger.isLevelEnabled('info')) framed(ctx, end);
    },
  };
}
