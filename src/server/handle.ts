/**
 * The request entry: read the current snapshot once, check the raw request, normalise and match,
 * run the route's policies, forward. Every refusal is a problem+json reply with a stable code.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { GatewayResponse } from './response.js';
import { isIP, type Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { Logger } from 'pino';
import { GatewayError } from '../errors.js';
import { runDoneHooks, runRequestHooks, type ChainDone } from '../pipeline/chain.js';
import type { LocalReply } from '../pipeline/contract.js';
import { RequestContext } from '../pipeline/context.js';
import type { CompiledRoute, Snapshot } from '../router/compile.js';
import { refusalError, type RouteMatch } from '../router/match.js';
import { normaliseTarget } from '../router/normalise.js';
import { forward } from '../proxy/forward.js';
import { openTunnel, type TunnelHost } from '../proxy/tunnel.js';
import { clientCertSubject } from './tls.js';
import type { RequestTracer } from '../observe/tracing/tracer.js';
import { hostName, isWellFormedRequestId, scanRequestHeaders } from '../proxy/headers.js';
import { canonicalIp, forwardedHopAddress, type TrustedProxies } from '../util/ip.js';
import { replyError, sendReply } from './respond.js';

export interface HandlerHost extends Omit<TunnelHost, 'exchangeOver'> {
  /** The snapshot in force; read once per request. */
  readonly snapshot: Snapshot;
  readonly logger: Logger;
  readonly draining: boolean;
  /** W3C trace context (undefined when tracing is off). */
  readonly tracer?: RequestTracer | undefined;
  /** server.tls.clientCa is set: read the verified client certificate's subject. */
  readonly clientCerts?: boolean;
  /** Counted per snapshot: a replaced snapshot is released once its last request finished. */
  requestStarted(snapshot: Snapshot): void;
  requestFinished(snapshot: Snapshot): void;
}

/** The one property the gateway adds to a ServerResponse (one hidden-class transition, not three). */
const CTX = Symbol('gateway.ctx');
interface Tracked {
  ctx: RequestContext;
  snapshot: Snapshot;
  host: HandlerHost;
}
type WithCtx = GatewayResponse & { [CTX]?: Tracked };

/**
 * The client address: the peer, or — only when the peer is a trusted proxy — the right-most
 * X-Forwarded-For entry that is not a trusted proxy itself. An entry that is not an IP address ends
 * the walk at the last address a trusted proxy vouched for: what lies left of it is the client's say.
 */
export function clientAddress(peer: string, forwardedFor: string | undefined, trusted: TrustedProxies): string {
  if (forwardedFor === undefined || !trusted.has(peer)) return peer;
  const hops = forwardedFor.split(',');
  let last = peer;
  for (let i = hops.length - 1; i >= 0; i--) {
    const hop = forwardedHopAddress(hops[i]!);
    if (isIP(hop) === 0) return last;
    if (!trusted.has(hop)) return hop;
    last = hop;
  }
  return last;
}

const PEER = Symbol('gateway.peer');

/** The peer's canonical address, worked out once per connection (keep-alive serves many requests). */
function peerAddress(socket: Socket & { [PEER]?: string }): string {
  return (socket[PEER] ??= canonicalIp(socket.remoteAddress ?? ''));
}

function sameAuthority(a: string, b: string): boolean {
  const strip = (x: string) => (x.endsWith(':80') ? x.slice(0, -3) : x.endsWith(':443') ? x.slice(0, -4) : x);
  return strip(a.toLowerCase()) === strip(b.toLowerCase());
}

/** A bug in the gateway's own request path: answer 500 (or close) and log it; never an unhandled rejection. */
function failedInternally(ctx: RequestContext, err: unknown): void {
  ctx.log.error({ event: 'request.error', err }, 'request handling failed');
  replyError(ctx, err instanceof GatewayError ? err : new GatewayError('GW_ERR_INTERNAL'));
}

