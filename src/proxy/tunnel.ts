/**
 * The terminal step for a WebSocket handshake (RFC 6455 §4): the route's policies have accepted the
 * upgrade request; open the upstream connection (ws:// for http targets, wss:// for https ones),
 * send the handshake with the gateway's header rules, and when the upstream answers 101 splice the
 * two sockets. Frames pass untouched, with backpressure both ways; either side closing
 * closes the other. An upstream that refuses the upgrade has its status, headers and body passed on.
 */
import http, { type IncomingMessage } from 'node:http';
import https from 'node:https';
import type { Socket } from 'node:net';
import { Counter, Gauge, type Registry } from 'prom-client';
import { GatewayError } from '../errors.js';
import { runResponseHooks } from '../pipeline/chain.js';
import { HookHead } from '../pipeline/response-head.js';
import type { RequestContext } from '../pipeline/context.js';
import type { CompiledRoute } from '../router/compile.js';
import { replyError } from '../server/respond.js';
import { recordResponse } from '../upstream/health.js';
import type { Target } from '../upstream/upstream.js';
import { classifyUpstreamError, upstreamErrorCode } from './errors.js';
import { pickTarget, type UpstreamEvents } from './forward.js';

/** Fields of the upstream's answer the gateway writes itself (RFC 9110 §7.6.1 hop-by-hop, and its own). */
const NOT_PASSED = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'te', 'trailer', 'upgrade', 'x-request-id']);
/** Values that could break the head we write by hand. */
const UNSAFE_VALUE = /[\r\n\0]/;

/** Close frame, status 1001 "going away" (RFC 6455 §5.5.1, §7.4.1): unmasked to the client, masked to the server. */
const CLOSE_TO_CLIENT = Buffer.from([0x88, 0x02, 0x03, 0xe9]);
function closeToServer(): Buffer {
  const mask = [0x5a, 0x17, 0xc3, 0x8e];
  return Buffer.from([0x88, 0x82, ...mask, 0x03 ^ mask[0]!, 0xe9 ^ mask[1]!]);
}

/** The gateway's open tunnels: counted for metrics, closed with 1001 at shutdown. */
export class TunnelSet {
  private readonly open = new Set<Tunnel>();
  private readonly gauge: Gauge;
  private readonly total: Counter<'route'>;

  constructor(registry: Registry) {
    this.gauge =
      (registry.getSingleMetric('gateway_websocket_connections') as Gauge | undefined) ??
      new Gauge({ name: 'gateway_websocket_connections', help: 'WebSocket tunnels open now.', registers: [registry] });
    // Not `gateway_websocket_connections_total`: in OpenMetrics (what Prometheus asks for) that
    // counter's family is `gateway_websocket_connections`, the gauge's name, and the scrape would fail.
    this.total =
      (registry.getSingleMetric('gateway_websocket_connections_opened_total') as Counter<'route'> | undefined) ??
      new Counter({ name: 'gateway_websocket_connections_opened_total', help: 'WebSocket tunnels opened, by route.', labelNames: ['route'], registers: [registry] });
  }

  get size(): number {
    return this.open.size;
  }

  added(t: Tunnel, route: string): void {
    this.open.add(t);
    this.gauge.inc();
    this.total.inc({ route });
    if (t.idleMs > 0) {
      t.seen = t.bytes();
      t.quietSince = performance.now();
      const tick = Math.min(1000, Math.max(25, Math.floor(t.idleMs / 4)));
      if (this.sweep === undefined || tick < this.tick) {
        clearInterval(this.sweep);
        this.tick = tick;
        this.sweep = setInterval(() => this.closeIdle(), tick).unref();
      }
    }
  }

  removed(t: Tunnel): void {
    if (this.open.delete(t)) this.gauge.dec();
    if (this.open.size === 0) {
      clearInterval(this.sweep);
      this.sweep = undefined;
      this.idle?.();
    }
  }

