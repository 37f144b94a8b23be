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
import { compileSnapshot, disposeSnapshot, type Snapshot } from './router/compile.js';
import { createHandler, type HandlerHost } from './server/handle.js';
import { createProxyServer, listen, type ProxyServer } from './server/listener.js';
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
  private server: ProxyServer | undefined;
  private admin: Server | undefined;
  private closing: Promise<void> | undefined;
  port = 0;
  adminPort = 0;

  private constructor(snapshot: Snapshot, logger: Logger, services: GatewayServices, pools: PoolSet, extensions: GatewayExtension[]) {
    this.snapshot = snapshot;
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
    return new Gateway(snapshot, logger, services, pools, extensions);
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

  /** Open the proxy and admin listeners. Resolves with the ports actually bound. */
  async start(): Promise<{ port: number; adminPort: number }> {
    const cfg = this.snapshot.config;
    this.server = createProxyServer(cfg.server, this.entry, this.logger);
    this.port = await listen(this.server, cfg.server.port, cfg.server.host);
    if (cfg.admin.enabled) {
      this.admin = createAdminServer(this);
      this.adminPort = await listen(this.admin, cfg.admin.port, cfg.admin.host);
    }
    this.ready = true;
    for (const w of this.snapshot.warnings) this.logger.warn({ event: 'config.warning' }, w);
    this.logger.info(
      { event: 'gateway.started', port: this.port, host: cfg.server.host, adminPort: this.adminPort || undefined, routes: this.snapshot.routes.length },
      `gateway listening on http://${cfg.server.host}:${this.port}`,
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
    const server = this.server;
    const closed = server ? new Promise<void>((resolve) => server.close(() => resolve())) : Promise.resolve();
    server?.closeIdleConnections();
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
    server?.closeAllConnections();
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