/** Runs once per request when the response is done or the connection closed first (or a tunnel closed). */
function onResponseClose(this: WithCtx): void {
  const { ctx, snapshot, host } = this[CTX]!;
  if (ctx.done) return;
  ctx.done = true;
  if (!this.writableFinished && ctx.tunnel === undefined) {
    ctx.proxy?.abort();
    if (ctx.status === 0 || !this.headersSent) ctx.status = 499; // nginx's "client closed request"
  }
  if (ctx.hooks.done.length > 0) runDoneHooks(ctx.hooks, ctx);
  for (const observer of snapshot.observers) {
    try {
      observer.onDone(ctx);
    } catch (err) {
      ctx.log.error({ event: 'observer.error', err }, 'request observer failed');
    }
  }
  host.requestFinished(snapshot);
}

/** A WebSocket tunnel closed: the exchange is over (done hooks, observers, in-flight count). */
export function exchangeOver(ctx: RequestContext): void {
  onResponseClose.call(ctx.res as WithCtx);
}

/** Whether an Upgrade header asks for WebSocket (RFC 6455 §4.1: case-insensitive, may be one of a list). */
function asksWebSocket(upgrade: string): boolean {
  return /(?:^|,)\s*websocket\s*(?:,|$)/i.test(upgrade);
}

export type RequestEntry = (req: IncomingMessage, res: GatewayResponse, expectContinue?: boolean, upgradeHead?: Buffer) => void;

