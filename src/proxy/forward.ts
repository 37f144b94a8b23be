/**
 * The terminal step: stream the request to one target through its undici Pool and stream the
 * response back, with backpressure both ways and aborts both ways. Uses undici's dispatch handler
 * API directly: no intermediate streams per request, and the controller gives pause/resume/abort.
 */
import { Transform, type TransformCallback } from 'node:stream';
import type { Dispatcher } from 'undici';
import { GatewayError } from '../errors.js';
import { runResponseHooks } from '../pipeline/chain.js';
import type { RequestContext } from '../pipeline/context.js';
import type { CompiledRoute } from '../router/compile.js';
import { replyError } from '../server/respond.js';
import type { Target } from '../upstream/upstream.js';
import { recordSuccess } from '../upstream/health.js';
import { classifyUpstreamError, upstreamErrorCode, type UpstreamErrorKind } from './errors.js';
import { responseHeaderList, responseHeaderObject } from './headers.js';

export interface UpstreamEvents {
  /** A request to a target failed before or during the response (passive health, metrics, logs). */
  onUpstreamError(ctx: RequestContext, target: Target, kind: UpstreamErrorKind, err: Error): void;
}

/**
 * Server-sent events: the head goes out at once (Node would hold it until the first body chunk), so
 * an EventSource opens before the first event. Names from undici are interned lower-case strings.
 */
function isEventStream(list: readonly string[]): boolean {
  for (let i = 0; i < list.length; i += 2) if (list[i] === 'content-type') return list[i + 1]!.startsWith('text/event-stream');
  return false;
}

/** Counts request body bytes and fails once the route limit is passed (chunked uploads). */
class BodyLimit extends Transform {
  private seen = 0;
  constructor(
    private readonly limit: number,
    private readonly ctx: RequestContext,
  ) {
    super();
  }
  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.seen += chunk.length;
    this.ctx.bytesIn = this.seen;
    if (this.seen > this.limit) cb(new GatewayError('GW_ERR_BODY_TOO_LARGE'));
    else cb(null, chunk);
  }
}

/**
 * One upstream exchange. Written against undici's native handler callbacks (onConnect, onHeaders,
 * onData, onComplete, onError): the newer controller API is wrapped into these by undici itself
 * (unwrap-handler), so using them directly saves a layer and the parsed header object per request.
 */
class ProxyHandler implements Dispatcher.DispatchHandler {
  private abortUpstream: ((err?: Error) => void) | undefined = undefined;
  private resumeUpstream: (() => void) | undefined = undefined;
  finished = false;

  constructor(
    private readonly ctx: RequestContext,
    private readonly target: Target,
    private readonly events: UpstreamEvents,
    private readonly bodyLimit: BodyLimit | undefined,
  ) {}

  /** Called when the client goes away first. */
  abort(): void {
    if (this.finished) return;
    const err = new Error('client closed the connection');
    (err as NodeJS.ErrnoException).code = 'GW_CLIENT_ABORTED';
    this.abortUpstream?.(err);
  }

  onConnect(abort: (err?: Error) => void): void {
    this.abortUpstream = abort;
    if (this.ctx.done) abort(new Error('client closed the connection'));
  }

