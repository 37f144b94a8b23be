/**
 * The Gateway owns everything: the snapshot in force, the listeners, the upstream pools, the logger
 * and the metrics. Nothing is module-level, so one process can run several and close() leaves
 * nothing behind.
 */
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import type { Config } from './config/schema.js';
import { createLogger, type LoggerOptions } from './logger.js';
import { createAdminServer } from './admin/admin.js';
import type { RequestContext } from './pipeline/context.js';
import { createObservability } from './observe/index.js';
import type { ExtensionFactory, GatewayExtension } from './extension.js';
import type { RequestTracer } from './observe/tracing/tracer.js';
import { NO_METRICS, type AnyPolicy, type GatewayServices } from './pipeline/policy.js';
import { BUILTIN_POLICIES } from './policies/index.js';
import { Registry } from 'prom-client';
import type { UpstreamErrorKind } from './proxy/errors.js';
import type { RetryReason } from './proxy/retry.js';
import { compileSnapshot, disposeSnapshot, type Snapshot } from './router/compile.js';
import { createHandler, type HandlerHost } from './server/handle.js';
import { createH2cListener, createProxyListener, createRedirectListener, listen, upgradeEntry, type ProxyListener, type UpgradeEntry } from './server/listener.js';
import { createTlsTerminator, type TlsTerminator } from './server/tls.js';
import { TunnelSet } from './proxy/tunnel.js';
import type { TlsServerConfig } from './config/schema.js';
import { ConfigError } from './errors.js';
import { adoptResponse } from './server/response.js';
import type { Target } from './upstream/upstream.js';
import { PoolSet } from './upstream/upstream.js';
import { recordFailure, stopHealth } from './upstream/health.js';
import { parseDuration } from './util/units.js';

export interface GatewayOptions extends LoggerOptions {
  config: Config;
  warnings?: readonly string[];
  /** A logger to use instead of one made from config.logging. */
  logger?: Logger;
  env?: Readonly<Record<string, string | undefined>>;
  /** The policy registry: the built-ins unless given (library mode adds plugins to them). */
  policies?: readonly AnyPolicy[];
  /** The config file's directory, for policies that resolve relative paths. */
  configDir?: string;
}

export type { ExtensionFactory, GatewayExtension } from './extension.js';

export const EXTENSIONS: readonly ExtensionFactory[] = [createObservability];

export class Gateway implements HandlerHost {
  snapshot: Snapshot;
  readonly logger: Logger;
  readonly services: GatewayServices;
  draining = false;
  ready = false;
  metricsHandler: ((req: IncomingMessage, res: ServerResponse) => void) | undefined;
  readonly tracer: RequestTracer | undefined;
  private inFlight = 0;
  private drained: (() => void) | undefined;
  private readonly pools: PoolSet;
  private readonly extensions: GatewayExtension[];
  /** WebSocket tunnels open now (metrics; closed with 1001 at shutdown). */
  readonly tunnels: TunnelSet;
  /** server.tls.clientCa is set (handle.ts reads the client certificate's subject). */
  readonly clientCerts: boolean;
  private tls: TlsTerminator | undefined;
  private readonly configDir: string;
  private listeners: ProxyListener[] = [];
  /** Port of the h2c listener (0 when none). */
  h2cPort = 0;
  /** Port of the redirectHttp listener (0 when none). */
  redirectPort = 0;
  private admin: Server | undefined;
  private closing: Promise<void> | undefined;
  port = 0;
  adminPort = 0;

  private constructor(snapshot: Snapshot, logger: Logger, services: GatewayServices, pools: PoolSet, extensions: GatewayExtension[], configDir: string) {
    this.snapshot = snapshot;
    this.configDir = configDir;
    this.tunnels = new TunnelSet(services.registry);
    this.clientCerts = snapshot.config.server.tls?.clientCa !== undefined;
    this.logger = logger;
    this.services = services;
    this.pools = pools;
    this.extensions = extensions;
    this.metricsHandler = extensions.find((e) => e.metricsHandler)?.metricsHandler;
    this.tracer = extensions.find((e) => e.tracer)?.tracer;
    for (const e of extensions) e.bind?.(this);
  }