export function createHandler(host: HandlerHost): RequestEntry {
  const tunnelHost: TunnelHost = { tunnels: host.tunnels, onUpstreamError: (c, t, k, e) => host.onUpstreamError(c, t, k, e), exchangeOver };

  /** The terminal step: the proxy, or for a WebSocket handshake the tunnel. */
  function terminal(ctx: RequestContext, route: CompiledRoute, headers: string[]): void {
    if (ctx.upgrade === undefined) forward(ctx, route, headers, host);
    else openTunnel(ctx, route, headers, tunnelHost);
  }

  /** The end of the route's chain: a local reply, or the terminal step — the proxy. */
  function proceed(ctx: RequestContext, reply: LocalReply | GatewayError | undefined): void {
    if (reply !== undefined) {
      sendReply(ctx, reply);
      return;
    }
    try {
      terminal(ctx, ctx.route!, ctx.upstreamHeaders!);
    } catch (err) {
      failedInternally(ctx, err);
    }
  }

  /** After the pre-route hooks: their reply, or on to matching with the snapshot the request started on. */
  function afterPreRoute(ctx: RequestContext, reply: LocalReply | GatewayError | undefined): void {
    if (reply !== undefined) {
      sendReply(ctx, reply);
      return;
    }
    try {
      routeRequest(ctx, (ctx.res as WithCtx)[CTX]!.snapshot);
    } catch (err) {
      failedInternally(ctx, err);
    }
  }

  return function handle(req: IncomingMessage, res: GatewayResponse, expectContinue = false, upgradeHead?: Buffer): void {
    const snapshot = host.snapshot;
    const ctx = new RequestContext(req, res, host.logger);
    (res as WithCtx)[CTX] = { ctx, snapshot, host };
    host.requestStarted(snapshot);
    res.on('close', onResponseClose); // fires once; `on` spares the once-wrapper per request
    try {
      handleRequest(ctx, snapshot, expectContinue, upgradeHead);
    } catch (err) {
      failedInternally(ctx, err);
    }
  };

  function handleRequest(ctx: RequestContext, snapshot: Snapshot, expectContinue: boolean, upgradeHead: Buffer | undefined): void {
    const req = ctx.req;
    ctx.expectContinue = expectContinue;
    const peer = peerAddress(req.socket);
    const trusted = snapshot.trustedProxies.has(peer);
    ctx.peerIp = peer;
    ctx.peerTrusted = trusted;

    // The route decides preserveHost, but it is not known yet: keep Host out now, add it back later.
    const scan = scanRequestHeaders(req.rawHeaders, snapshot.strippedRequestHeaders, false, trusted);
    ctx.requestId = scan.requestId !== undefined && isWellFormedRequestId(scan.requestId) ? scan.requestId : randomUUID();
    ctx.clientIp = trusted ? clientAddress(peer, scan.forwardedFor, snapshot.trustedProxies) : peer;
    if (scan.userAgent !== undefined) ctx.userAgent = scan.userAgent;
    // Before any refusal, so every access line has a trace id; replaces the client's traceparent/tracestate.
    host.tracer?.begin(ctx, scan.headers);

    // While draining, requests already on open connections are served, then those connections close.
    if (host.draining) ctx.res.shouldKeepAlive = false;
    if (req.rawHeaders.length > snapshot.maxRawHeaders) {
      return replyError(ctx, new GatewayError('GW_ERR_HEADERS_TOO_MANY', `More than ${snapshot.maxRawHeaders / 2} header fields.`));
    }
    if (scan.duplicate !== undefined) {
      return replyError(ctx, new GatewayError('GW_ERR_HEADER_DUPLICATE', `More than one ${scan.duplicate} header.`));
    }
    const target = normaliseTarget(req.url ?? '/', snapshot.config.server.paths);
    if (typeof target === 'string') return replyError(ctx, new GatewayError(target));
    ctx.path = target.path;
    ctx.query = target.query;
    if (target.authority !== undefined && scan.host !== undefined && !sameAuthority(target.authority, scan.host)) {
      return replyError(ctx, new GatewayError('GW_ERR_HOST_MISMATCH'));
    }
    if (scan.authority !== undefined) {
      // HTTP/2: :authority is the host (RFC 9113 §8.3.1); a Host field that disagrees is refused.
      if (scan.host !== undefined && !sameAuthority(scan.authority, scan.host)) {
        return replyError(ctx, new GatewayError('GW_ERR_HOST_MISMATCH', 'The Host header disagrees with :authority.'));
      }
      scan.host = scan.authority;
    }
    if (upgradeHead !== undefined) {
      // An Upgrade request (the listener's 'upgrade' event): WebSocket opens a tunnel on routes that
      // allow it; any other protocol is served as a plain request, without a body (the connection closes after).
      const websocket = scan.upgrade !== undefined && asksWebSocket(scan.upgrade);
      if (scan.chunked || (scan.contentLength !== undefined && scan.contentLength !== '0')) {
        return replyError(ctx, new GatewayError('GW_ERR_BAD_REQUEST', 'An Upgrade request may not carry a body.'));
      }
      if (websocket) {
        if (ctx.method !== 'GET') return replyError(ctx, new GatewayError('GW_ERR_BAD_REQUEST', 'A WebSocket handshake is a GET request (RFC 6455 §4.1).'));
        ctx.upgrade = { socket: req.socket, head: upgradeHead };
      }
    }
    if (host.clientCerts === true && (req.socket as TLSSocket).encrypted) ctx.clientCert = clientCertSubject(req.socket as TLSSocket);
    const name = hostName(target.authority ?? scan.host ?? '');
    if (name === undefined) return replyError(ctx, new GatewayError('GW_ERR_HOST_INVALID'));
    ctx.host = name;

    const headers = scan.headers;
    const proto = (req.socket as TLSSocket).encrypted ? 'https' : 'http';
    if (trusted) {
      headers.push(
        'x-forwarded-for', scan.forwardedFor !== undefined ? `${scan.forwardedFor}, ${peer}` : peer,
        'x-forwarded-proto', scan.forwardedProto ?? proto,
      );
      const fwdHost = scan.forwardedHost ?? scan.host;
      if (fwdHost !== undefined) headers.push('x-forwarded-host', fwdHost);
      if (scan.forwarded !== undefined) headers.push('forwarded', scan.forwarded);
    } else {
      headers.push('x-forwarded-for', peer, 'x-forwarded-proto', proto);
      if (scan.host !== undefined) headers.push('x-forwarded-host', scan.host);
    }
    headers.push('x-request-id', ctx.requestId);
    ctx.upstreamHeaders = headers;
    if (scan.contentLength !== undefined) {
      ctx.contentLength = Number(scan.contentLength);
      ctx.hasBody = ctx.contentLength > 0;
    } else ctx.hasBody = scan.chunked;
    // The route decides preserveHost; it is not known yet.
    if (scan.host !== undefined) ctx.hostHeader = scan.host;

    const pre = snapshot.preRoute;
    if (pre.request.length === 0) routeRequest(ctx, snapshot);
    else {
      ctx.hooks = pre;
      runRequestHooks(pre, ctx, afterPreRoute);
    }
  }

  /** A preflight matched only for its Access-Control-Request-Method: a policy (cors) answers it, or it is the 405 it was. */
  function proceedPreflight(ctx: RequestContext, reply: LocalReply | GatewayError | undefined): void {
    proceed(ctx, reply ?? methodNotAllowed(ctx, (ctx.res as WithCtx)[CTX]!.snapshot));
  }

  /** Match the route, check what the route limits, run its chain (after the pre-route hooks), then the proxy. */
  function routeRequest(ctx: RequestContext, snapshot: Snapshot): void {
    let found = snapshot.router.match(ctx.method, ctx.host, ctx.path, ctx.req);
    let done: ChainDone = proceed;
    if (found?.route === undefined) {
      const preflight = found?.status === 405 ? matchPreflight(ctx, snapshot) : undefined;
      if (preflight === undefined) return replyError(ctx, refusalError(found, ctx.method, ctx.path));
      found = preflight;
      done = proceedPreflight;
    }
    const route: CompiledRoute = found.route;
    ctx.route = route;
    ctx.params = found.params;
    ctx.hooks = route.hooks;
    if (ctx.upgrade !== undefined && !route.websocket) {
      return replyError(ctx, new GatewayError('GW_ERR_UPGRADE_REFUSED', `Route ${route.name} does not accept WebSocket upgrades.`));
    }
    if (ctx.method === 'TRACE' && route.refuseTrace) {
      return replyError(ctx, new GatewayError('GW_ERR_METHOD_NOT_ALLOWED', 'TRACE is not allowed here.', { allow: route.allowWithoutTrace }));
    }
    if (ctx.contentLength > route.maxBodySize) {
      return replyError(ctx, new GatewayError('GW_ERR_BODY_TOO_LARGE', `The body is ${ctx.contentLength} bytes; this route accepts at most ${route.maxBodySize}.`));
    }
    const headers = ctx.upstreamHeaders!;
    if (route.preserveHost && ctx.hostHeader !== '') headers.push('host', ctx.hostHeader);
    const from = snapshot.preRoute.request.length;
    if (route.hooks.request.length === from) terminal(ctx, route, headers);
    else runRequestHooks(route.hooks, ctx, done, from);
  }
}

