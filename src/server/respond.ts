/**
 * Every reply the gateway makes itself goes through here: refusals as RFC 9457 problem+json with a
 * stable `code` and the `requestId`, and policies' local replies with any status, headers and body.
 * The admin listener and the listener's raw-socket answers build their bodies with problemJson too.
 */
import { ERRORS, GatewayError, type ErrorCode } from '../errors.js';
import { runResponseHooks } from '../pipeline/chain.js';
import { HookHead } from '../pipeline/response-head.js';
import type { LocalReply } from '../pipeline/contract.js';
import type { RequestContext } from '../pipeline/context.js';

/**
 * `type` of every problem. `about:blank` (RFC 9457 §4.2.1: no semantics beyond the status, and the
 * title is the status phrase) rather than a URL: the project owns no domain to serve its error pages
 * from, and a URL on someone else's (a CDN, an unpublished package name) could come to serve anything.
 * The `code` member carries the identity; docs/errors.md lists every code.
 */
export const PROBLEM_TYPE = 'about:blank';

/** The problem+json body for a code (the one place such bodies are built). */
export function problemJson(
  code: ErrorCode,
  detail: string | undefined,
  requestId: string | undefined,
  status: number = ERRORS[code].status,
  title: string = ERRORS[code].title,
): string {
  return JSON.stringify({
    type: PROBLEM_TYPE,
    title,
    status,
    ...(detail !== undefined ? { detail } : {}),
    code,
    ...(requestId !== undefined ? { requestId } : {}),
  });
}

export function problemBody(err: GatewayError, requestId: string): string {
  return problemJson(err.code, err.message, requestId, err.status);
}

/** Fields a local reply may not set: the gateway frames the message itself (RFC 9112 §6, RFC 9110 §7.6.1). */
const FRAMING = new Set(['content-length', 'transfer-encoding', 'connection', 'keep-alive', 'upgrade', 'proxy-connection', 'te', 'trailer', 'x-request-id']);

/** Statuses that never carry content (RFC 9110 §6.4.1). */
function bodyless(status: number): boolean {
  return status === 204 || status === 304 || status < 200;
}

/** Answer a request locally. Safe to call once per request; later calls (and calls after the head went out) only close. */
export function sendReply(ctx: RequestContext, reply: LocalReply | GatewayError): void {
  const res = ctx.res;
  if (res.headersSent || res.destroyed) {
    if (!res.writableEnded) res.destroy();
    return;
  }
  const headers: Record<string, string | string[] | number> = {};
  let status: number;
  let body: string | Uint8Array;
  if (reply instanceof GatewayError) {
    status = reply.status;
    ctx.errorCode = reply.code;
    headers['content-type'] = 'application/problem+json';
    headers['cache-control'] = 'no-store';
    if (reply.headers !== undefined) Object.assign(headers, reply.headers);
    body = problemBody(reply, ctx.requestId);
  } else {
    status = reply.status;
    if (reply.headers !== undefined) {
      for (const name of Object.keys(reply.headers)) {
        const lower = name.toLowerCase();
        if (!FRAMING.has(lower)) headers[lower] = reply.headers[name] as string | number | string[];
      }
    }
    body = reply.body ?? '';
  }
  ctx.status = status;
  headers['x-request-id'] = ctx.requestId;
  const extra = ctx.responseHeaders;
  if (extra !== undefined) for (let i = 0; i < extra.length; i += 2) headers[extra[i]!] = extra[i + 1]!;
  // A body the client is still sending would be read and thrown away to keep the connection;
  // for a refused upload, close instead (a 1 GiB body is not worth draining).
  if (ctx.hasBody && !ctx.req.complete) headers['connection'] = 'close';
  if (ctx.hooks.response.length > 0) runResponseHooks(ctx.hooks, ctx, new HookHead(status, true, headers));
  const noBody = ctx.method === 'HEAD' || bodyless(status);
  const length = typeof body === 'string' ? Buffer.byteLength(body) : body.byteLength;
  if (!bodyless(status)) headers['content-length'] = length;
  else delete headers['content-length'];
  ctx.bytesOut = noBody ? 0 : length;
  res.trustedHeaders = ctx.responseHeaderLines;
  try {
    res.writeHead(status, headers);
  } catch (err) {
    // A policy's header value Node refuses (CR, LF, NUL …): the reply cannot go out as asked.
    ctx.log.error({ event: 'policy.error', policy: ctx.repliedBy || undefined, err }, 'a local reply had an invalid header');
    res.removeHeader('content-length');
    const fallback = problemJson('GW_ERR_POLICY_FAILED', undefined, ctx.requestId);
    ctx.status = 500;
    ctx.errorCode = 'GW_ERR_POLICY_FAILED';
    ctx.bytesOut = ctx.method === 'HEAD' ? 0 : Buffer.byteLength(fallback);
    res.writeHead(500, { 'content-type': 'application/problem+json', 'cache-control': 'no-store', 'x-request-id': ctx.requestId, 'content-length': Buffer.byteLength(fallback) });
    res.end(ctx.method === 'HEAD' ? undefined : fallback);
    return;
  }
  res.end(noBody ? undefined : body);
}

/** A refusal (problem+json). */
export function replyError(ctx: RequestContext, err: GatewayError): void {
  sendReply(ctx, err);
}
