/**
 * HTTP/2 streams through the same request entry as HTTP/1.1: Node's compatibility request and
 * response (Http2ServerRequest/-Response) carry what handle.ts reads (rawHeaders with the
 * pseudo-headers, url = :path, socket, complete). This response adds what GatewayResponse adds —
 * the gateway's trusted header lines — and keeps HTTP/1.1 connection-specific fields off the wire
 * (RFC 9113 §8.2.2: a message with them is malformed).
 */
import { Http2ServerResponse, type Http2ServerRequest } from 'node:http2';
import type { OutgoingHttpHeader, OutgoingHttpHeaders } from 'node:http';
import { linesToPairs } from './response.js';

/** RFC 9113 §8.2.2 connection-specific fields, never sent on an HTTP/2 stream. */
const CONNECTION_SPECIFIC = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade']);

export class GatewayH2Response extends Http2ServerResponse {
  /** Header lines the gateway made (see GatewayResponse); on HTTP/2 they are ordinary fields. */
  trustedHeaders = '';
  /** HTTP/1.1-only: assigned by the entry while draining, meaningless on a stream (GOAWAY does that). */
  shouldKeepAlive = true;

  constructor(stream: ConstructorParameters<typeof Http2ServerResponse>[0]) {
    super(stream);
  }

  override writeHead(status: number, headers?: OutgoingHttpHeaders | OutgoingHttpHeader[]): this;
  override writeHead(status: number, message: string, headers?: OutgoingHttpHeaders | OutgoingHttpHeader[]): this;
  override writeHead(status: number, a?: unknown, b?: unknown): this {
    const given = (typeof a === 'string' ? b : a) as OutgoingHttpHeaders | OutgoingHttpHeader[] | undefined;
    const flat: OutgoingHttpHeader[] = [];
    if (Array.isArray(given)) {
      for (let i = 0; i < given.length; i += 2) {
        const name = String(given[i]).toLowerCase();
        if (!CONNECTION_SPECIFIC.has(name)) flat.push(name, given[i + 1]!);
      }
    } else if (given !== undefined) {
      for (const name of Object.keys(given)) {
        const value = given[name];
        if (value === undefined || CONNECTION_SPECIFIC.has(name.toLowerCase())) continue;
        if (Array.isArray(value)) for (const v of value) flat.push(name.toLowerCase(), v);
        else flat.push(name.toLowerCase(), value);
      }
    }
    if (this.trustedHeaders !== '') {
      flat.push(...linesToPairs(this.trustedHeaders));
      this.trustedHeaders = '';
    }
    return super.writeHead(status, flat as unknown as OutgoingHttpHeaders);
  }
}

export type GatewayH2Request = Http2ServerRequest;

// What handle.ts and forward.ts read on a response, with ServerResponse's meaning. Node's compat
// response reports writableFinished once the stream closed, also when the client reset it
// (RST_STREAM): here it is true only for a response that was ended and closed without an error code.
// (Accessors on the prototype: the typings declare these as plain properties.)
Object.defineProperty(GatewayH2Response.prototype, 'writableFinished', {
  get(this: GatewayH2Response): boolean {
    const code = this.stream.rstCode;
    return this.writableEnded && (code === undefined || code === 0);
  },
});
Object.defineProperty(GatewayH2Response.prototype, 'destroyed', {
  get(this: GatewayH2Response): boolean {
    return this.stream.destroyed;
  },
});