/** The 405 (or other refusal) the request had before its preflight was matched by the asked-for method. */
function methodNotAllowed(ctx: RequestContext, snapshot: Snapshot): GatewayError {
  const found = snapshot.router.match(ctx.method, ctx.host, ctx.path, ctx.req);
  return refusalError(found?.route === undefined ? found : undefined, ctx.method, ctx.path);
}

/**
 * A CORS preflight (OPTIONS with Origin and Access-Control-Request-Method) asks about the method in
 * Access-Control-Request-Method, not about OPTIONS: a route that does not list OPTIONS must still get
 * to answer it, so match again with the asked method. Undefined when that matches nothing either.
 */
function matchPreflight(ctx: RequestContext, snapshot: Snapshot): RouteMatch<CompiledRoute> | undefined {
  if (ctx.method !== 'OPTIONS' || ctx.header('origin') === undefined) return undefined;
  const asked = ctx.header('access-control-request-method');
  if (asked === undefined || asked === 'OPTIONS') return undefined;
  const found = snapshot.router.match(asked, ctx.host, ctx.path, ctx.req);
  // Only a route whose own cors policy answers preflights: any other keeps its 405 (not a 401 from its auth).
  return found?.route !== undefined && found.route.policies.includes('cors') ? found : undefined;
}
