/** The proxy listener: Node http server with timeouts and limits from config, and clean answers to unparsable requests. */
import http, { IncomingMessage } from 'node:http';
import https from 'node:https';
import http2, { type Http2Session } from 'node:http2';
import net, { type Server, type Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { GatewayH2Response } from './h2.js';
import type { TlsTerminator } from './tls.js';
import type { Logger } from 'pino';
import { MAX_HEADER_COUNT, type ServerConfig } from '../config/schema.js';
import { parseDuration, parseSize } from '../util/units.js';
import { problemJson } from './respond.js';
import type { ErrorCode } from '../errors.js';
import { GatewayResponse } from './response.js';

type Handle = (req: IncomingMessage, res: GatewayResponse, expectContinue?: boolean) => void;
/** The 'upgrade' event: an Upgrade request (WebSocket) with its socket and any bytes read past the head. */
export type UpgradeEntry = (req: IncomingMessage, socket: Socket, head: Buffer) => void;

/** A whole response for a raw socket (no ServerResponse exists for an unparsable request). */
function rawProblem(status: number, reason: string, code: ErrorCode, detail: string): string {
  const body = problemJson(code, detail, undefined, status, reason);
  return (
    `HTTP/1.1 ${status} ${reason}\r\nContent-Type: application/problem+json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n` +
    `Connection: close\r\n\r\n${body}`
  );
}

/**
 * Node enforces requestTimeout and headersTimeout only when it sweeps the connections, every
 * connectionsCheckingInterval (30 s by default): a 1 s timeout fired up to 31 s late. Sweep at a tenth
 * of the shortest timeout, between 50 ms and 1 s, so each is enforced within 10% (or 1 s) of its value.
 */
export function connectionsCheckingInterval(cfg: ServerConfig): number {
  const timeouts = [parseDuration(cfg.requestTimeout)!, parseDuration(cfg.headersTimeout)!].filter((t) => t > 0);
  if (timeouts.length === 0) return 30_000;
  return Math.min(1000, Math.max(50, Math.floor(Math.min(...timeouts) / 10)));
}

export type ProxyServer = http.Server<typeof IncomingMessage, typeof GatewayResponse>;

/** The last response started on a socket (Node answers pipelined requests in order, so it finishes last). */
const LATEST = Symbol('gateway.latestResponse');
type TrackedSocket = Socket & { [LATEST]?: GatewayResponse };

/**
 * A request Node could not parse (400, 431) or did not receive in time (408) is answered with raw
 * bytes on the socket. That is only right when no response is in progress there: behind a pipelined
 * request still being answered, the bytes would land inside that response's body (or be read as its
 * head). Then the connection is closed once the response in progress is complete, without a reply.
 */
function responseInProgress(socket: TrackedSocket): GatewayResponse | undefined {
  const res = socket[LATEST];
  return res !== undefined && !res.writableFinished && !res.destroyed ? res : undefined;
}

/** A listening server and how to drain and close its connections (node:http2 servers have no closeAllConnections). */
export interface ProxyListener {
  readonly server: Server;
  /**
   * Start draining: stop accepting; from now on every HTTP/1.x response written — also of requests
   * already under way — carries Connection: close, and HTTP/2 sessions get GOAWAY (they finish the
   * streams they have). Resolves once every connection has ended.
   */
  drain(): Promise<void>;
  /** Close idle keep-alive connections; HTTP/2 sessions get GOAWAY and finish their streams. */
  closeIdle(): void;
  /** Close every connection now (after the grace period). */
  closeAll(): void;
  /** Take over the limits a reload may change (the rest is fixed at start). */
  apply(cfg: ServerConfig): void;
}

/** Responses written on a connection so far (for maxRequestsPerConnection). */
const SERVED = Symbol('gateway.served');
type CountedSocket = Socket & { [SERVED]?: number };

/**
 * Per listener: its HTTP/1.x response class, whose writeHead says Connection: close while draining
 * and once a connection served maxRequestsPerConnection responses. A keep-alive client then stops
 * sending on this connection instead of racing the close (Envoy's drain); it is decided when the
 * head is written, so it covers requests already in flight at SIGTERM. Not Node's
 * maxRequestsPerSocket: that one says Connection: close but keeps the connection open (and answers
 * 503 to what comes next); here the connection really ends after the response.
 * The check is installed only while needed (draining, or maxRequestsPerConnection set): until then
 * responses use GatewayResponse's writeHead with no extra call.
 */
interface ResponseControl {
  readonly Response: typeof GatewayResponse;
  drain(): void;
  setMaxRequests(n: number): void;
}

function responseControl(): ResponseControl {
  const writeHead = GatewayResponse.prototype.writeHead;
  let draining = false;
  let maxRequests = 0;
  class ListenerResponse extends GatewayResponse {}
  const checkedWriteHead = function (this: GatewayResponse, ...args: Parameters<typeof writeHead>) {
    if (draining) this.shouldKeepAlive = false;
    else if (maxRequests > 0) {
      const socket = this.req.socket as CountedSocket;
      if ((socket[SERVED] = (socket[SERVED] ?? 0) + 1) >= maxRequests) this.shouldKeepAlive = false;
    }
    return writeHead.apply(this, args);
  } as typeof writeHead;
  // Assigned, never deleted (a delete can turn the prototype into a slow dictionary-mode object).
  let installed = false;
  const install = () => {
    const need = draining || maxRequests > 0;
    if (need === installed) return;
    installed = need;
    ListenerResponse.prototype.writeHead = need ? checkedWriteHead : writeHead;
  };
  return {
    Response: ListenerResponse,
    drain() {
      draining = true;
      install();
    },
    setMaxRequests(n) {
      maxRequests = n;
      install();
    },
  };
}

/** net.Server's limit: a connection beyond it is closed at once (and 'drop' is emitted, counted by the caller). */
function applyMaxConnections(server: Server, cfg: ServerConfig): void {
  server.maxConnections = cfg.maxConnections === 0 ? Infinity : cfg.maxConnections;
}

/** The HTTP/1.x limits a reload may change (http.Server, and the HTTP/1.1 side of an ALPN listener). */
function applyHttpTimeouts(server: Server, cfg: ServerConfig): void {
  const h1 = server as unknown as Pick<http.Server, 'headersTimeout' | 'requestTimeout' | 'keepAliveTimeout'>;
  h1.headersTimeout = parseDuration(cfg.headersTimeout)!;
  h1.requestTimeout = parseDuration(cfg.requestTimeout)!;
  h1.keepAliveTimeout = parseDuration(cfg.keepAliveTimeout)!;
}

/**
 * Stop accepting with net.Server's close, not http.Server's: that one (Node >= 19) also closes idle
 * keep-alive connections at once, and a client may be writing its next request on one that very
 * moment — a request lost without an answer. Idle connections are closed a moment later by the
 * gateway (closeIdle), after busy clients have been told Connection: close.
 */
function stopAccepting(server: Server): Promise<void> {
  return new Promise<void>((resolve) => net.Server.prototype.close.call(server, () => resolve()));
}

function httpOptions(cfg: ServerConfig, Response: typeof GatewayResponse = GatewayResponse) {
  return {
    IncomingMessage,
    ServerResponse: Response,
    maxHeaderSize: parseSize(cfg.maxHeaderSize)!,
    requestTimeout: parseDuration(cfg.requestTimeout)!,
    headersTimeout: parseDuration(cfg.headersTimeout)!,
    keepAliveTimeout: parseDuration(cfg.keepAliveTimeout)!,
    connectionsCheckingInterval: connectionsCheckingInterval(cfg),
    requireHostHeader: true,
    // Node must not merge or drop duplicate headers silently: handle.ts reads rawHeaders itself.
    joinDuplicateHeaders: false,
  };
}

/** node:http2 options: the stream and flood limits (CVE-2019-9512..9518, CVE-2023-44487). */
function http2Options(cfg: ServerConfig) {
  return {
    maxSessionInvalidFrames: cfg.http2.maxSessionInvalidFrames,
    maxSessionRejectedStreams: cfg.http2.maxSessionRejectedStreams,
    // PING and SETTINGS floods: nghttp2 stops reading once this many control frames await sending.
    maxOutstandingPings: 10,
    maxOutstandingSettings: 10,
    maxHeaderListSize: parseSize(cfg.maxHeaderSize)!,
    settings: { maxConcurrentStreams: cfg.http2.maxConcurrentStreams, maxHeaderListSize: parseSize(cfg.maxHeaderSize)!, enablePush: false },
    Http2ServerResponse: GatewayH2Response,
  };
}

/** The events every proxy listener answers the same way, HTTP/1.1 over TCP or TLS. */
/** The handler with the socket's latest response noted (see responseInProgress). */
function tracking(handle: Handle): Handle {
  return (req, res, expectContinue) => {
    // HTTP/1.x only: HTTP/2 has no pipelining, and its compat socket is a proxy of the session's.
    if (req.httpVersionMajor === 1) (req.socket as TrackedSocket)[LATEST] = res;
    handle(req, res, expectContinue);
  };
}

function wire(server: Server, handle: Handle, logger: Logger, upgrade: UpgradeEntry | undefined): void {
  const s = server as http.Server;
  // Node keeps only the first maxHeadersCount fields (2,000 by default) and drops the rest silently —
  // a late Content-Length or second Host included. Keep one more than any config allows, so a
  // request over server.maxHeaderCount is always seen as such (handle.ts answers 431); a reload may
  // change the limit without touching the listener.
  s.maxHeadersCount = MAX_HEADER_COUNT + 1;
  if (upgrade !== undefined) s.on('upgrade', upgrade);
  s.on('checkContinue', (req: IncomingMessage, res: GatewayResponse) => handle(req, res, true));
  s.on('connect', (_req: IncomingMessage, socket: Socket) => {
    socket.end(rawProblem(405, 'Method Not Allowed', 'GW_ERR_METHOD_NOT_ALLOWED', 'CONNECT tunnels are not supported.'));
  });
  s.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => onClientError(err, socket, logger));
}