  /** Compile a validated config into a gateway that is ready to start(). */
  static async create(opts: GatewayOptions): Promise<Gateway> {
    const logger = opts.logger ?? createLogger(opts.config.logging, opts);
    const env = opts.env ?? process.env;
    const extensions: GatewayExtension[] = [];
    for (const make of EXTENSIONS) extensions.push(await make(opts.config, { logger, env }));
    const services: GatewayServices = {
      logger,
      metrics: extensions.find((e) => e.metrics)?.metrics ?? NO_METRICS,
      registry: extensions.find((e) => e.registry)?.registry ?? new Registry(),
      env,
      configDir: opts.configDir ?? '',
    };
    const pools = new PoolSet();
    const observers = extensions.flatMap((e) => e.observers ?? []);
    const policies = opts.policies ?? BUILTIN_POLICIES;
    const snapshot = await compileSnapshot(opts.config, opts.warnings ?? [], { services, pools, observers, policies });
    return new Gateway(snapshot, logger, services, pools, extensions, opts.configDir ?? '');
  }

  requestStarted(): void {
    this.inFlight++;
  }

  requestFinished(): void {
    if (--this.inFlight === 0 && this.drained) this.drained();
  }

  get requestsInFlight(): number {
    return this.inFlight;
  }

  onUpstreamError(ctx: RequestContext, target: Target, kind: UpstreamErrorKind, err: Error): void {
    ctx.log.warn(
      { event: 'upstream.error', upstream: ctx.upstreamName, target: target.origin, kind, reason: err.message, code: (err as NodeJS.ErrnoException).code },
      'upstream request failed',
    );
    const upstream = ctx.route?.upstream;
    if (upstream) recordFailure(upstream, target, kind, this.logger);
    for (const e of this.extensions) e.onUpstreamError?.(ctx, target, kind, err);
  }

  private handle: ReturnType<typeof createHandler> | undefined;

  /** The request entry, made once per gateway. */
  private get entry(): ReturnType<typeof createHandler> {
    return (this.handle ??= createHandler(this));
  }

  /**
   * A `(req, res)` function to mount in another server (node:http, Express, Fastify): the gateway's
   * routes, policies and proxy without its own listener. Requests are counted for close() like any.
   */
  get handler(): (req: IncomingMessage, res: ServerResponse) => void {
    const entry = this.entry;
    return (this.mounted ??= (req, res) => entry(req, adoptResponse(res)));
  }
  private mounted: ((req: IncomingMessage, res: ServerResponse) => void) | undefined;

  /**
   * An `'upgrade'` listener for the server the gateway is mounted in, so WebSocket routes work in
   * library mode too: `server.on('upgrade', gateway.upgradeHandler)`.
   */
  get upgradeHandler(): UpgradeEntry {
    return (this.mountedUpgrade ??= upgradeEntry(this.entry));
  }
  private mountedUpgrade: UpgradeEntry | undefined;

  /**
   * Re-read the TLS certificates and keys (config reload calls this with the new server.tls; file
   * changes call it by themselves). True when the new ones serve; false when one failed to load:
   * the old ones keep serving and the failure is logged. Listener options (clientCertRequired,
   * http2) change only with a restart.
   */
  reloadTls(tls?: TlsServerConfig): boolean {
    return this.tls?.reload(tls) ?? false;
  }

  onRetry(ctx: RequestContext, reason: RetryReason): void {
    ctx.log.info({ event: 'upstream.retry', upstream: ctx.upstreamName, target: ctx.target?.origin, reason, attempt: ctx.attempts + 1 }, 'retrying on another target');
    for (const e of this.extensions) e.onRetry?.(ctx, reason);
  }

  onRetryBudgetExhausted(ctx: RequestContext): void {
    for (const e of this.extensions) e.onRetryBudgetExhausted?.(ctx);
  }

