/** The proxy listener: Node http server with timeouts and limits from config, and clean answers to unparsable requests. */
import http, { IncomingMessage } from 'node:http';
import type { Server, Socket } from 'node:net';
import type { Logger } from 'pino';
import { MAX_HEADER_COUNT, type ServerConfig } from '../config/schema.js';
import { parseDuration, parseSize } from '../util/units.js';
import { problemJson } from './respond.js';
import type { ErrorCode } from '../errors.js';
import { GatewayResponse } from './response.js';

type Handle = (req: IncomingMessage, res: GatewayResponse, expectContinue?: boolean) => void;

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

export function createProxyServer(cfg: ServerConfig, handle: Handle, logger: Logger): ProxyServer {
  const tracked: Handle = (req, res, expectContinue) => {
    (req.socket as TrackedSocket)[LATEST] = res;
    handle(req, res, expectContinue);
  };
  const server = http.createServer<typeof IncomingMessage, typeof GatewayResponse>(
    {
      IncomingMessage,
      ServerResponse: GatewayResponse,
      maxHeaderSize: parseSize(cfg.maxHeaderSize)!,
      requestTimeout: parseDuration(cfg.requestTimeout)!,
      headersTimeout: parseDuration(cfg.headersTimeout)!,
      keepAliveTimeout: parseDuration(cfg.keepAliveTimeout)!,
      connectionsCheckingInterval: connectionsCheckingInterval(cfg),
      requireHostHeader: true,
      // Node must not merge or drop duplicate headers silently: handle.ts reads rawHeaders itself.
      joinDuplicateHeaders: false,
    },
    tracked,
  );
  // Node keeps only the first maxHeadersCount fields (2,000 by default) and drops the rest silently —
  // a late Content-Length or second Host included. Keep one more than any config allows, so a
  // request over server.maxHeaderCount is always seen as such (handle.ts answers 431); a reload may
  // change the limit without touching the listener.
  server.maxHeadersCount = MAX_HEADER_COUNT + 1;
  // Expect: 100-continue is answered only once the route's policies accepted the request,
  // so a refused upload (401, 413, 429) is never sent at all.
  server.on('checkContinue', (req: IncomingMessage, res: GatewayResponse) => tracked(req, res, true));
  // A gateway is not a forward proxy: CONNECT tunnels are refused rather than silently dropped.
  server.on('connect', (_req: IncomingMessage, socket: Socket) => {
    socket.end(rawProblem(405, 'Method Not Allowed', 'GW_ERR_METHOD_NOT_ALLOWED', 'CONNECT tunnels are not supported.'));
  });
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => {
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
  });
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
