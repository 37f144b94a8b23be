/**
 * The terminal step: stream the request to one target through its undici Pool and stream the
 * response back, with backpressure both ways and aborts both ways. Uses undici's dispatch handler
 * API directly: no intermediate streams per request, and the controller gives pause/resume/abort.
 */
import { Transform, type TransformCallback } from 'node:stream';
import { errors, type Dispatcher } from 'undici';
import { GatewayError } from '../errors.js';
import { runResponseHooks } from '../pipeline/chain.js';
import type { RequestContext } from '../pipeline/context.js';
import type { CompiledRoute } from '../router/compile.js';
import { replyError } from '../server/respond.js';
import type { Target } from '../upstream/upstream.js';
import { recordResponse } from '../upstream/health.js';
import { classifyUpstreamError, upstreamErrorCode, type UpstreamErrorKind } from './errors.js';
import { backoffDelay, retryReason, type RetryPolicy, type RetryReason } from './retry.js';

/** The tries of one request with retries on: what a retry needs to send the same request again. */
interface Tries {
  readonly policy: RetryPolicy;
  readonly route: CompiledRoute;
  readonly headers: string[];
  readonly body: Buffer | null;
  readonly tried: Target[];
}
import { responseHeaderList } from './headers.js';
import { HookHead } from '../pipeline/response-head.js';
import type { UpstreamDeadlines, Watched } from './deadlines.js';

export interface UpstreamEvents {
  /** A request to a target failed before or during the response (passive health, metrics, logs). */
  onUpstreamError(ctx: RequestContext, target: Target, kind: UpstreamErrorKind, err: Error): void;
  /** A failed try is tried again (metrics). */
  onRetry?(ctx: RequestContext, reason: RetryReason): void;
  /** A try would have been retried but the upstream's retry budget was spent (metrics). */
  onRetryBudgetExhausted?(ctx: RequestContext): void;
  /** The gateway's sweep for response and idle timeouts; without it undici's own timers keep them. */
  readonly deadlines?: UpstreamDeadlines | undefined;
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
class ProxyHandler implements Dispatcher.DispatchHandler, Watched {
  private abortUpstream: ((err?: Error) => void) | undefined = undefined;
  private resumeUpstream: (() => void) | undefined = undefined;
  finished = false;
  /** This try's response is being thrown away for a retry. */
  private discarded = false;
  /** The response head arrived (a deadline that passes now is the idle one). */
  private headSeen = false;
  // The deadline fields the gateway's sweep reads (deadlines.ts); unused when undici keeps the timeouts.
  deadline = 0;
  touched = false;
  paused = false;
  prevWatched: Watched | null = null;
  nextWatched: Watched | null = null;
  listed = false;

  constructor(
    private readonly ctx: RequestContext,
    private readonly target: Target,
    private readonly events: UpstreamEvents,
    private readonly bodyLimit: BodyLimit | undefined,
    private readonly tries: Tries | undefined,
    /** Response-head timeout of this try (ms, 0 for none): watched here only with `deadlines`. */
    private readonly headMs: number,
    readonly idleMs: number,
    private readonly deadlines: UpstreamDeadlines | undefined,
  ) {}

  /** The request is written to the upstream: the response-head time starts. */
  onRequestSent(): void {
    if (this.deadlines === undefined || this.headMs <= 0 || this.finished) return;
    this.deadline = performance.now() + this.headMs;
    this.deadlines.watch(this);
  }

