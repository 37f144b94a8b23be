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
import { PoolSet, startUpstream, stopUpstream } from './upstream/upstream.js';
import { recordFailure } from './upstream/health.js';
import type { HealthTimers } from './upstream/types.js';
import { parseDuration } from './util/units.js';
import { ConfigLoader, fileSize, THREAD_THRESHOLD_BYTES } from './config/loader.js';
import { validateWithPlugins } from './config/load.js';
import { diffConfigs, summarizeDiff, type ReloadResult } from './config/reload.js';
import { UpstreamDeadlines } from './proxy/deadlines.js';

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
  /** The file the config came from: `POST /reload` (and reloadFromFile) read it again. */
  configFile?: string;
  /** The registry before the config's own plugins (the built-ins, plus policies a library user passed): what reloads validate with. */
  basePolicies?: readonly AnyPolicy[];
  /** The clock of health checks and ejections (tests inject one). */
  timers?: HealthTimers;
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
  private drained: (() => void) | undefined;
  /** Replaced snapshots, oldest first, until their last request finished. */
  private readonly retired: { snapshot: Snapshot; next: Snapshot }[] = [];
  private reloading: Promise<unknown> = Promise.resolve();
  private readonly configFile: string | undefined;
  private readonly basePolicies: readonly AnyPolicy[];
  private readonly loader = new ConfigLoader();
  private readonly timers: HealthTimers | undefined;
  private readonly env: Readonly<Record<string, string | undefined>>;
  connectionsDropped = 0;
  private readonly countDrop = (): void => {
    this.connectionsDropped++;
  };
  /**
   * What `POST /reload` on the admin listener runs: read the config file again and reload. Under
   * `--workers` the CLI points it at the primary, which reloads every worker.
   */
  requestReload: () => Promise<ReloadResult> = () => this.reloadFromFile();
  private readonly pools: PoolSet;
  private readonly extensions: GatewayExtension[];
  /** WebSocket tunnels open now (metrics; closed with 1001 at shutdown). */
  readonly tunnels: TunnelSet;
  /** Response and idle timeouts of requests waiting on upstreams (one sweep, not a timer per request). */
  readonly deadlines = new UpstreamDeadlines();
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

  private constructor(snapshot: Snapshot, logger: Logger, services: GatewayServices, pools: PoolSet, extensions: GatewayExtension[], opts: GatewayOptions) {
    this.snapshot = snapshot;
    this.configDir = opts.configDir ?? '';
    this.configFile = opts.configFile;
    this.basePolicies = opts.basePolicies ?? BUILTIN_POLICIES;
    this.timers = opts.timers;
    this.env = services.env;
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
    const snapshot = await compileSnapshot(opts.config, opts.warnings ?? [], { services, pools, observers, policies, ...(opts.timers ? { timers: opts.timers } : {}) });
    return new Gateway(snapshot, logger, services, pools, extensions, opts);
  }

  requestStarted(snapshot: Snapshot): void {
    snapshot.inFlight++;
  }

  requestFinished(snapshot: Snapshot): void {
    if (--snapshot.inFlight === 0 && snapshot !== this.snapshot) this.releaseRetired();
    if (this.drained !== undefined && this.requestsInFlight === 0) this.drained();
  }

  get requestsInFlight(): number {
    let n = this.snapshot.inFlight;
    for (const r of this.retired) n += r.snapshot.inFlight;
    return n;
  }

  /**
   * Swap in a new validated config. In-flight requests finish on the snapshot they started with;
   * new ones take the new one; what did not change is carried over (upstream pools, health state and
   * probes, rate-limit buckets, JWT key sets and token cache). When compiling fails (an unreadable key
   * file …), the old config keeps serving and every problem is logged with its field path.
   * Reloads run one at a time.
   */
  reload(config: Config | string | object, warnings: readonly string[] = [], policies: readonly AnyPolicy[] = this.snapshot.policies): Promise<ReloadResult> {
    // A path, or a plain object that did not come out of validation (those are frozen): validate first.
    const run = this.reloading.then(() => (typeof config === 'string' || !Object.isFrozen(config) ? this.validateAndSwap(config) : this.swap(config as Config, warnings, policies)));
    this.reloading = run.catch(() => undefined);
    return run;
  }

  /**
   * Read the config file this gateway was started from again, and reload it. Loads queue behind
   * the reload under way (and a burst of requests becomes one load per request, in order).
   */
  reloadFromFile(): Promise<ReloadResult> {
    const run = this.reloading.then(() => this.loadAndSwap());
    this.reloading = run.catch(() => undefined);
    return run;
  }

  private async loadAndSwap(): Promise<ReloadResult> {
    if (this.configFile === undefined) return this.reloadFailed(['(gateway): started without a config file; nothing to reload from'], 'GW_ERR_RELOAD_FAILED');
    let loaded;
    try {
      loaded = await this.loader.load(this.configFile, this.env, this.basePolicies);
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      return this.reloadFailed(err.problems);
    }
    return this.swap(loaded.config, loaded.warnings, loaded.policies);
  }

  /** Library mode: a config file path or a raw object, validated (with its plugins) before the swap. */
  private async validateAndSwap(input: string | object): Promise<ReloadResult> {
    let loaded;
    try {
      loaded =
        typeof input === 'string'
          ? await this.loader.load(input, this.env, this.basePolicies)
          : await validateWithPlugins(input, this.services.configDir || process.cwd(), this.basePolicies);
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      return this.reloadFailed(err.problems);
    }
    return this.swap(loaded.config, loaded.warnings, loaded.policies);
  }

  /** Log every problem (the lines `gateway validate` prints), count the failure; the old config keeps serving. */
  reloadFailed(problems: readonly string[], code: ReloadResult['code'] = 'GW_ERR_CONFIG_INVALID'): ReloadResult {
    this.logger.error(
      { event: 'config.reload_failed', file: this.configFile, problems },
      `config reload failed with ${problems.length} problem${problems.length === 1 ? '' : 's'}; the previous config keeps serving`,
    );
    for (const p of problems) this.logger.error({ event: 'config.problem', file: this.configFile }, p);
    for (const e of this.extensions) e.onReload?.(false);
    return { ok: false, code, problems };
  }

  private async swap(config: Config, warnings: readonly string[], policies: readonly AnyPolicy[]): Promise<ReloadResult> {
    if (this.draining) return this.reloadFailed(['(gateway): shutting down; reload refused'], 'GW_ERR_RELOAD_FAILED');
    const started = performance.now();
    const old = this.snapshot;
    let next: Snapshot;
    try {
      next = await compileSnapshot(config, warnings, {
        services: this.services,
        pools: this.pools,
        previous: old,
        observers: old.observers,
        policies,
        ...(this.timers ? { timers: this.timers } : {}),
      });
    } catch (err) {
      if (err instanceof ConfigError) return this.reloadFailed(err.problems);
      this.logger.error({ event: 'config.reload_error', err }, 'config reload failed unexpectedly');
      return this.reloadFailed([`(gateway): ${(err as Error).message}`], 'GW_ERR_RELOAD_FAILED');
    }
    if (this.draining) {
      await disposeSnapshot(next, old, this.pools);
      return this.reloadFailed(['(gateway): shutting down; reload refused'], 'GW_ERR_RELOAD_FAILED');
    }
    // Certificates and keys are read again on every reload (renewed files, or new ones named in
    // server.tls). One that fails to load fails the whole reload: no partially applied config.
    if (this.tls !== undefined && config.server.tls !== undefined && !this.reloadTls(config.server.tls)) {
      await disposeSnapshot(next, old, this.pools);
      return this.reloadFailed(['server.tls: a certificate, key or CA file could not be loaded (the tls.reload_failed line says why); the previous certificates keep serving']);
    }
    for (const u of next.upstreams.values()) {
      if (u.insecure && old.upstreams.get(u.name) !== u) {
        this.logger.warn({ event: 'config.insecure_upstream', upstream: u.name }, `upstream ${u.name}: insecureSkipVerify is on: its TLS certificates are not verified`);
      }
    }
    // The swap: one reference. handle.ts reads it once per request.
    this.snapshot = next;
    if (this.ready) for (const u of next.upstreams.values()) startUpstream(u);
    for (const l of this.listeners) l.apply(config.server);
    this.retired.push({ snapshot: old, next });
    this.releaseRetired();
    const ms = Math.round((performance.now() - started) * 10) / 10;
    const diff = diffConfigs(old.config, config);
    for (const w of next.warnings) this.logger.warn({ event: 'config.warning' }, w);
    if (diff.restartRequired.length > 0) {
      this.logger.warn({ event: 'config.restart_required', fields: diff.restartRequired }, `changed fields take effect on restart: ${diff.restartRequired.join(', ')}`);
    }
    this.logger.info(
      { event: 'config.reloaded', file: this.configFile, ms, routes: next.routes.length, added: diff.added, removed: diff.removed, changed: diff.changed, upstreamsChanged: diff.upstreamsChanged },
      `config reloaded in ${ms} ms: ${summarizeDiff(diff)}`,
    );
    for (const e of this.extensions) e.onReload?.(true);
    return { ok: true, problems: [], diff, ms };
  }

  /** Dispose retired snapshots, oldest first, once they and all older ones have no request left. */
  private releaseRetired(): void {
    while (this.retired.length > 0 && this.retired[0]!.snapshot.inFlight === 0) {
      const { snapshot, next } = this.retired.shift()!;
      disposeSnapshot(snapshot, next, this.pools).catch((err: unknown) =>
        this.logger.error({ event: 'config.dispose_failed', err }, 'releasing the previous config failed'),
      );
    }
  }

  onUpstreamError(ctx: RequestContext, target: Target, kind: UpstreamErrorKind, err: Error): void {
    ctx.log.warn(
      { event: 'upstream.error', upstream: ctx.upstreamName, target: target.origin, kind, reason: err.message, code: (err as NodeJS.ErrnoException).code },
      'upstream request failed',
    );
    const upstream = ctx.route?.upstream;
    if (upstream) recordFailure(upstream, target, kind);
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

  /**
   * A large config file will be reloaded on the loader thread: start and warm it now, so the first
   * reload is as quick as the later ones (config/loader.ts). Not for a file with plugins (those load
   * on the main thread) nor a library user's own policies (they cannot cross to a thread).
   */
  private prepareLoader(cfg: Config): void {
    const file = this.configFile;
    if (file === undefined || this.basePolicies !== BUILTIN_POLICIES || (cfg.plugins?.length ?? 0) > 0) return;
    void fileSize(file).then((size) => {
      if (size >= THREAD_THRESHOLD_BYTES && !this.closing) this.loader.prepare();
    });
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
    const main = createProxyListener(cfg.server, entry, this.logger, this.tls, upgradeEntry(entry), this.countDrop);
    this.listeners.push(main);
    this.port = await listen(main.server, cfg.server.port, cfg.server.host);
    if (cfg.server.h2c !== undefined) {
      const h2c = createH2cListener(cfg.server, entry, this.logger, this.countDrop);
      this.listeners.push(h2c);
      this.h2cPort = await listen(h2c.server, cfg.server.h2c.port, cfg.server.h2c.host ?? cfg.server.host);
    }
    if (cfg.server.redirectHttp !== undefined && this.tls !== undefined) {
      const redirect = createRedirectListener(cfg.server, () => this.port, this.logger, this.countDrop);
      this.listeners.push(redirect);
      this.redirectPort = await listen(redirect.server, cfg.server.redirectHttp.port, cfg.server.redirectHttp.host ?? cfg.server.host);
    }
    if (cfg.admin.enabled) {
      this.admin = createAdminServer(this);
      this.adminPort = await listen(this.admin, cfg.admin.port, cfg.admin.host);
    }
    this.ready = true;
    this.prepareLoader(cfg);
    for (const u of this.snapshot.upstreams.values()) startUpstream(u);
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
    const listeners = this.listeners;
    // Stop accepting; every HTTP/1.x response written from now on, also of requests already under
    // way, says Connection: close; HTTP/2 sessions get GOAWAY (the drain signal there) and finish
    // the streams they have.
    const closed = Promise.all(listeners.map((l) => l.drain()));
    this.logger.info({ event: 'gateway.draining', inFlight: this.requestsInFlight, graceMs }, 'draining');
    this.tls?.close();
    // Keep-alive clients get a moment to be told Connection: close on their next response (a
    // tenth of the grace period, at most 1 s); connections still idle after it are closed.
    const started = Date.now();
    let open = 0;
    for (const l of listeners) open += await new Promise<number>((resolve) => l.server.getConnections((_err, n) => resolve(n ?? 0)));
    if (open > 0) await new Promise((resolve) => setTimeout(resolve, Math.min(1000, graceMs / 10)));
    for (const l of listeners) l.closeIdle();
    if (this.requestsInFlight > 0) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.max(0, graceMs - (Date.now() - started)));
        this.drained = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
    const abandoned = this.requestsInFlight;
    // WebSocket tunnels still open after the grace period get a 1001 close frame each way.
    await this.tunnels.closeAll();
    for (const l of listeners) l.closeAll();
    await closed;
    // The servers' own close now (drain used net.Server's): http.Server's stops the timer that enforces the request timeouts.
    for (const l of listeners) l.server.close(() => undefined);
    await this.loader.close(); // a load under way ends now rather than being waited for
    await this.reloading;
    // Probes and ejection timers of every snapshot still held stop here; the pools close below.
    const all = [this.snapshot, ...this.retired.map((r) => r.snapshot)];
    for (const s of all) for (const u of s.upstreams.values()) await stopUpstream(u, undefined);
    await this.pools.closeAll(abandoned > 0);
    this.deadlines.stop();
    if (this.admin) {
      const admin = this.admin;
      admin.closeAllConnections();
      await new Promise<void>((resolve) => admin.close(() => resolve()));
    }
    for (const r of this.retired.splice(0)) await disposeSnapshot(r.snapshot, r.next);
    await disposeSnapshot(this.snapshot);
    for (const e of this.extensions) await e.close?.();
    this.logger.info({ event: 'gateway.stopped', abandoned }, 'stopped');
    // The logger writes asynchronously: wait until every line (the last access lines too) is out.
    await new Promise<void>((resolve) => this.logger.flush(() => resolve()));
  }
}
