/**
 * Target health, in two independent parts that both feed one precomputed flag, `target.available`,
 * which is all a balancer reads (a transition recomputes it; a request never scans for health):
 *
 * - Passive (Envoy outlier detection): consecutive connection failures or consecutive 5xx eject a
 *   target for `ejectionTime × ejections in a row`, capped at `maxEjectionTime`. When the time is
 *   up the target is in "trial": the balancer hands it exactly one request (half-open), whose
 *   success returns it to rotation and whose failure ejects it again, for longer. The last available
 *   target is never ejected for 5xx: a backend that answers 500 to everything is better reported
 *   than hidden behind 503.
 * - Active probes (healthCheck): each target is probed on its own connection every interval
 *   (jittered ±10%), never two probes of one target at once; `unhealthyAfter` failures in a row take
 *   it out, `healthyAfter` passes bring it back. Transitions are logged once.
 *
 * Timers are injectable (HealthTimers) so tests drive probes and ejections without sleeping.
 */
import { Client } from 'undici';
import type { UpstreamErrorKind } from '../proxy/errors.js';
import type { Balancer } from './balancers/index.js';
import type { ActiveChecks, HealthCheckSettings, HealthTimers, Target, TargetHealth, Upstream } from './types.js';

/** Real timers, unref'd: health never keeps a process alive (close() stops them anyway). */
export const REAL_TIMERS: HealthTimers = {
  setTimeout(fn, ms) {
    const t = setTimeout(fn, ms);
    t.unref();
    return t;
  },
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
  now: () => Date.now(),
  random: () => Math.random(),
};

export function newTargetHealth(): TargetHealth {
  return { healthy: true, outlier: 'in', failures: 0, errors5xx: 0, ejections: 0, returnedAt: 0, timer: undefined };
}

function refresh(t: Target): void {
  const h = t.health;
  t.available = h.healthy && (h.outlier === 'in' || h.outlier === 'trial');
}

/** Connection-level failures: "this target is not there". A protocol error or other failure is not counted. */
const COUNTED: ReadonlySet<UpstreamErrorKind> = new Set(['refused', 'timeout', 'reset']);

function eject(upstream: Upstream, t: Target, reason: 'connection' | '5xx'): void {
  const s = upstream.outlier;
  const h = t.health;
  const { timers, logger } = upstream.health;
  // A target that stayed in rotation for a whole maxEjectionTime starts over at one ejectionTime.
  if (h.returnedAt !== 0 && timers.now() - h.returnedAt > s.maxEjectionTime) h.ejections = 0;
  h.ejections++;
  const forMs = Math.min(s.ejectionTime * h.ejections, s.maxEjectionTime);
  h.outlier = 'ejected';
  h.failures = 0;
  h.errors5xx = 0;
  refresh(t);
  logger.warn(
    { event: 'upstream.target_ejected', upstream: upstream.name, target: t.origin, reason, forMs, ejections: h.ejections },
    'upstream target ejected',
  );
  if (h.timer !== undefined) timers.clearTimeout(h.timer);
  h.timer = timers.setTimeout(() => {
    h.timer = undefined;
    h.outlier = 'trial';
    refresh(t);
    logger.info({ event: 'upstream.target_trial', upstream: upstream.name, target: t.origin }, 'ejection over: one trial request decides');
  }, forMs);
}

function restore(upstream: Upstream, t: Target): void {
  const h = t.health;
  h.outlier = 'in';
  h.returnedAt = upstream.health.timers.now();
  refresh(t);
  upstream.health.logger.info({ event: 'upstream.target_restored', upstream: upstream.name, target: t.origin }, 'upstream target back in rotation');
}

/** A connection-level failure of a request to `t` (called from the gateway's onUpstreamError). */
export function recordFailure(upstream: Upstream, t: Target, kind: UpstreamErrorKind): void {
  const h = t.health;
  if (h.outlier === 'probing') return eject(upstream, t, 'connection');
  const n = upstream.outlier.consecutiveFailures;
  if (n === 0 || !COUNTED.has(kind) || h.outlier !== 'in') return;
  if (++h.failures >= n) eject(upstream, t, 'connection');
}

/**
 * The response head of a request to `t` arrived (the hot path: with nothing to reset and no trial
 * under way this reads three fields and returns).
 */
export function recordResponse(upstream: Upstream, t: Target, status: number): void {
  const h = t.health;
  if (status < 500 || upstream.outlier.consecutive5xx === 0) {
    if (h.failures !== 0) h.failures = 0;
    if (h.errors5xx !== 0) h.errors5xx = 0;
    if (h.outlier === 'probing') restore(upstream, t);
    return;
  }
  h.failures = 0;
  if (h.outlier !== 'in' && h.outlier !== 'probing') return;
  if (h.outlier === 'in' && ++h.errors5xx < upstream.outlier.consecutive5xx) return;
  // Never the last one for 5xx: with no other target available, the 5xx is the better answer.
  const others = upstream.targets.some((o) => o !== t && o.available);
  if (others) eject(upstream, t, '5xx');
  else if (h.outlier === 'probing') restore(upstream, t);
}