  /** A deadline passed (called by the sweep): fail the exchange as undici's own timers would. */
  expire(): void {
    if (this.finished) return;
    this.abortUpstream?.(this.headSeen ? new errors.BodyTimeoutError() : new errors.HeadersTimeoutError());
  }

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
    // Outlier detection counts every response head, also one dropped for a retry (as Envoy does):
    // a target answering 503 to every try is ejected even when retries hide it from clients.
    recordResponse(ctx.route!.upstream, this.target, statusCode);
    const tries = this.tries;
    if (tries !== undefined && tries.policy.statuses.has(statusCode) && mayRetry(ctx, tries, this.events)) {
      // Nothing has gone to the client: drop this response and try again.
      this.discarded = true;
      this.abortUpstream?.(new Error('response discarded for a retry'));
      retryLater(ctx, tries, this.events, `${statusCode}` as RetryReason);
      return false;
    }
    this.resumeUpstream = resume;
    this.headSeen = true;
    ctx.upstreamHeadersAt = performance.now();
    const deadlines = this.deadlines;
    if (deadlines !== undefined) {
      if (this.idleMs > 0) {
        this.deadline = ctx.upstreamHeadersAt + this.idleMs;
        deadlines.watch(this);
      } else deadlines.unwatch(this);
    }
    ctx.status = statusCode;
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
      // The hooks work on the same flat list (an object only if one of them reads head.headers).
      const list = responseHeaderList(raw, ctx.responseHeaderLines !== '');
      list.push('x-request-id', ctx.requestId);
      const head = new HookHead(statusCode, false, list);
      if (extra !== undefined) for (let i = 0; i < extra.length; i += 2) head.set(extra[i]!, extra[i + 1]!);
      runResponseHooks(ctx.hooks, ctx, head);
      res.trustedHeaders = ctx.responseHeaderLines;
      res.writeHead(statusCode, head.fields());
      const type = head.get('content-type');
      if (typeof type === 'string' && type.startsWith('text/event-stream')) res.flushHeaders();
    }
    return true;
  }

  onData(chunk: Buffer): boolean {
    if (this.discarded) return true;
    const ctx = this.ctx;
    ctx.bytesOut += chunk.length;
    const res = ctx.res;
    if (res.destroyed) return true;
    this.touched = true;
    if (res.write(chunk)) return true;
    this.paused = true; // no idle time while the client holds the body back
    res.once('drain', () => {
      this.paused = false;
      this.touched = true;
      this.resumeUpstream!();
    });
    return false; // undici pauses the upstream socket until resume()
  }

  onComplete(): void {
    this.deadlines?.unwatch(this);
    if (this.discarded) return;
    this.finished = true;
    this.target.active--;
    this.ctx.upstreamEnd = performance.now();
    this.ctx.res.end();
  }

  onError(err: Error): void {
    this.deadlines?.unwatch(this);
    if (this.finished) return;
    this.finished = true;
    this.target.active--;
    const ctx = this.ctx;
    ctx.upstreamEnd = performance.now();
    if (this.discarded) return; // the abort of a response dropped for a retry
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
    const tries = this.tries;
    if (tries !== undefined && !ctx.res.headersSent) {
      const reason = retryReason(tries.policy, kind, (err as NodeJS.ErrnoException).code);
      if (reason !== undefined && mayRetry(ctx, tries, this.events)) {
        retryLater(ctx, tries, this.events, reason);
        return;
      }
    }
    if (ctx.res.headersSent) {
      // Too late for a 502: cut the client connection so it cannot mistake a truncated body for a whole one.
      ctx.res.destroy();
      return;
    }
    replyError(ctx, new GatewayError(upstreamErrorCode(kind)));
  }
}

/** Whether one more try is allowed: tries left, the client still there, the upstream's budget not spent. */
function mayRetry(ctx: RequestContext, tries: Tries, events: UpstreamEvents): boolean {
  if (ctx.done || tries.tried.length > tries.policy.attempts) return false;
  if (tries.policy.budget.withdraw(performance.now())) return true;
  events.onRetryBudgetExhausted?.(ctx);
  return false;
}