  /**
   * Idle timeouts, kept by one sweep for all tunnels rather than a socket timer each: a socket timer is
   * re-armed on every read and write, 8% of the instructions a tunnel spends per echo round trip
   * (callgrind). A tunnel whose byte count has not moved for its idleMs is closed, at most one tick late
   * (a quarter of the shortest timeout, between 25 ms and 1 s). Not the proxy's UpstreamDeadlines: that
   * sweep walks its list every 25 ms, and tunnels are many and long-lived (10,000 idle for an hour)
   * with timeouts of minutes, where a tick of up to a second costs 40 times fewer visits.
   */
  private closeIdle(): void {
    const now = performance.now();
    for (const t of this.open) {
      if (t.idleMs === 0) continue;
      const bytes = t.bytes();
      if (bytes !== t.seen) {
        t.seen = bytes;
        t.quietSince = now;
      } else if (now - t.quietSince >= t.idleMs) {
        t.idle();
      }
    }
  }
  private sweep: NodeJS.Timeout | undefined;
  private tick = 0;

  /**
   * Graceful shutdown, after the grace period: a 1001 close frame each way, then the sockets end.
   * Resolves when every tunnel closed (each gets at most a second for the peers' closing handshake).
   */
  async closeAll(): Promise<void> {
    if (this.open.size === 0) return;
    const closing = [...this.open];
    await new Promise<void>((resolve) => {
      this.idle = resolve;
      for (const t of closing) t.close(1001);
    });
  }
  private idle: (() => void) | undefined;
}

export interface TunnelHost extends UpstreamEvents {
  readonly tunnels: TunnelSet;
  /** The exchange is over (the tunnel closed): done hooks, observers, in-flight count. */
  exchangeOver(ctx: RequestContext): void;
}

interface Tunnel {
  close(code?: number): void;
  /** Longest silence (no byte either way) before the tunnel is closed, in ms; 0 for none. */
  readonly idleMs: number;
  /** Bytes passed either way so far. */
  bytes(): number;
  /** The tunnel sat silent for idleMs: close it. */
  idle(): void;
  /** The idle sweep's bookkeeping: the byte count it saw last, and since when it has not moved. */
  seen: number;
  quietSince: number;
}

/** Upstream request headers for the handshake: the gateway's list plus the upgrade fields it stripped as hop-by-hop. */
function handshakeHeaders(headers: string[], ctx: RequestContext, target: Target, route: CompiledRoute): string[] {
  const out = headers.slice();
  if (!route.preserveHost) out.push('host', new URL(target.origin).host);
  out.push('connection', 'Upgrade', 'upgrade', 'websocket');
  void ctx;
  return out;
}

