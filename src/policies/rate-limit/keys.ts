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

export type KeySpec =
  | { readonly kind: 'ip' }
  | { readonly kind: 'consumer' }
  | { readonly kind: 'route' }
  | { readonly kind: 'header'; readonly header: string };

/** The parts of a request context a key reads (a RequestContext has them all). */
export interface KeySource {
  readonly clientIp: string;
  readonly principal: { readonly subject: string | undefined; readonly issuer: string } | undefined;
  readonly req: { readonly headers: IncomingHttpHeaders };
}

/** Values longer than this are stored as a digest, so a client cannot make one bucket cost kilobytes. */
export const MAX_RAW_VALUE = 128;

export function parseKey(key: string): KeySpec {
  if (key === 'ip' || key === 'consumer' || key === 'route') return { kind: key };
  if (key.startsWith('header:')) return { kind: 'header', header: key.slice(7).toLowerCase() };
  throw new Error(`unknown rate-limit key ${JSON.stringify(key)}`); // the schema already rejected it
}

function bounded(value: string): string {
  return value.length <= MAX_RAW_VALUE ? value : '#' + createHash('sha256').update(value).digest('base64url');
}

/** The bucket value of a request for one limit. */
export function keyValue(spec: KeySpec, src: KeySource): string {
  switch (spec.kind) {
    case 'ip':
      return 'ip:' + src.clientIp;
    case 'route':
      return '*';
    case 'consumer': {
      const p = src.principal;
      const sub = p?.subject;
      return sub !== undefined && sub !== '' ? 'c:' + bounded(`${p!.issuer}:${sub}`) : 'ip:' + src.clientIp;
    }
    case 'header': {
      const v = src.req.headers[spec.header];
      // Node joins repeated headers with ", " (string[] only for set-cookie, never a request header).
      const value = typeof v === 'string' ? v.trim() : undefined;
      return value !== undefined && value !== '' ? 'h:' + bounded(value) : 'ip:' + src.clientIp;
    }
  }
}