  /** Open the proxy and admin listeners. Resolves with the ports actually bound. */
  async start(): Promise<{ port: number; adminPort: number }> {
    const cfg = this.snapshot.config;
    if (cfg.server.tls !== undefined) {
      try {
        this.tls = createTlsTerminator(cfg.server.tls, this.configDir, this.logger);
      } catch (err) {
        throw new ConfigError([(err as Error).message]);
      }
    }
    for (const up of this.snapshot.upstreams.values()) {
      if (up.insecure) {
        this.logger.warn({ event: 'config.insecure_upstream', upstream: up.name }, `upstream ${up.name}: insecureSkipVerify is on: its TLS certificates are not verified`);
      }
    }
    const entry = this.entry;
    const main = createProxyListener(cfg.server, entry, this.logger, this.tls, upgradeEntry(entry));
    this.listeners.push(main);
    this.port = await listen(main.server, cfg.server.port, cfg.server.host);
    if (cfg.server.h2c !== undefined) {
      const h2c = createH2cListener(cfg.server, entry, this.logger);
      this.listeners.push(h2c);
      this.h2cPort = await listen(h2c.server, cfg.server.h2c.port, cfg.server.h2c.host ?? cfg.server.host);
    }
    if (cfg.server.redirectHttp !== undefined && this.tls !== undefined) {
      const redirect = createRedirectListener(cfg.server, () => this.port, this.logger);
      this.listeners.push(redirect);
      this.redirectPort = await listen(redirect.server, cfg.server.redirectHttp.port, cfg.server.redirectHttp.host ?? cfg.server.host);
    }
    if (cfg.admin.enabled) {
      this.admin = createAdminServer(this);
      this.adminPort = await listen(this.admin, cfg.admin.port, cfg.admin.host);
    }
    this.ready = true;
    for (const w of this.snapshot.warnings) this.logger.warn({ event: 'config.warning' }, w);
    this.logger.info(
      { event: 'gateway.started', port: this.port, host: cfg.server.host, adminPort: this.adminPort || undefined, routes: this.snapshot.routes.length },
      `gateway listening on ${this.tls ? 'https' : 'http'}://${cfg.server.host}:${this.port}`,
    );
    return { port: this.port, adminPort: this.adminPort };
  }

  /**
   * Stop accepting, let in-flight requests finish within the grace period, then close what is left,
   * the pools and the admin listener.
   */
  close(graceMs = parseDuration(this.snapshot.config.server.gracePeriod)!): Promise<void> {
    this.closing ??= this.shutdown(graceMs);
    return this.closing;
  }

  private async shutdown(graceMs: number): Promise<void> {
    this.draining = true;
    this.ready = false;
    this.logger.info({ event: 'gateway.draining', inFlight: this.inFlight, graceMs }, 'draining');
    const listeners = this.listeners;
    const closed = Promise.all(listeners.map((l) => new Promise<void>((resolve) => l.server.close(() => resolve()))));
    for (const l of listeners) l.closeIdle();
    this.tls?.close();
    if (this.inFlight > 0) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, graceMs);
        this.drained = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
    const abandoned = this.inFlight;
    // WebSocket tunnels still open after the grace period get a 1001 close frame each way.
    await this.tunnels.closeAll();
    for (const l of listeners) l.closeAll();
    await closed;
    for (const upstream of this.snapshot.upstreams.values()) stopHealth(upstream);
    await this.pools.closeAll(abandoned > 0);
    if (this.admin) {
      const admin = this.admin;
      admin.closeAllConnections();
      await new Promise<void>((resolve) => admin.close(() => resolve()));
    }
    await disposeSnapshot(this.snapshot);
    for (const e of this.extensions) await e.close?.();
    this.logger.info({ event: 'gateway.stopped', abandoned }, 'stopped');
    // The logger writes asynchronously: wait until every line (the last access lines too) is out.
    await new Promise<void>((resolve) => this.logger.flush(() => resolve()));
  }
}
