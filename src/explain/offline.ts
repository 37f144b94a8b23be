/**
 * The gateway run offline, for `gateway explain` and `gateway test`: the config compiled into a real
 * snapshot, requests served by the real handler (src/server/handle.ts) behind the real proxy server,
 * over in-memory connections instead of a port, and upstream pools that record what they would send
 * instead of connecting. Every refusal, local reply, route decision and upstream URL is therefore
 * what the proxy itself does with that config; nothing reaches an upstream.
 *
 * Differences from a running gateway, on purpose: a Redis rate-limit store is replaced by the memory
 * store (a dry run must not spend or read shared counters), and no access log, metrics or tracing run.
 */
import http, { type IncomingHttpHeaders } from 'node:http';
import { isIP } from 'node:net';
import { dirname, resolve } from 'node:path';
import { Writable } from 'node:stream';
import pino, { type Logger } from 'pino';
import { Registry } from 'prom-client';
import { TunnelSet } from '../proxy/tunnel.js';
import type { Config } from '../config/schema.js';
import type { ValidationResult } from '../config/validate.js';
import { NO_METRICS, type AnyPolicy, type PolicyContext } from '../pipeline/contract.js';
import type { RequestContext } from '../pipeline/context.js';
import { compileSnapshot, disposeSnapshot, type CompiledRoute, type Snapshot } from '../router/compile.js';
import { createHandler, type HandlerHost } from '../server/handle.js';
import { createProxyServer, type ProxyServer } from '../server/listener.js';
import { stopUpstream } from '../upstream/upstream.js';
import type { Target } from '../upstream/upstream.js';
import { memorySocketPair } from './memory-socket.js';
import { RecordingPools, type UpstreamCall } from './recording-pool.js';

export interface OfflineRequest {
  readonly method: string;
  /** An absolute URL (`https://api.example.com/users/42?x=1`) or a request target (`/users/42`). */
  readonly url: string;
  /** Header lines in order; a `host` line overrides the URL's authority. */
  readonly headers?: readonly (readonly [string, string])[];
  readonly body?: string;
  /** The TCP peer the gateway sees (default 127.0.0.1). */
  readonly remoteAddress?: string;
}

/** A request no HTTP client can write (a space or control character in the target, a bad header name). */
export class UnsendableRequest extends Error {}

/** What the gateway did with one request. */
export interface Outcome {
  /** The request as sent: method, request target, Host header, peer address. */
  readonly sent: { readonly method: string; readonly target: string; readonly host: string; readonly remoteAddress: string };
  /** The status the client got; 0 when the connection closed without a response. */
  readonly status: number;
  /** The response header fields the client got (lower-case names). */
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
  /** False when Node's HTTP parser refused the request before the gateway's handler saw it. */
  readonly handled: boolean;
  readonly requestId: string | undefined;
  /** The request as the gateway matched it (after normalisation and pre-route policies). */
  readonly method: string;
  readonly host: string;
  readonly path: string;
  readonly query: string;
  readonly params: readonly string[];
  /** The header fields the router matched against (Node's folded view of the request). */
  readonly requestHeaders: IncomingHttpHeaders;
  readonly route: CompiledRoute | undefined;
  readonly errorCode: string | undefined;
  /** The policy that answered (a local reply, a refusal or a failure), '' when none did. */
  readonly answeredBy: string;
  /** A path a route policy set for the upstream ('' for none). */
  readonly upstreamPathOverride: string;
  /** The target the balancer chose, when the request reached the proxy step. */
  readonly target: Target | undefined;
  /** What the upstream would have received, when the request was forwarded. */
  readonly upstream: UpstreamCall | undefined;
  /** Log lines (warn and above) the gateway wrote for this request: a failing policy names itself here. */
  readonly log: readonly Record<string, unknown>[];
}