/** Open the tunnel for a WebSocket handshake that passed the route's policies. */
export function openTunnel(ctx: RequestContext, route: CompiledRoute, headers: string[], host: TunnelHost): void {
  const target = pickTarget(ctx, route);
  if (target === undefined) return;
  ctx.target = target;
  const client = ctx.upgrade!.socket;
  const url = new URL(target.origin);
  const path = target.basePath + (ctx.upstreamPath === '' ? route.rewrite(ctx.path, ctx.params) : ctx.upstreamPath) + ctx.query;
  const secure = url.protocol === 'https:';
  const options: https.RequestOptions = {
    host: url.hostname.replace(/^\[|\]$/g, ''),
    port: url.port || (secure ? 443 : 80),
    path,
    method: 'GET',
    headers: handshakeHeaders(headers, ctx, target, route) as unknown as http.OutgoingHttpHeaders,
    agent: false,
    setHost: false,
    ...(secure ? target.tls : {}),
  };
  if (secure && options.servername === undefined && url.hostname !== '' && !/^[\d.]+$|^\[/.test(url.hostname)) options.servername = url.hostname;
  target.active++;
  ctx.upstreamStart = performance.now();
  let settled = false;
  const req = (secure ? https : http).request(options);
  const timer = setTimeout(() => {
    const err = new Error('upstream did not answer the WebSocket handshake in time');
    (err as NodeJS.ErrnoException).code = 'UND_ERR_HEADERS_TIMEOUT';
    req.destroy(err);
  }, route.responseTimeout);
  const settle = (): boolean => {
    if (settled) return false;
    settled = true;
    clearTimeout(timer);
    target.active--;
    ctx.upstreamHeadersAt = performance.now();
    return true;
  };
  ctx.proxy = { abort: () => req.destroy() };

  req.on('error', (err: NodeJS.ErrnoException) => {
    if (!settle()) return;
    ctx.upstreamEnd = performance.now();
    if (ctx.done) return;
    const kind = classifyUpstreamError(err);
    host.onUpstreamError(ctx, target, kind, err);
    replyError(ctx, new GatewayError(upstreamErrorCode(kind)));
  });

  // The upstream refused the upgrade (or ignored it): its answer goes to the client as is.
  req.on('response', (res: IncomingMessage) => {
    if (!settle()) return;
    recordResponse(route.upstream, target, res.statusCode ?? 502);
    passRefusal(ctx, res);
  });

  req.on('upgrade', (res: IncomingMessage, upstreamSocket: Socket, upstreamHead: Buffer) => {
    if (!settle()) {
      upstreamSocket.destroy();
      return;
    }
    recordResponse(route.upstream, target, 101);
    if (ctx.done || client.destroyed) {
      upstreamSocket.destroy();
      return;
    }
    splice(ctx, route, res, upstreamSocket, upstreamHead, host);
  });
  req.end();
}

/** The upstream's answer to the handshake as a header object (what may pass), with the gateway's own fields. */
function answerHeaders(ctx: RequestContext, res: IncomingMessage): Record<string, string | string[] | number> {
  const headers: Record<string, string | string[] | number> = {};
  const raw = res.rawHeaders;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!.toLowerCase();
    if (NOT_PASSED.has(name)) continue;
    const prev = headers[name];
    headers[name] = prev === undefined ? raw[i + 1]! : Array.isArray(prev) ? [...prev, raw[i + 1]!] : [String(prev), raw[i + 1]!];
  }
  headers['x-request-id'] = ctx.requestId;
  const extra = ctx.responseHeaders;
  if (extra !== undefined) for (let i = 0; i < extra.length; i += 2) headers[extra[i]!] = extra[i + 1]!;
  return headers;
}

/** A non-101 answer to the handshake: status, headers (after the response hooks) and body to the client. */
function passRefusal(ctx: RequestContext, res: IncomingMessage): void {
  const headers = answerHeaders(ctx, res);
  const status = res.statusCode ?? 502;
  ctx.status = status;
  if (ctx.hooks.response.length > 0) runResponseHooks(ctx.hooks, ctx, new HookHead(status, false, headers));
  headers['connection'] = 'close';
  const out = ctx.res;
  out.trustedHeaders = ctx.responseHeaderLines;
  try {
    out.writeHead(status, headers);
  } catch {
    res.destroy();
    replyError(ctx, new GatewayError('GW_ERR_UPSTREAM_BAD_RESPONSE'));
    return;
  }
  res.on('data', (chunk: Buffer) => {
    ctx.bytesOut += chunk.length;
    if (!out.write(chunk)) {
      res.pause();
      out.once('drain', () => res.resume());
    }
  });
  res.on('end', () => {
    ctx.upstreamEnd = performance.now();
    out.end();
  });
  res.on('error', () => out.destroy());
}

