/**
 * What a limit counts by. Every value is tagged with where it came from ("ip:", "c:", "h:"), so a
 * header value that happens to read "ip:10.0.0.1" can never share a bucket with that client address.
 * A consumer is who vouched for it plus who it is: "c:<issuer name>:<sub>" (issuer names have no
 * ":"), so `bob` of one issuer never spends `bob` of another's bucket; "k:" is kept for API-key
 * consumer names, which must never share a namespace with any issuer's subjects.
 * A key that cannot be read falls back to the client address: an anonymous request is limited per ip
 * under a `consumer` limit, and a request without the header per ip under a `header:` limit — leaving
 * the header out must never be a way around the limit.
 */
import { createHash } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { ipv6Network } from '../../util/ip.js';

export type KeySpec = (
  | { readonly kind: 'ip' }
  | { readonly kind: 'consumer' }
  | { readonly kind: 'route' }
  | { readonly kind: 'client-cert' }
  | { readonly kind: 'header'; readonly header: string }
) & {
  /** An IPv6 client counts as its /ipv6Prefix network (an end site gets a /64 or more: one address each would be no limit). */
  readonly ipv6Prefix: number;
};

/** The parts of a request context a key reads (a RequestContext has them all). */
export interface KeySource {
  readonly clientIp: string;
  /** The verified TLS client certificate's subject (mutual TLS), '' when none. */
  readonly clientCert?: string;
  readonly principal: { readonly subject: string | undefined; readonly issuer: string } | undefined;
  readonly req: { readonly headers: IncomingHttpHeaders };
}

/** Values longer than this are stored as a digest, so a client cannot make one bucket cost kilobytes. */
export const MAX_RAW_VALUE = 128;

export function parseKey(key: string, ipv6Prefix = 64): KeySpec {
  if (key === 'ip' || key === 'consumer' || key === 'route' || key === 'client-cert') return { kind: key, ipv6Prefix };
  if (key.startsWith('header:')) return { kind: 'header', header: key.slice(7).toLowerCase(), ipv6Prefix };
  throw new Error(`unknown rate-limit key ${JSON.stringify(key)}`); // the schema already rejected it
}

function bounded(value: string): string {
  return value.length <= MAX_RAW_VALUE ? value : '#' + createHash('sha256').update(value).digest('base64url');
}

/** The client address bucket: the address (canonical already, see util/ip.ts), an IPv6 one as its network. */
function ipValue(ip: string, ipv6Prefix: number): string {
  return ip.includes(':') ? 'ip:' + ipv6Network(ip, ipv6Prefix) : 'ip:' + ip;
}

/** The bucket value of a request for one limit. */
export function keyValue(spec: KeySpec, src: KeySource): string {
  switch (spec.kind) {
    case 'ip':
      return ipValue(src.clientIp, spec.ipv6Prefix);
    case 'route':
      return '*';
    case 'client-cert': {
      // Only a certificate the TLS handshake verified (server.tls.clientCa) counts; none: per ip.
      const subject = src.clientCert;
      return subject !== undefined && subject !== '' ? 'cc:' + bounded(subject) : 'ip:' + src.clientIp;
    }
    case 'consumer': {
      const p = src.principal;
      const sub = p?.subject;
      if (sub === undefined || sub === '') return ipValue(src.clientIp, spec.ipv6Prefix);
      // API-key consumers in their own namespace ("apikey" is no JWT issuer name: jwt config refuses it).
      return p!.issuer === 'apikey' ? 'k:' + bounded(sub) : 'c:' + bounded(`${p!.issuer}:${sub}`);
    }
    case 'header': {
      const v = src.req.headers[spec.header];
      // Node joins repeated headers with ", " (string[] only for set-cookie, never a request header).
      const value = typeof v === 'string' ? v.trim() : undefined;
      return value !== undefined && value !== '' ? 'h:' + bounded(value) : ipValue(src.clientIp, spec.ipv6Prefix);
    }
  }
}