  onHeaders(statusCode: number, raw: Buffer[], resume: () => void): boolean {
    if (statusCode < 200) return true; // 1xx from upstream: Node answers the client's 100-continue itself
    const ctx = this.ctx;
    this.resumeUpstream = resume;
    ctx.upstreamHeadersAt = performance.now();
    ctx.status = statusCode;
    recordSuccess(this.target);
    const res = ctx.res;
    if (res.destroyed) return true;
    const extra = ctx.responseHeaders;
    if (ctx.hooks.response.length === 0) {
      // Lines come from the rate-limit policy only: when there are any, its fields replace the upstream's.
      const headers = responseHeaderList(raw, ctx.responseHeaderLines !== '');
      if (extra !== undefined) for (let i = 0; i < extra.length; i++) headers.push(extra[i]!);
      // The request id passed isWellFormedRequestId or is a UUID: a line Node need not check.
      res.trustedHeaders = 'x-request-id: ' + ctx.requestId + '\r\n' + ctx.responseHeaderLines;
      res.writeHead(statusCode, headers);
      if (isEventStream(headers)) res.flushHeaders();
    } else {
      const headers = responseHeaderObject(raw, ctx.responseHeaderLines !== '');
      headers['x-request-id'] = ctx.requestId;
      if (extra !== undefined) for (let i = 0; i < extra.length; i += 2) headers[extra[i]!] = extra[i + 1]!;
      runResponseHooks(ctx.hooks, ctx, { status: statusCode, local: false, headers });
      res.trustedHeaders = ctx.responseHeaderLines;
      res.writeHead(statusCode, headers);
      const type = headers['content-type'];
      if (typeof type === 'string' && type.startsWith('text/event-stream')) res.flushHeaders();
    }
    return true;
  }

  onData(chunk: Buffer): boolean {
    const ctx = this.ctx;
    ctx.bytesOut += chunk.length;
    const res = ctx.res;
    if (res.destroyed) return true;
    if (res.write(chunk)) return true;
    res.once('drain', this.resumeUpstream!);
    return false; // undici pauses the upstream socket until resume()
  }

  onComplete(): void {
    this.finished = true;
    this.target.active--;
    this.ctx.upstreamEnd = performance.now();
    this.ctx.res.end();
  }

  onError(err: Error): void {
    if (this.finished) return;
    this.finished = true;
    this.target.active--;
    const ctx = this.ctx;
    ctx.upstreamEnd = performance.now();
    if ((err as NodeJS.ErrnoException).code === 'GW_CLIENT_ABORTED' || ctx.done) {
      ctx.res.destroy();
      return;
    }
    if (err instanceof GatewayError) {
      replyError(ctx, err); // the body limit tripped while streaming a chunked upload
      return;
    }
    if (this.bodyLimit?.destroyed && ctx.req.destroyed) {
      ctx.res.destroy(); // the client's upload broke off: nobody to answer
      return;
    }
    const kind = classifyUpstreamError(err);
    this.events.onUpstreamError(ctx, this.target, kind, err);
    if (ctx.res.headersSent) {
      // Too late for a 502: cut the client connection so it cannot mistake a truncated body for a whole one.
      ctx.res.destroy();
      return;
    }
    replyError(ctx, new GatewayError(upstreamErrorCode(kind)));
  }
}

/** Forward the request to a target chosen by the route's balancer. */
export function forward(ctx: RequestContext, route: CompiledRoute, headers: string[], events: UpstreamEvents): void {
  const upstream = route.upstream;
  const target = upstream.balancer.pick();
  ctx.upstreamName = upstream.name;
  if (target === undefined) {
    replyError(ctx, new GatewayError('GW_ERR_NO_HEALTHY_TARGET', `No target of upstream "${upstream.name}" is available.`));
    return;
  }
  ctx.target = target;
  const req = ctx.req;
  let body: Dispatcher.DispatchOptions['body'] = null;
  let limit: BodyLimit | undefined;
  if (ctx.hasBody) {
    if (ctx.contentLength >= 0) {
      ctx.bytesIn = ctx.contentLength;
      body = req;
    } else {
      limit = new BodyLimit(route.maxBodySize, ctx);
      req.pipe(limit);
      req.once('error', (err) => limit!.destroy(err));
      body = limit;
    }
    if (ctx.expectContinue) ctx.res.writeContinue();
  }
  const path = target.basePath + (ctx.upstreamPath === '' ? route.rewrite(ctx.path, ctx.params) : ctx.upstreamPath) + ctx.query;
  const handler = new ProxyHandler(ctx, target, events, limit);
  ctx.proxy = handler;
  target.active++;
  ctx.upstreamStart = performance.now();
  target.pool.dispatch(
    {
      path,
      method: ctx.method,
      headers,
      body,
      headersTimeout: route.responseTimeout,
      bodyTimeout: route.idleTimeout,
    },
    handler,
  );
}