/** Tracks the connections of a node:http2 server (sessions, and HTTP/1.1 sockets on an ALPN listener). */
function trackedHttp2(server: Server, logger: Logger, cfg: ServerConfig, onDrop: () => void, control: ResponseControl | undefined): ProxyListener {
  const sessions = new Set<Http2Session>();
  const sockets = new Set<Socket>();
  let draining = false;
  let maxRequests = 0;
  server.on('session', (session: Http2Session) => {
    sessions.add(session);
    session.once('close', () => sessions.delete(session));
    session.on('error', (err: NodeJS.ErrnoException) => logger.debug({ event: 'h2.session_error', code: err.code, reason: err.message }, 'HTTP/2 session error'));
    session.on('goaway', () => undefined);
    // maxRequestsPerConnection for HTTP/2: after that many streams the session gets GOAWAY (close()
    // sends it) and finishes the streams it has; the client opens a new connection for the next.
    let streams = 0;
    session.on('stream', () => {
      if (maxRequests > 0 && ++streams >= maxRequests && !session.closed) session.close();
    });
    if (draining) session.close();
  });
  server.on('secureConnection', (socket: TLSSocket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  server.on('drop', onDrop);
  const listener: ProxyListener = {
    server,
    drain() {
      draining = true;
      control?.drain();
      // GOAWAY is HTTP/2's drain signal: no new streams on this session, the open ones finish.
      for (const session of sessions) if (!session.closed) session.close();
      return stopAccepting(server);
    },
    closeIdle() {
      for (const session of sessions) if (!session.closed) session.close();
      const idle = (server as Partial<http.Server>).closeIdleConnections;
      if (typeof idle === 'function') idle.call(server);
    },
    closeAll() {
      for (const session of sessions) session.destroy();
      for (const socket of sockets) socket.destroy();
    },
    apply(next) {
      maxRequests = next.maxRequestsPerConnection;
      applyMaxConnections(server, next);
      // The HTTP/1.1 side of an ALPN listener takes its limits from these (as http.Server does).
      if (control !== undefined) {
        applyHttpTimeouts(server, next);
        control.setMaxRequests(next.maxRequestsPerConnection);
      }
    },
  };
  listener.apply(cfg);
  return listener;
}

function plainListener(
  server: Server & { closeIdleConnections(): void; closeAllConnections(): void },
  cfg: ServerConfig,
  onDrop: () => void,
  control: ResponseControl | undefined,
): ProxyListener {
  server.on('drop', onDrop);
  const listener: ProxyListener = {
    server,
    drain() {
      control?.drain();
      return stopAccepting(server);
    },
    closeIdle: () => server.closeIdleConnections(),
    closeAll: () => server.closeAllConnections(),
    apply(next) {
      applyHttpTimeouts(server, next);
      applyMaxConnections(server, next);
      control?.setMaxRequests(next.maxRequestsPerConnection);
    },
  };
  listener.apply(cfg);
  return listener;
}

/**
 * The HTTP/1.1 side of an ALPN listener is served by node:http's connection listener with the
 * http2 server as its server: it reads these server fields as an http.Server reads its options
 * (a header size over the limit is a 431; the header and request timeouts are checked at this
 * interval from 'listening' on). node:http2 takes none of them as options, so without this the
 * HTTP/1.1 clients of a TLS port got Node's defaults: 16 KiB of headers and a 30 s check interval.
 */
function http1Limits(server: net.Server, cfg: ServerConfig): void {
  const o = httpOptions(cfg);
  Object.assign(server, {
    maxHeaderSize: o.maxHeaderSize,
    connectionsCheckingInterval: o.connectionsCheckingInterval,
    requireHostHeader: o.requireHostHeader,
    joinDuplicateHeaders: o.joinDuplicateHeaders,
  });
  applyHttpTimeouts(server, cfg);
}

/** Counted (gateway_connections_dropped_total) by the caller, not logged: a flood of them must not flood the log. */
const NO_DROP_COUNT = (): void => undefined;

/**
 * The proxy listener: plain HTTP/1.1, or with TLS: HTTPS/1.1 and (unless http2.enabled is false)
 * HTTP/2 by ALPN on the same port. maxConnections, maxRequestsPerConnection and the drain apply to
 * all three (HTTP/2 sessions: GOAWAY).
 */
export function createProxyListener(
  cfg: ServerConfig,
  handle: Handle,
  logger: Logger,
  tls?: TlsTerminator,
  upgrade?: UpgradeEntry,
  onDrop: () => void = NO_DROP_COUNT,
): ProxyListener {
  const control = responseControl();
  if (tls === undefined) {
    const server = createProxyServer(cfg, handle, logger, upgrade, control.Response);
    return plainListener(server, cfg, onDrop, control);
  }
  if (!cfg.http2.enabled) {
    const tracked = tracking(handle);
    const server = https.createServer<typeof IncomingMessage, typeof GatewayResponse>({ ...httpOptions(cfg, control.Response), ...tls.serverOptions() }, tracked);
    tls.attach(server);
    wire(server, tracked, logger, upgrade);
    return plainListener(server, cfg, onDrop, control);
  }
  const h = tracking(handle) as unknown as (req: http2.Http2ServerRequest, res: http2.Http2ServerResponse) => void;
  const server = http2.createSecureServer(
    {
      ...tls.serverOptions(),
      ...http2Options(cfg),
      allowHTTP1: true,
      ALPNProtocols: ['h2', 'http/1.1'],
      Http1IncomingMessage: IncomingMessage,
      Http1ServerResponse: control.Response as unknown as typeof http.ServerResponse,
    },
    h,
  );
  http1Limits(server, cfg);
  tls.attach(server);
  wire(server, h as unknown as Handle, logger, upgrade);
  server.on('checkContinue', h);
  return trackedHttp2(server, logger, cfg, onDrop, control);
}

/** Cleartext HTTP/2 with prior knowledge (h2c), for internal traffic: no HTTP/1.1 here. */
export function createH2cListener(cfg: ServerConfig, handle: Handle, logger: Logger, onDrop: () => void = NO_DROP_COUNT): ProxyListener {
  const h = handle as unknown as (req: http2.Http2ServerRequest, res: http2.Http2ServerResponse) => void;
  const server = http2.createServer(http2Options(cfg), h);
  server.on('checkContinue', h);
  return trackedHttp2(server, logger, cfg, onDrop, undefined);
}

/**
 * server.redirectHttp: every request gets 308 to the same host and target on https:// (308, not
 * 301: the method and body are kept, RFC 9110 §15.4.9). Nothing is proxied from here.
 */
export function createRedirectListener(cfg: ServerConfig, httpsPort: () => number, logger: Logger, onDrop: () => void = NO_DROP_COUNT): ProxyListener {
  const server = http.createServer({ ...httpOptions(cfg), IncomingMessage: http.IncomingMessage, ServerResponse: http.ServerResponse }, (req, res) => {
    const host = req.headers.host;
    const target = req.url ?? '/';
    if (host === undefined || !/^[A-Za-z0-9.:[\]-]+$/.test(host) || target.charCodeAt(0) !== 47) {
      const body = problemJson('GW_ERR_BAD_REQUEST', 'A redirect to https:// needs a Host header and an origin-form target.', undefined);
      res.writeHead(400, { 'content-type': 'application/problem+json', 'content-length': Buffer.byteLength(body), connection: 'close' });
      res.end(body);
      return;
    }
    const port = httpsPort();
    const name = host.startsWith('[') ? host.slice(0, host.indexOf(']') + 1) : host.split(':')[0]!;
    const location = `https://${name}${port === 443 ? '' : `:${port}`}${target}`;
    res.writeHead(308, { location, 'content-length': 0, 'cache-control': 'no-store' });
    res.end();
  });
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => onClientError(err, socket, logger));
  return plainListener(server, cfg, onDrop, undefined);
}

function onClientError(err: NodeJS.ErrnoException, socket: Socket, logger: Logger): void {
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  const tooLarge = err.code === 'HPE_HEADER_OVERFLOW';
  const timeout = err.code === 'ERR_HTTP_REQUEST_TIMEOUT';
  const busy = responseInProgress(socket as TrackedSocket);
  logger.debug({ event: 'client.error', code: err.code, reason: err.message, responseInProgress: busy !== undefined }, 'unparsable request');
  if (busy !== undefined) {
    busy.once('close', () => socket.end());
    return;
  }
  socket.end(
    tooLarge
      ? rawProblem(431, 'Request Header Fields Too Large', 'GW_ERR_BAD_REQUEST', 'The request head is too large.')
      : timeout
        ? rawProblem(408, 'Request Timeout', 'GW_ERR_BAD_REQUEST', 'The request was not received in time.')
        : rawProblem(400, 'Bad Request', 'GW_ERR_BAD_REQUEST', 'The request could not be parsed.'),
  );
}

export function createProxyServer(cfg: ServerConfig, handle: Handle, logger: Logger, upgrade?: UpgradeEntry, Response: typeof GatewayResponse = GatewayResponse): ProxyServer {
  const tracked = tracking(handle);
  const server = http.createServer<typeof IncomingMessage, typeof GatewayResponse>(httpOptions(cfg, Response), tracked);
  wire(server, tracked, logger, upgrade);
  return server;
}

export function listen(server: Server, port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error) => reject(err);
    server.once('error', onError);
    server.listen(port, host, () => {
      server.off('error', onError);
      const addr = server.address();
      resolve(typeof addr === 'object' && addr !== null ? addr.port : port);
    });
  });
}

/**
 * The 'upgrade' event into the one request entry. A ServerResponse is bound to the raw socket so a
 * refusal (400, 401, 429 …) is written by the same reply writer as any other; once a tunnel opens
 * the response lets go of the socket. After a reply the connection closes (there is no parser left).
 */
export function upgradeEntry(handle: (req: IncomingMessage, res: GatewayResponse, expectContinue: boolean, upgradeHead: Buffer) => void): UpgradeEntry {
  return (req, socket, head) => {
    socket.on('error', () => socket.destroy());
    const res = new GatewayResponse(req);
    res.shouldKeepAlive = false;
    res.assignSocket(socket);
    res.once('finish', () => socket.end());
    handle(req, res, false, head);
  };
}
