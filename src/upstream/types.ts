/**
 * The upstream's shapes: targets, upstreams and their health state. Types only, so upstream.ts
 * (which builds them) and health.ts (which changes them) both import them without importing each other.
 */
import type { ConnectionOptions } from 'node:tls';
import type { Logger } from 'pino';
import type { Pool } from 'undici';
import type { Balancer } from './balancers/index.js';

export interface OutlierSettings {
  /** Consecutive connection failures before ejection; 0 disables. */
  readonly consecutiveFailures: number;
  /** Consecutive 5xx responses before ejection; 0 disables. */
  readonly consecutive5xx: number;
  /** First ejection, ms; each ejection in a row adds it again. */
  readonly ejectionTime: number;
  readonly maxEjectionTime: number;
}

export interface HealthCheckSettings {
  /** Path below the target's base path. */
  readonly path: string;
  readonly interval: number;
  readonly timeout: number;
  readonly healthyAfter: number;
  readonly unhealthyAfter: number;
  /** Inclusive [low, high] status ranges that pass. */
  readonly expect: readonly (readonly [number, number])[];
}

/** The clock health uses: real timers in production, a hand-driven one in tests. */
export interface HealthTimers {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
  now(): number;
  random(): number;
}

/** Where passive and active health report: the gateway logger and the clock. */
export interface HealthDeps {
  readonly logger: Logger;
  readonly timers: HealthTimers;
}

/** 'trial': the next pick gets the one trial request; 'probing': that request is under way. */
export type OutlierState = 'in' | 'ejected' | 'trial' | 'probing';

/** Per-target health state (lives on the Target; `available` is derived from it on every change). */
export interface TargetHealth {
  /** Verdict of the active checks (true when there are none). */
  healthy: boolean;
  outlier: OutlierState;
  /** Consecutive connection failures / 5xx. */
  failures: number;
  errors5xx: number;
  /** Ejections in a row: the next ejection lasts this many ejectionTimes (capped). */
  ejections: number;
  /** When the target last came back from an ejection (ms, HealthTimers clock). */
  returnedAt: number;
  timer: unknown;
}

/** The probes of one upstream. */
export interface ActiveChecks {
  stop(): Promise<void>;
  /** Settles when every probe under way now has finished (tests). */
  settled(): Promise<void>;
}

export interface Target {
  /** `http://10.0.0.5:9000` — also the metrics/log label. */
  readonly origin: string;
  /** Path prefix from the target URL (`http://h/base` → `/base`), '' when none. */
  readonly basePath: string;
  readonly weight: number;
  readonly pool: Pool;
  /** For https:// targets: the TLS options every connection to it uses (pool and WebSocket tunnels). */
  readonly tls: ConnectionOptions | undefined;
  active: number;
  /** What balancers read: healthy by the active checks and not ejected (recomputed on transitions only). */
  available: boolean;
  readonly health: TargetHealth;
}

export interface Upstream {
  readonly name: string;
  readonly targets: readonly Target[];
  readonly balancer: Balancer<Target>;
  /** Response-head timeout, ms. */
  readonly responseTimeout: number;
  /** Body idle timeout, ms. */
  readonly idleTimeout: number;
  /** WebSocket tunnel idle timeout, ms. */
  readonly websocketIdleTimeout: number;
  /** True when insecureSkipVerify is set (warned about at every start). */
  readonly insecure: boolean;
  readonly outlier: OutlierSettings;
  /** Active probes; undefined when healthCheck is not configured. */
  readonly healthCheck: HealthCheckSettings | undefined;
  readonly health: HealthDeps;
  /** The config it was built from (JSON): a reload with the same keeps this object, state and probes included. */
  readonly identity: string;
  /** Running probes (startUpstream), undefined before and after. */
  checks: ActiveChecks | undefined;
}