/** Split the command line's URL into a request target and authority, without normalising anything. */
export function splitUrl(url: string): { target: string; authority: string | undefined } | string {
  const abs = /^([A-Za-z][A-Za-z0-9+.-]*):\/\/([^/?#]*)(.*)$/s.exec(url);
  if (abs) {
    if (!/^https?$/i.test(abs[1]!)) return `only http and https URLs can be explained, got ${abs[1]}:`;
    if (abs[2] === '') return `the URL has no host: ${url}`;
    const rest = abs[3]!;
    return { target: rest === '' ? '/' : rest.startsWith('/') ? rest : '/' + rest, authority: abs[2] };
  }
  if (url.startsWith('/') || url === '*') return { target: url, authority: undefined };
  return `expected an absolute URL (http://host/path) or a path starting with "/", got ${JSON.stringify(url)}`;
}

/** A dry run must not spend or read shared counters: rate limits count in memory. */
function offlineConfig(config: Config): Config {
  const rl = (config as unknown as Record<string, unknown>)['rateLimit'] as { store?: string } | undefined;
  if (rl?.store !== 'redis') return config;
  return { ...config, rateLimit: { ...rl, store: 'memory' } } as unknown as Config;
}

/** Requests the gateway finished (by request id), and callers waiting for one. */
class Finished {
  readonly #seen = new Map<string, RequestContext>();
  readonly #waiting = new Map<string, (ctx: RequestContext) => void>();

  /** The snapshot's observer: told about every request once it is over. */
  readonly observer = {
    onDone: (ctx: PolicyContext): void => {
      const w = this.#waiting.get(ctx.requestId);
      if (w === undefined) this.#seen.set(ctx.requestId, ctx as RequestContext);
      else {
        this.#waiting.delete(ctx.requestId);
        w(ctx as RequestContext);
      }
    },
  };

  take(id: string): Promise<RequestContext> {
    const ctx = this.#seen.get(id);
    if (ctx === undefined) {
      return new Promise((resolve, reject) => {
        // The response is complete, so the request is over: its done step runs within a turn or two.
        const timer = setTimeout(() => {
          this.#waiting.delete(id);
          reject(new Error(`request ${id} answered but never finished in the gateway`));
        }, 10_000);
        this.#waiting.set(id, (c) => {
          clearTimeout(timer);
          resolve(c);
        });
      });
    }
    this.#seen.delete(id);
    return Promise.resolve(ctx);
  }
}

export class OfflineGateway {
  readonly snapshot: Snapshot;
  readonly policies: readonly AnyPolicy[];
  /** Notes on how this run differs from the proxy (the Redis store counted in memory). */
  readonly notes: readonly string[];
  readonly #server: ProxyServer;
  readonly #pools: RecordingPools;
  readonly #finished: Finished;
  readonly #calls: Map<string, UpstreamCall>;
  readonly #log: Record<string, unknown>[];

  private constructor(
    snapshot: Snapshot,
    policies: readonly AnyPolicy[],
    notes: string[],
    parts: { server: ProxyServer; pools: RecordingPools; finished: Finished; calls: Map<string, UpstreamCall>; log: Record<string, unknown>[] },
  ) {
    this.snapshot = snapshot;
    this.policies = policies;
    this.notes = notes;
    this.#server = parts.server;
    this.#pools = parts.pools;
    this.#finished = parts.finished;
    this.#calls = parts.calls;
    this.#log = parts.log;
  }