/**
 * The balancer with the half-open rule: a target in trial is handed out once, then is unavailable
 * until that request's verdict. Only used when outlier detection is on.
 */
export function withTrial(balancer: Balancer<Target>, upstream: () => Upstream): Balancer<Target> {
  return {
    pick() {
      const t = balancer.pick();
      if (t !== undefined && t.health.outlier === 'trial') {
        t.health.outlier = 'probing';
        refresh(t);
        // A trial whose client went away gives no verdict: open the trial again after the response timeout.
        const u = upstream();
        const { timers } = u.health;
        const h = t.health;
        if (h.timer !== undefined) timers.clearTimeout(h.timer);
        h.timer = timers.setTimeout(() => {
          h.timer = undefined;
          if (h.outlier !== 'probing') return;
          h.outlier = 'trial';
          refresh(t);
        }, u.responseTimeout + 1000);
      }
      return t;
    },
  };
}

/** Whether a status passes the probe's expectStatus. */
export function expected(settings: HealthCheckSettings, status: number): boolean {
  for (const [lo, hi] of settings.expect) if (status >= lo && status <= hi) return true;
  return false;
}

/** `["200-399", "404"]` → [[200, 399], [404, 404]] */
export function parseExpect(list: readonly string[]): [number, number][] {
  return list.map((s) => {
    const [lo, hi] = s.split('-').map(Number) as [number, number | undefined];
    return [lo, hi ?? lo];
  });
}

class TargetProbe {
  private readonly client: Client;
  private timer: unknown = undefined;
  private running: Promise<void> | undefined = undefined;
  private stopped = false;
  private passes = 0;
  private fails = 0;

  constructor(
    private readonly upstream: Upstream,
    private readonly target: Target,
    private readonly settings: HealthCheckSettings,
  ) {
    // Its own connection: a saturated pool must not fail the probes, nor the probes take a request slot.
    // An https:// target is probed with the upstream's TLS options (CA, client certificate, servername).
    this.client = new Client(target.origin, { connect: { ...target.tls, timeout: settings.timeout }, headersTimeout: settings.timeout, bodyTimeout: settings.timeout, pipelining: 1 });
  }

  start(): void {
    // The first probe soon (within a tenth of the interval, jittered), so a dead target is found early.
    this.schedule(this.upstream.health.timers.random() * Math.min(this.settings.interval, 1000) * 0.1);
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    this.timer = this.upstream.health.timers.setTimeout(() => {
      this.timer = undefined;
      this.running = this.probe().finally(() => {
        this.running = undefined;
        const jitter = 0.9 + 0.2 * this.upstream.health.timers.random();
        this.schedule(this.settings.interval * jitter);
      });
    }, ms);
  }

  private async probe(): Promise<void> {
    const { timers } = this.upstream.health;
    const abort = new AbortController();
    const timer = timers.setTimeout(() => abort.abort(new Error('health check timed out')), this.settings.timeout);
    let ok = false;
    let detail = '';
    try {
      const res = await this.client.request({
        path: this.target.basePath + this.settings.path,
        method: 'GET',
        headers: { 'user-agent': 'gatewayd-health-check' },
        signal: abort.signal,
      });
      await res.body.dump();
      ok = expected(this.settings, res.statusCode);
      detail = `status ${res.statusCode}`;
    } catch (err) {
      detail = (err as Error).message;
    } finally {
      timers.clearTimeout(timer);
    }
    if (!this.stopped) this.verdict(ok, detail);
  }

  private verdict(ok: boolean, detail: string): void {
    const h = this.target.health;
    const { logger } = this.upstream.health;
    if (ok) {
      this.fails = 0;
      if (h.healthy || ++this.passes < this.settings.healthyAfter) return;
      h.healthy = true;
      refresh(this.target);
      logger.info({ event: 'upstream.target_healthy', upstream: this.upstream.name, target: this.target.origin, detail }, 'health check passed: target back in rotation');
      return;
    }
    this.passes = 0;
    if (!h.healthy || ++this.fails < this.settings.unhealthyAfter) return;
    h.healthy = false;
    refresh(this.target);
    logger.warn({ event: 'upstream.target_unhealthy', upstream: this.upstream.name, target: this.target.origin, detail }, 'health check failed: target out of rotation');
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer !== undefined) this.upstream.health.timers.clearTimeout(this.timer);
    await this.client.destroy().catch(() => undefined);
    await this.running;
  }

  settled(): Promise<void> {
    return this.running ?? Promise.resolve();
  }
}

export function startActiveChecks(upstream: Upstream, settings: HealthCheckSettings): ActiveChecks {
  const probes = upstream.targets.map((t) => new TargetProbe(upstream, t, settings));
  for (const p of probes) p.start();
  return {
    async stop() {
      await Promise.all(probes.map((p) => p.stop()));
    },
    async settled() {
      await Promise.all(probes.map((p) => p.settled()));
    },
  };
}
