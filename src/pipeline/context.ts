import type { IncomingMessage } from 'node:http';
import type { GatewayResponse } from '../server/response.js';
import type { Logger } from 'pino';
import type { ErrorCode } from '../errors.js';
import type { CompiledRoute } from '../router/compile.js';
import type { Target } from '../upstream/upstream.js';
import { removeHeaders } from '../util/header-list.js';
import { NO_HOOKS, type HookLists, type PolicyContext, type Principal, type RouteInfo } from './contract.js';

export type { Principal } from './contract.js';

/**
 * Everything one request carries through the pipeline: the policy contract's PolicyContext plus what
 * the gateway's own steps keep. A class with every field set in the constructor, so V8 keeps one
 * hidden class for all requests.
 */
export class RequestContext implements PolicyContext {
  readonly req: IncomingMessage;
  readonly res: GatewayResponse;
  /** performance.now() when the request arrived. */
  readonly start: number;
  /** ISO time the request arrived (Date.now()). */
  readonly startedAt: number;
  requestId = '';
  /** W3C trace id (32 hex), when the tracing policy set one. */
  traceId = '';
  /** The caller's span id (parent-id of a valid incoming traceparent), '' when the gateway started the trace. */
  parentSpanId = '';
  /** The gateway's own span id when it records spans (OTLP export on), else ''. */
  spanId = '';
  /** The client's address after trustedProxies (X-Forwarded-For is believed only from them). */
  clientIp = '';
  /** The TCP peer's address. */
  peerIp = '';
  peerTrusted = false;
  method: string;
  /** The normalised path: what was matched and what the upstream receives. */
  path = '';
  /** Query string with its `?`, or ''. */
  query = '';
  /** The client's User-Agent as sent, '' when none (read once from the raw header scan). */
  userAgent = '';
  /** Request host, lower-case, without port. */
  host = '';
  /** The Host header as the client sent it ('' when none), for routes with preserveHost. */
  hostHeader = '';
  route: CompiledRoute | undefined = undefined;
  params: readonly string[] = [];
  principal: Principal | undefined = undefined;
  /** Headers policies add to the upstream request (name lower-case, value). */
  upstreamHeaders: string[] | undefined = undefined;
  /** Headers policies add to the client response, checked by Node like any other (name lower-case, value). */
  responseHeaders: string[] | undefined = undefined;
  /**
   * Header lines policies add to the client response that Node writes without checking them
   * (server/response.ts): each `name: value\r\n`, built from parts isTrustedLine() accepted when the
   * config was compiled and from digits (the rate-limit fields).
   */
  responseHeaderLines = '';

  status = 0;
  errorCode: ErrorCode | undefined = undefined;
  /** Upstream group and target chosen, if the request got that far. */
  upstreamName = '';
  target: Target | undefined = undefined;
  upstreamStart = 0;
  /** Tries sent upstream (more than 1 when retried); 0 when the request was not forwarded. */
  attempts = 0;
  upstreamHeadersAt = 0;
  upstreamEnd = 0;
  bytesIn = 0;
  bytesOut = 0;
  /** True when an enforced rate limit rejected the request (shadow limits only log). */
  rateLimited = false;
  /** Why authentication failed (missing, expired, invalid_signature, insufficient_scope …), for logs and metrics. */
  authFailure: string | undefined = undefined;
  /** Content-Length sent by the client, -1 when absent (chunked or no body). */
  contentLength = -1;
  hasBody = false;
  expectContinue = false;
  /** Set once the response finished or the connection closed; observers run exactly once. */
  done = false;
  /** The upstream exchange in progress, so a client abort can cancel it. */
  proxy: { abort(): void } | undefined = undefined;
  /** The verified TLS client certificate's subject (mutual TLS), '' when none. */
  clientCert = '';
  /** A WebSocket handshake (Upgrade: websocket): the terminal step opens a tunnel instead of forwarding. */
  upgrade: { readonly socket: import('node:net').Socket; readonly head: Buffer } | undefined = undefined;
  /** Set once a tunnel is open: the exchange ends when the tunnel closes, not with the response. */
  tunnel: { close(code?: number): void } | undefined = undefined;
  /** Per-policy scratch space, keyed by policy name. */
  state: Record<string, unknown> | undefined = undefined;
  /** The policy whose request hook answered the request (a local reply, a refusal or a failure); '' when none did. */
  repliedBy = '';
  /** A path a policy set for the upstream (instead of the route's rewrite of ctx.path); '' for none. */
  upstreamPath = '';
  /**
   * The hooks in force: the snapshot's pre-route hooks until a route matched, then the route's
   * (which include the pre-route ones). Respond, forward and the done step read them here.
   */
  hooks: HookLists = NO_HOOKS;
  private logger: Logger | undefined = undefined;
  private readonly baseLogger: Logger;

  constructor(req: IncomingMessage, res: GatewayResponse, baseLogger: Logger) {
    this.req = req;
    this.res = res;
    this.start = performance.now();
    this.startedAt = Date.now();
    this.method = req.method ?? 'GET';
    this.baseLogger = baseLogger;
  }

  get routeInfo(): RouteInfo | undefined {
    return this.route;
  }

  header(name: string): string | undefined {
    const list = this.upstreamHeaders;
    if (list === undefined) {
      const v = this.req.headers[name];
      return Array.isArray(v) ? v[0] : v;
    }
    for (let i = 0; i < list.length; i += 2) if (list[i] === name) return list[i + 1];
    return undefined;
  }

  param(name: string): string | undefined {
    const at = this.route?.paramNames.indexOf(name) ?? -1;
    return at >= 0 ? this.params[at] : undefined;
  }

  setRequestHeader(name: string, value: string): void {
    this.removeUpstreamHeader(name);
    this.addUpstreamHeader(name, value);
  }

  setPath(path: string): void {
    if (path.charCodeAt(0) !== 47) throw new TypeError(`setPath: a path starts with "/", got ${JSON.stringify(path)}`);
    if (/[\x00-\x20\x7f#?]/.test(path)) throw new TypeError('setPath: the path has a character that needs percent-encoding');
    if (this.route === undefined) this.path = path;
    else this.upstreamPath = path;
  }

  setQuery(query: string): void {
    if (/[\x00-\x20\x7f#]/.test(query)) throw new TypeError('setQuery: the query has a character that needs percent-encoding');
    this.query = query === '' || query.charCodeAt(0) === 63 ? query : '?' + query;
  }

  /** A pino child logger bound to this request, made on first use (most requests never need one). */
  get log(): Logger {
    return (this.logger ??= this.baseLogger.child({ requestId: this.requestId, traceId: this.traceId || undefined, route: this.route?.name }));
  }

  addUpstreamHeader(name: string, value: string): void {
    (this.upstreamHeaders ??= []).push(name, value);
  }

  /** Remove every upstream header of this (lower-case) name, e.g. Authorization with stripAuthorization. */
  removeUpstreamHeader(name: string): void {
    if (this.upstreamHeaders !== undefined) removeHeaders(this.upstreamHeaders, name);
  }

  /** Add a header (lower-case name) to the client response; a flat [name, value, …] list, set once each. */
  setResponseHeader(name: string, value: string): void {
    (this.responseHeaders ??= []).push(name, value);
  }

  /** Add complete header lines to the client response, unchecked (see responseHeaderLines). */
  addResponseHeaderLines(lines: string): void {
    this.responseHeaderLines += lines;
  }
}
