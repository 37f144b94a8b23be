import { isIPv6 } from 'node:net';
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
  'http2-settings', // only meaningful with Upgrade: h2c, which is hop-by-hop itself (RFC 7540 §3.2.1)
]);

/**
 * Fields the gateway sets or vouches for: client copies are dropped and replaced (or appended to,
 * when trusted). X-Real-IP is not set by the gateway but backends read it as the client address, so
 * it is kept only from a trusted proxy.
 */
const GATEWAY_OWNED = ['x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host', 'x-request-id', 'forwarded', 'x-real-ip'];

/** `X_User_Id` → `x-user-id`: how CGI, WSGI, PHP and Rack see a name (both become HTTP_X_USER_ID). */
function normaliseName(lowerName: string): string {
  return lowerName.indexOf('_') === -1 ? lowerName : lowerName.replaceAll('_', '-');
}

/**
 * The set scanRequestHeaders() removes, built once per snapshot: the gateway's own fields plus
 * `names` (claim headers and the like), all in normalised form, so a client's `X_User_Id` or
 * `x-forwarded_for` is removed like `X-User-Id` — a backend that folds `_` into `-` would otherwise
 * read the client's copy as the gateway's.
 */
export function compileStrippedHeaders(names: Iterable<string>): ReadonlySet<string> {
  const out = new Set<string>();
  for (const n of [...GATEWAY_OWNED, ...names]) out.add(normaliseName(n.toLowerCase()));
  return out;
}

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
  /** HTTP/2 `:authority` (undefined on HTTP/1.1). */
  authority: string | undefined;
  /** The Upgrade header (a WebSocket handshake names `websocket`). */
  upgrade: string | undefined;
}

/**
 * Scan `req.rawHeaders` once. `stripped` (from compileStrippedHeaders) are names removed on every
 * route (e.g. JWT claim headers a client must never be able to spoof), compared in normalised form.
 * `trusted`: the peer is a trusted proxy, whose X-Real-IP is kept.
 */
export function scanRequestHeaders(raw: readonly string[], stripped: ReadonlySet<string>, keepHost: boolean, trusted = false): ScannedRequest {
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
  let authority: string | undefined;
  let upgrade: string | undefined;
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
      case 'x-real-ip':
        if (trusted) headers.push(name, value);
        continue;
      case 'upgrade':
        upgrade ??= value;
        continue;
    }
    // HTTP/2 pseudo-headers (RFC 9113 §8.3): the method and path are the request line; :authority is Host.
    if (name.charCodeAt(0) === 58) {
      if (name === ':authority') authority = value;
      continue;
    }
    // Only a name with `_` pays for normalising (one indexOf for the others, no allocation).
    if (HOP_BY_HOP.has(name) || stripped.has(normaliseName(name))) continue;
    headers.push(name, value);
  }
  if (connection !== undefined) {
    const listed = connectionListed(connection);
    // RFC 9110 §7.6.1: a proxy removes every field named in Connection. This runs before the
    // gateway adds its own fields, so `Connection: x-forwarded-for` can never strip what it sets.
    if (listed !== undefined) removeHeaders(headers, listed);
  }
  return { headers, host, duplicate, forwardedFor, forwardedProto, forwardedHost, forwarded, requestId, contentLength, userAgent, chunked, authority, upgrade };
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

/** RFC 3986 unreserved / sub-delims (the characters of a reg-name besides pct-encoded). */
function isRegNameChar(c: number): boolean {
  return (
    (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || (c >= 48 && c <= 57) || c === 45 || c === 46 || c === 95 || c === 126 || // unreserved
    c === 33 || c === 36 || (c >= 38 && c <= 44) || c === 59 || c === 61 // ! $ & ' ( ) * + , ; =
  );
}

function isHex(c: number): boolean {
  return (c >= 48 && c <= 57) || (c >= 65 && c <= 70) || (c >= 97 && c <= 102);
}

/** `*DIGIT` from `from` to the end (RFC 3986 port; empty is allowed). */
function isPort(h: string, from: number): boolean {
  for (let i = from; i < h.length; i++) {
    const c = h.charCodeAt(i);
    if (c < 48 || c > 57) return false;
  }
  return true;
}

/** RFC 3986 §3.2.2 IP-literal without its brackets: an IPv6 address (no zone) or IPvFuture. */
function isIpLiteral(inside: string): boolean {
  if (inside.charCodeAt(0) === 118 || inside.charCodeAt(0) === 86) return /^[vV][0-9A-Fa-f]+\.[A-Za-z0-9\-._~!$&'()*+,;=:]+$/.test(inside);
  return !inside.includes('%') && isIPv6(inside); // RFC 3986's IPv6address has no zone id
}

/**
 * Host header (or absolute-form authority) → the name routes are matched against: lower case, no
 * port, no trailing dot (`Secure.Example.com.:443` → `secure.example.com`; a fully qualified name is
 * the same host, RFC 1034 §3.1). undefined when it is not `uri-host [ ":" port ]` (RFC 9112 §3.2,
 * RFC 3986 §3.2.2): `[secure.example.com]`, `a@b`, `a b`, `x:80:80` are refused, not matched as
 * some other route's host.
 */
export function hostName(host: string): string | undefined {
  let name: string;
  if (host.charCodeAt(0) === 91) {
    const end = host.indexOf(']');
    if (end === -1 || !isIpLiteral(host.slice(1, end))) return undefined;
    if (end + 1 < host.length && (host.charCodeAt(end + 1) !== 58 || !isPort(host, end + 2))) return undefined;
    name = host.slice(0, end + 1);
  } else {
    let i = 0;
    for (; i < host.length; i++) {
      const c = host.charCodeAt(i);
      if (c === 58) break;
      if (c === 37) {
        if (!isHex(host.charCodeAt(i + 1)) || !isHex(host.charCodeAt(i + 2))) return undefined;
        i += 2;
      } else if (!isRegNameChar(c)) return undefined;
    }
    if (i < host.length && !isPort(host, i + 1)) return undefined;
    name = i < host.length ? host.slice(0, i) : host;
    if (name.length > 1 && name.charCodeAt(name.length - 1) === 46) name = name.slice(0, -1);
  }
  return name.toLowerCase();
}