  /** Compile a loaded config (see loadForCli). Throws ConfigError for problems found while compiling. */
  static async open(loaded: ValidationResult, file: string, env: Readonly<Record<string, string | undefined>> = process.env): Promise<OfflineGateway> {
    const log: Record<string, unknown>[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _enc, cb) {
        for (const line of chunk.toString('utf8').split('\n')) {
          if (line === '') continue;
          try {
            log.push(JSON.parse(line) as Record<string, unknown>);
          } catch {
            log.push({ msg: line });
          }
        }
        cb();
      },
    });
    const logger: Logger = pino({ level: 'warn' }, sink);
    const calls = new Map<string, UpstreamCall>();
    const pools = new RecordingPools((call) => {
      for (let i = 0; i < call.headers.length; i += 2) if (call.headers[i] === 'x-request-id') calls.set(call.headers[i + 1]!, call);
    });
    const config = offlineConfig(loaded.config);
    const notes = config === loaded.config ? [] : ['rate limits are counted in memory for this run (the config uses the Redis store)'];
    const finished = new Finished();
    let snapshot: Snapshot;
    try {
      snapshot = await compileSnapshot(config, loaded.warnings, {
        services: { logger, metrics: NO_METRICS, registry: new Registry(), env, configDir: dirname(resolve(file)) },
        pools,
        policies: loaded.policies,
        observers: [finished.observer],
      });
    } catch (err) {
      await pools.closeAll();
      throw err;
    }
    const host: HandlerHost = {
      snapshot,
      logger,
      tunnels: new TunnelSet(new Registry()),
      draining: false,
      tracer: undefined,
      requestStarted() {},
      requestFinished() {},
      onUpstreamError() {},
    };
    const server = createProxyServer(config.server, createHandler(host), logger);
    return new OfflineGateway(snapshot, loaded.policies, notes, { server, pools, finished, calls, log });
  }

  /** Send one request through the gateway. Rejects (UnsendableRequest) only when it cannot be written at all. */
  async send(req: OfflineRequest): Promise<Outcome> {
    const split = splitUrl(req.url);
    if (typeof split === 'string') throw new UnsendableRequest(split);
    const method = req.method.toUpperCase();
    const raw: string[] = [];
    let host: string | undefined;
    for (const [name, value] of req.headers ?? []) {
      if (name.toLowerCase() === 'host') host = value;
      else raw.push(name, value);
    }
    host ??= split.authority ?? 'localhost';
    // Clients send non-ASCII as UTF-8 bytes; Node writes the head as latin1, one byte per character.
    const target = Buffer.from(split.target, 'utf8').toString('latin1');
    const remoteAddress = req.remoteAddress ?? '127.0.0.1';
    if (isIP(remoteAddress) === 0) throw new UnsendableRequest(`the remote address must be an IP address, got ${JSON.stringify(remoteAddress)}`);
    const [client, server] = memorySocketPair(remoteAddress);
    this.#server.emit('connection', server);
    const logFrom = this.#log.length;
    const res = await new Promise<{ status: number; headers: IncomingHttpHeaders; body: string }>((resolve, reject) => {
      let r: http.ClientRequest;
      try {
        r = http.request(
          { method, path: target, headers: ['host', host, ...raw], setHost: false, createConnection: () => client as never },
          (res) => {
            const chunks: Buffer[] = [];
            res.on('data', (c: Buffer) => chunks.push(c));
            res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
            res.on('error', reject);
          },
        );
      } catch (err) {
        client.destroy();
        reject(new UnsendableRequest(`this request cannot be sent: ${(err as Error).message}`));
        return;
      }
      // The gateway closed the connection without an answer (it does so when a reply cannot be written).
      r.on('error', (err) => resolve({ status: 0, headers: {}, body: `connection closed without a response (${err.message})` }));
      r.end(req.body);
    }).finally(() => client.destroy());
    const idHeader = res.headers['x-request-id'];
    const requestId = typeof idHeader === 'string' ? idHeader : undefined;
    const sent = { method, target: split.target, host, remoteAddress };
    if (requestId === undefined) {
      // Node's parser answered on the raw socket (400, 431): the handler never saw the request.
      return {
        sent, status: res.status, headers: res.headers, body: res.body, handled: false, requestId, method, host: '', path: '', query: '', params: [],
        requestHeaders: {}, route: undefined, errorCode: undefined, answeredBy: '', upstreamPathOverride: '', target: undefined, upstream: undefined,
        log: this.#log.slice(logFrom),
      };
    }
    const ctx = await this.#finished.take(requestId);
    const upstream = this.#calls.get(requestId);
    this.#calls.delete(requestId);
    return {
      sent,
      status: res.status,
      headers: res.headers,
      body: res.body,
      handled: true,
      requestId,
      method: ctx.method,
      host: ctx.host,
      path: ctx.path,
      query: ctx.query,
      params: ctx.params,
      requestHeaders: ctx.req.headers,
      route: ctx.route,
      errorCode: ctx.errorCode,
      answeredBy: ctx.repliedBy,
      upstreamPathOverride: ctx.upstreamPath,
      target: ctx.target,
      upstream,
      log: this.#log.slice(logFrom).filter((l) => l['requestId'] === undefined || l['requestId'] === requestId),
    };
  }

  async close(): Promise<void> {
    for (const upstream of this.snapshot.upstreams.values()) await stopUpstream(upstream, undefined);
    await disposeSnapshot(this.snapshot);
    await this.#pools.closeAll();
  }
}
