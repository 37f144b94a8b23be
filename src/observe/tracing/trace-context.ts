/**
 * W3C Trace Context (https://www.w3.org/TR/trace-context/): parse and validate `traceparent`, decide
 * what goes upstream, and make new ids. Pure functions plus one per-gateway random id source.
 *
 * The gateway does not record spans unless OTLP export is configured, so a valid incoming
 * traceparent is passed upstream unchanged (the backend's span is a child of the caller's); with
 * OTLP on, the gateway records a span and its span id replaces the parent-id (./otlp.ts).
 */
import { randomFillSync } from 'node:crypto';

export interface TraceParent {
  /** 32 lower-case hex digits, not all zero. */
  readonly traceId: string;
  /** 16 lower-case hex digits, not all zero. */
  readonly parentId: string;
  /** 2 lower-case hex digits. */
  readonly flags: string;
}

const ZERO_TRACE = '00000000000000000000000000000000';
const ZERO_SPAN = '0000000000000000';

/** Lower-case hex only: §3.2.2 forbids upper case in every field. */
function isLowerHex(s: string, from: number, to: number): boolean {
  for (let i = from; i < to; i++) {
    const c = s.charCodeAt(i);
    if (!((c >= 48 && c <= 57) || (c >= 97 && c <= 102))) return false;
  }
  return true;
}

/**
 * Parse one traceparent value; undefined when it is not valid. Version 00 must be exactly 55
 * characters. A higher version (01–fe) is parsed by its first 55 characters when what follows
 * starts with '-' (§4.3 "versioning of traceparent"); ff is forbidden.
 */
export function parseTraceparent(value: string): TraceParent | undefined {
  const v = value.trim();
  if (v.length < 55) return undefined;
  if (v.charCodeAt(2) !== 45 || v.charCodeAt(35) !== 45 || v.charCodeAt(52) !== 45) return undefined;
  if (!isLowerHex(v, 0, 2) || !isLowerHex(v, 3, 35) || !isLowerHex(v, 36, 52) || !isLowerHex(v, 53, 55)) return undefined;
  const version = v.slice(0, 2);
  if (version === 'ff') return undefined;
  if (version === '00' ? v.length !== 55 : v.length > 55 && v.charCodeAt(55) !== 45) return undefined;
  const traceId = v.slice(3, 35);
  const parentId = v.slice(36, 52);
  if (traceId === ZERO_TRACE || parentId === ZERO_SPAN) return undefined;
  return { traceId, parentId, flags: v.slice(53, 55) };
}

/** The version-00 header value. */
export function formatTraceparent(traceId: string, parentId: string, flags: string): string {
  return `00-${traceId}-${parentId}-${flags}`;
}

/**
 * Random trace and span ids from a pooled buffer: one randomFillSync per 256 requests instead of
 * one crypto call per id, hex-encoded once per refill too: an id is a slice of that string (V8
 * shares the characters), not a Buffer-to-hex call into C++ per id — that pair of calls was most
 * of what trace propagation cost per request (~1 µs of ~2, bench/README.md "Flame graph findings").
 * Owned by one gateway (no module-level state).
 */
export class RandomIds {
  private readonly pool = Buffer.allocUnsafe(24 * 256);
  /** The pool as hex, two characters per byte. */
  private hex = '';
  private offset = this.pool.length;

  private take(bytes: number): number {
    if (this.offset + bytes > this.pool.length) {
      randomFillSync(this.pool);
      this.hex = this.pool.toString('hex');
      this.offset = 0;
    }
    const at = this.offset;
    this.offset += bytes;
    return at * 2;
  }

  traceId(): string {
    for (;;) {
      const at = this.take(16);
      const id = this.hex.slice(at, at + 32);
      if (id !== ZERO_TRACE) return id;
    }
  }

  spanId(): string {
    for (;;) {
      const at = this.take(8);
      const id = this.hex.slice(at, at + 16);
      if (id !== ZERO_SPAN) return id;
    }
  }
}

/** The trace headers a client sent, taken out of the upstream header list. */
export interface IncomingTrace {
  /** The valid traceparent, or undefined (absent, malformed or sent twice). */
  parent: TraceParent | undefined;
  /** The traceparent value as sent, when valid and already in version-00 form (passed on byte for byte). */
  raw: string | undefined;
  /** Combined tracestate, '' when none or when traceparent is not valid (§3.3.1: never without it). */
  tracestate: string;
}

/** What most requests carry: no trace headers (one shared answer, not an object per request). */
const NO_TRACE: IncomingTrace = Object.freeze({ parent: undefined, raw: undefined, tracestate: '' });

/**
 * Remove `traceparent` and `tracestate` from a flat upstream header list [name, value, …] (names
 * lower-case) and parse them.
 */
export function takeTraceHeaders(headers: string[]): IncomingTrace {
  let traceparent: string | undefined;
  let count = 0;
  let tracestate = '';
  let w = 0;
  for (let r = 0; r < headers.length; r += 2) {
    const name = headers[r]!;
    if (name === 'traceparent') {
      traceparent = headers[r + 1]!;
      count++;
      continue;
    }
    if (name === 'tracestate') {
      // Several tracestate fields combine like a list (RFC 9110 §5.3).
      const v = headers[r + 1]!.trim();
      if (v !== '') tracestate = tracestate === '' ? v : `${tracestate},${v}`;
      continue;
    }
    if (w !== r) {
      headers[w] = name;
      headers[w + 1] = headers[r + 1]!;
    }
    w += 2;
  }
  if (w === headers.length) return NO_TRACE; // neither field was there: nothing moved
  headers.length = w;
  // Two traceparent fields are ambiguous: restart the trace.
  const parent = count === 1 ? parseTraceparent(traceparent!) : undefined;
  if (parent === undefined) return NO_TRACE;
  const raw = traceparent!.length === 55 && traceparent!.startsWith('00-') ? traceparent : undefined;
  return { parent, raw, tracestate };
}

/** What one request carried and what goes upstream. */
export interface TraceDecision {
  traceId: string;
  /** The caller's span (parent-id of the incoming traceparent), '' when the gateway started the trace. */
  parentId: string;
  /** The traceparent sent upstream. */
  traceparent: string;
  /** The tracestate sent upstream, '' for none. */
  tracestate: string;
}

/**
 * Decide what goes upstream for a request without an exported span: a valid traceparent passes
 * unchanged (a future version is rewritten as version 00 with the same fields); otherwise a new trace
 * starts with a fresh trace id, a random parent-id and `newFlags`.
 */
export function propagate(headers: string[], ids: RandomIds, newFlags: string): TraceDecision {
  const t = takeTraceHeaders(headers);
  const p = t.parent;
  if (p === undefined) {
    const traceId = ids.traceId();
    return { traceId, parentId: '', traceparent: formatTraceparent(traceId, ids.spanId(), newFlags), tracestate: '' };
  }
  return { traceId: p.traceId, parentId: p.parentId, traceparent: t.raw ?? formatTraceparent(p.traceId, p.parentId, p.flags), tracestate: t.tracestate };
}