/** The 101 head for the client: the upstream's fields (Sec-WebSocket-Accept, -Protocol, -Extensions …) after the response hooks. */
function switchingHead(ctx: RequestContext, res: IncomingMessage): string {
  const headers = answerHeaders(ctx, res);
  if (ctx.hooks.response.length > 0) runResponseHooks(ctx.hooks, ctx, new HookHead(101, false, headers));
  let head = 'HTTP/1.1 101 Switching Protocols\r\nconnection: Upgrade\r\nupgrade: websocket\r\n';
  for (const name of Object.keys(headers)) {
    if (NOT_PASSED.has(name) && name !== 'x-request-id') continue;
    if (!/^[a-z0-9!#$%&'*+.^_`|~-]+$/.test(name)) continue;
    const value = headers[name]!;
    for (const v of Array.isArray(value) ? value : [value]) {
      const text = String(v);
      if (!UNSAFE_VALUE.test(text)) head += `${name}: ${text}\r\n`;
    }
  }
  return head + ctx.responseHeaderLines + '\r\n';
}

/** Join client and upstream sockets until either side closes or the tunnel sits idle too long. */
function splice(ctx: RequestContext, route: CompiledRoute, res: IncomingMessage, upstream: Socket, upstreamHead: Buffer, host: TunnelHost): void {
  const client = ctx.upgrade!.socket;
  const clientHead = ctx.upgrade!.head;
  ctx.status = 101;
  // From here the socket is the tunnel's: the ServerResponse made for local replies lets go of it.
  ctx.res.detachSocket(client);
  client.setNoDelay(true);
  upstream.setNoDelay(true);
  let over = false;
  const tunnel: Tunnel = {
    idleMs: route.websocketIdleTimeout,
    bytes: () => ctx.bytesIn + ctx.bytesOut,
    idle() {
      ctx.log.info({ event: 'websocket.idle_timeout', idleMs: route.websocketIdleTimeout }, 'WebSocket tunnel idle: closed');
      finish();
    },
    seen: 0,
    quietSince: 0,
    close(code?: number) {
      if (over) return;
      if (code !== undefined) {
        // Whatever frame was in flight is cut: the close frame goes after the bytes already written.
        client.off('data', toUpstream);
        upstream.off('data', toClient);
        if (client.writable) client.write(CLOSE_TO_CLIENT);
        if (upstream.writable) upstream.write(closeToServer());
        client.end();
        upstream.end();
        setTimeout(() => finish(), 1000).unref();
        return;
      }
      finish();
    },
  };
  const finish = (): void => {
    if (over) return;
    over = true;
    client.destroy();
    upstream.destroy();
    ctx.upstreamEnd = performance.now();
    host.tunnels.removed(tunnel);
    host.exchangeOver(ctx);
  };
  function toUpstream(chunk: Buffer): void {
    ctx.bytesIn += chunk.length;
    if (!upstream.write(chunk)) client.pause();
  }
  function toClient(chunk: Buffer): void {
    ctx.bytesOut += chunk.length;
    if (!client.write(chunk)) upstream.pause();
  }
  ctx.tunnel = tunnel;
  ctx.proxy = { abort: () => finish() };
  host.tunnels.added(tunnel, route.name);

  client.write(switchingHead(ctx, res));
  if (upstreamHead.length > 0) {
    ctx.bytesOut += upstreamHead.length;
    client.write(upstreamHead);
  }
  if (clientHead.length > 0) {
    ctx.bytesIn += clientHead.length;
    upstream.write(clientHead);
  }
  // What `pipe` does, without its per-chunk bookkeeping: one listener per direction counts the bytes
  // and writes them on; a side whose peer's buffer is full pauses until that peer drains.
  client.on('data', toUpstream);
  upstream.on('data', toClient);
  upstream.on('drain', () => client.resume());
  client.on('drain', () => upstream.resume());
  // Node hands both sockets over neither flowing nor paused, so the listeners start them; resume as
  // pipe does, in case a Node hands one over paused.
  client.resume();
  upstream.resume();
  client.on('error', finish);
  upstream.on('error', finish);
  client.on('close', finish);
  upstream.on('close', finish);
  // A side that ended its half (FIN) has it passed on; the other gets a moment to end its own.
  client.once('end', () => {
    upstream.end();
    setTimeout(finish, 5000).unref();
  });
  upstream.once('end', () => {
    client.end();
    setTimeout(finish, 5000).unref();
  });
}
