import { util } from 'undici';
import { removeHeaders } from '../util/header-list.js';

const { headerNameToString } = util;

/**
 * Header rules, kept pure. One pass over the raw header list (not Node's folded object, which hides
 * duplicates) builds the upstream header list and finds what must be refused.
 */

/** RFC 9110 §7.6.1 hop-by-hop fields, plus the legacy ones proxies still see. */
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'te',
  'trailer',
  'upgrade',
  'proxy-authenticate',
  'proxy-authorization',
  'expect', // 100-continue is answered here, between client and gateway (RFC 9110 §10.1.1)
]);

/** Fields the gateway sets itself: client copies are dropped and replaced (or appended to, when trusted). */
const GATEWAY_OWNED = new Set(['x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host', 'x-request-id', 'forwarded']);

export interface ScannedRequest {
  /** Flat [name, value, …] list to send upstream, names lower-case. */
  headers: string[];
  host: string | undefined;
  /** A header that must appear once but came more than once. */
  duplicate: 'host' | 'authorization' | 'content-length' | undefined;
  forwardedFor: string | undefined;
  forwardedProto: string | undefined;
  forwardedHost: string | undefined;
  forwarded: string | undefined;
  requestId: string | undefined;
  contentLength: string | undefined;
  /** The first User-Agent, for the access log (it is forwarded as sent). */
  userAgent: string | undefined;
  /** Transfer-Encoding was sent (Node's parser already refused it together with Content-Length). */
  chunked: boolean;
}

/**
 * Scan `req.rawHeaders` once. `stripped` are further names removed on every route (e.g. JWT claim
 * headers a client must never be able to spoof).
 */
export function scanRequestHeaders(raw: readonly string[], stripped: ReadonlySet<string>, keepHost: boolean): ScannedRequest {
  const headers: string[] = [];
  let host: string | undefined;
  let duplicate: ScannedRequest['duplicate'];
  let authSeen = false;
  let lengthSeen = false;
  let connection: string | undefined;
  let forwardedFor: string | undefined;
  let forwardedProto: string | undefined;
  let forwardedHost: string | undefined;
  let forwarded: string | undefined;
  let requestId: string | undefined;
  let contentLength: string | undefined;
  let userAgent: string | undefined;
  let chunked = false;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!.toLowerCase();
    const value = raw[i + 1]!;
    switch (name) {
      case 'host':
        if (host !== undefined) duplicate ??= 'host';
        host = value;
        if (keepHost) headers.push(name, value);
        continue;
      case 'authorization':
        if (authSeen) duplicate ??= 'authorization';
        authSeen = true;
        break;
      case 'content-length':
        if (lengthSeen) duplicate ??= 'content-length';
        lengthSeen = true;
        contentLength = value;
        break;
      case 'transfer-encoding':
        chunked = true;
        continue;
      case 'user-agent':
        userAgent ??= value;
        break;
      case 'connection':
        connection = connection === undefined ? value : `${connection},${value}`;
        continue;
      case 'x-forwarded-for':
        forwardedFor = forwardedFor === undefined ? value : `${forwardedFor}, ${value}`;
        continue;
      case 'x-forwarded-proto':
        forwardedProto ??= value;
        continue;
      case 'x-forwarded-host':
        forwardedHost ??= value;
        continue;
      case 'forwarded':
        forwarded = forwarded === undefined ? value : `${forwarded}, ${value}`;
        continue;
      case 'x-request-id':
        requestId ??= value;
        continue;
    }
    if (HOP_BY_HOP.has(name) || GATEWAY_OWNED.has(name) || stripped.has(name)) continue;
    headers.push(name, value);
  }
  if (connection !== undefined) {
    const listed = connectionListed(connection);
    // RFC 9110 §7.6.1: a proxy removes every field named in Connection. This runs before the
    // gateway adds its own fields, so `Connection: x-forwarded-for` can never strip what it sets.
    if (listed !== undefined) removeHeaders(headers, listed);
  }
  return { headers, host, duplicate, forwardedFor, forwardedProto, forwardedHost, forwarded, requestId, contentLength, userAgent, chunked };
}

/** Names listed in a Connection header, other than close/keep-alive (RFC 9110 §7.6.1). */
function connectionListed(value: string): Set<string> | undefined {
  // The common values carry no field names: skip the split.
  if (value.length <= 10) {
    const v = value.toLowerCase();
    if (v === 'keep-alive' || v === 'close') return undefined;
  }
  let listed: Set<string> | undefined;
  for (const token of value.split(',')) {
    const t = token.trim().toLowerCase();
    if (t !== '' && t !== 'close' && t !== 'keep-alive') (listed ??= new Set()).add(t);
  }
  return listed;
}

/** Dropped from upstream responses: hop-by-hop fields, and X-Request-Id, which the gateway sets. */
const NOT_FROM_UPSTREAM = new Set([...HOP_BY_HOP, 'x-request-id']);

/**
 * Upstream response headers (undici's raw [name, value, …] buffers) as a flat list for
 * res.writeHead, minus hop-by-hop fields, those the upstream named in Connection and X-Request-Id
 * (the gateway's own goes out). With `ownRateLimit` (the route's limits set the RateLimit fields),
 * the upstream's RateLimit* fields are dropped too: the gateway's replace them rather than repeat them.
 */
export function responseHeaderList(raw: readonly Buffer[], ownRateLimit = false): string[] {
  const out: string[] = [];
  let listed: Set<string> | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    const name = headerNameToString(raw[i]!);
    if (NOT_FROM_UPSTREAM.has(name)) {
      if (name === 'connection') listed = connectionListed(raw[i + 1]!.toString('latin1'));
      continue;
    }
    if (ownRateLimit && name.startsWith('ratelimit')) continue;
    out.push(name, raw[i + 1]!.toString('latin1'));
  }
  if (listed !== undefined) removeHeaders(out, listed);
  return out;
}

/** The same, as an object for response hooks (repeated fields such as Set-Cookie become arrays). */
export function responseHeaderObject(raw: readonly Buffer[], ownRateLimit = false): Record<string, string | string[] | number> {
  const list = responseHeaderList(raw, ownRateLimit);
  const out: Record<string, string | string[] | number> = {};
  for (let i = 0; i < list.length; i += 2) {
    const name = list[i]!;
    const value = list[i + 1]!;
    const prev = out[name];
    if (prev === undefined) out[name] = value;
    else if (Array.isArray(prev)) prev.push(value);
    else out[name] = [String(prev), value];
  }
  return out;
}

/** A client-sent X-Request-Id is kept only when it is short and plain; anything else is replaced. */
export function isWellFormedRequestId(id: string): boolean {
  if (id.length === 0 || id.length > 128) return false;
  for (let i = 0; i < id.length; i++) {
    const c = id.charCodeAt(i);
    const ok = (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 45 || c === 95 || c === 46 || c === 58;
    if (!ok) return false;
  }
  return true;
}

/** Host header → lower-case host name without port (`[::1]:80` → `[::1]`). */
export function hostName(host: string): string {
  let h = host;
  if (h.charCodeAt(0) === 91) {
    const end = h.indexOf(']');
    h = end === -1 ? h : h.slice(0, end + 1);
  } else {
    const colon = h.indexOf(':');
    if (colon !== -1) h = h.slice(0, colon);
  }
  return h.toLowerCase();
}