/** Wait the backoff, then send the request again, to another target when there is one. */
function retryLater(ctx: RequestContext, tries: Tries, events: UpstreamEvents, reason: RetryReason): void {
  events.onRetry?.(ctx, reason);
  const timer = setTimeout(() => {
    if (ctx.done) return;
    const upstream = tries.route.upstream;
    let target = upstream.balancer.pick();
    for (let i = 1; i < upstream.targets.length && target !== undefined && tries.tried.includes(target); i++) target = upstream.balancer.pick();
    if (target === undefined) {
      replyError(ctx, new GatewayError('GW_ERR_NO_HEALTHY_TARGET', `No target of upstream "${upstream.name}" is available.`));
      return;
    }
    send(ctx, tries.route, target, tries.headers, events, tries.body, undefined, tries);
  }, backoffDelay(tries.policy, tries.tried.length));
  ctx.proxy = { abort: () => clearTimeout(timer) };
}

/** One try: dispatch through the target's pool with a handler that streams the answer back. */
function send(
  ctx: RequestContext,
  route: CompiledRoute,
  target: Target,
  headers: string[],
  events: UpstreamEvents,
  body: Dispatcher.DispatchOptions['body'],
  limit: BodyLimit | undefined,
  tries: Tries | undefined,
): void {
  ctx.target = target;
  ctx.attempts++;
  tries?.tried.push(target);
  const path = target.basePath + (ctx.upstreamPath === '' ? route.rewrite(ctx.path, ctx.params) : ctx.upstreamPath) + ctx.query;
  const perTry = tries?.policy.perTryTimeout ?? 0;
  const headMs = perTry > 0 ? Math.min(perTry, route.responseTimeout || perTry) : route.responseTimeout;
  const deadlines = events.deadlines;
  const handler = new ProxyHandler(ctx, target, events, limit, tries, headMs, route.idleTimeout, deadlines);
  ctx.proxy = handler;
  target.active++;
  ctx.upstreamStart = performance.now();
  // With the gateway's sweep, undici arms no timer of its own (0 turns them off).
  target.pool.dispatch(
    deadlines !== undefined
      ? { path, method: ctx.method, headers, body, headersTimeout: 0, bodyTimeout: 0 }
      : { path, method: ctx.method, headers, body, headersTimeout: headMs, bodyTimeout: route.idleTimeout },
    handler,
  );
}

/** Read a small request body whole, so a retry can send it again; then go on. */
function keepBody(ctx: RequestContext, then: (body: Buffer) => void): void {
  const req = ctx.req;
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.once('end', () => {
    if (!ctx.done) then(Buffer.concat(chunks));
  });
  req.once('error', () => ctx.res.destroy());
  if (ctx.expectContinue) ctx.res.writeContinue();
}

/** The route's balancer picks a target; none available is a 503 answered here (undefined returned). */
export function pickTarget(ctx: RequestContext, route: CompiledRoute): Target | undefined {
  const upstream = route.upstream;
  const target = upstream.balancer.pick();
  ctx.upstreamName = upstream.name;
  if (target === undefined) replyError(ctx, new GatewayError('GW_ERR_NO_HEALTHY_TARGET', `No target of upstream "${upstream.name}" is available.`));
  return target;
}

/** Forward the request to a target chosen by the route's balancer (the pipeline's terminal step). */
export function forward(ctx: RequestContext, route: CompiledRoute, headers: string[], events: UpstreamEvents): void {
  const target = pickTarget(ctx, route);
  if (target === undefined) return;
  const retry = route.retry;
  if (retry !== undefined) {
    retry.budget.deposit();
    // Retried only when the request can be sent again as it was: an allowed method, and no body or one small enough to keep.
    if (retry.methods.has(ctx.method) && (!ctx.hasBody || (ctx.contentLength >= 0 && ctx.contentLength <= retry.maxBodySize))) {
      const tries = (body: Buffer | null): Tries => ({ policy: retry, route, headers, body, tried: [] });
      if (!ctx.hasBody) send(ctx, route, target, headers, events, null, undefined, tries(null));
      else {
        ctx.bytesIn = ctx.contentLength;
        keepBody(ctx, (body) => send(ctx, route, target, headers, events, body, undefined, tries(body)));
      }
      return;
    }
  }
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
  send(ctx, route, target, headers, events, body, limit, undefined);
}
