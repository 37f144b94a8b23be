/**
 * Replies the gateway makes itself: RFC 9457 problem+json with a stable `code` and the `requestId`.
 */
import { ERRORS, type GatewayError } from '../errors.js';
import { runResponseHooks } from '../pipeline/chain.js';
import type { RequestContext } from '../pipeline/context.js';

export const PROBLEM_TYPE_BASE = 'https://gateway.dev/errors/';

export function problemBody(err: GatewayError, requestId: string): string {
  return JSON.stringify({
    type: PROBLEM_TYPE_BASE + err.code,
    title: ERRORS[err.code].title,
    status: err.status,
    detail: err.message,
    code: err.code,
    requestId,
  });
}

/** Answer a request locally. Safe to call once per request; later calls are ignored. */
export function replyError(ctx: RequestContext, err: GatewayError): void {
  const res = ctx.res;
  if (res.headersSent || res.destroyed) {
    if (!res.writableEnded) res.destroy();
    return;
  }
  ctx.status = err.status;
  ctx.errorCode = err.code;
  const body = ctx.method === 'HEAD' ? '' : problemBody(err, ctx.requestId);
  const headers: Record<string, string | string[] | number> = {
    'content-type': 'application/problem+json',
    'cache-control': 'no-store',
    'x-request-id': ctx.requestId,
  };
  const extra = ctx.responseHeaders;
  if (extra !== undefined) for (let i = 0; i < extra.length; i += 2) headers[extra[i]!] = extra[i + 1]!;
  if (err.headers !== undefined) Object.assign(headers, err.headers);
  // A body the client is still sending would be read and thrown away to keep the connection;
  // for a refused upload, close instead (a 1 GiB body is not worth draining).
  if (ctx.hasBody && !ctx.req.complete) headers['connection'] = 'close';
  const route = ctx.route;
  if (route && route.responseHooks.length > 0) runResponseHooks(route.responseHooks, ctx, headers);
  const length = Buffer.byteLength(body);
  headers['content-length'] = length;
  ctx.bytesOut = ctx.method === 'HEAD' ? 0 : length;
  res.trustedHeaders = ctx.responseHeaderLines;
  res.writeHead(err.status, headers);
  res.end(body);
}
