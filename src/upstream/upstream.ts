/**
 * Upstreams: named groups of targets, each target with its own undici Pool (keep-alive, bounded
 * connections). Pools are owned by a PoolSet on the Gateway so a reload reuses a target's warm
 * connections when its settings did not change.
 */
import { Pool } from 'undici';
import type { UpstreamConfig } from '../config/schema.js';
import { parseDuration } from '../util/units.js';
import { BALANCERS, type Balancer } from './balancers/index.js';
import type { OutlierSettings } from './health.js';

export interface Target {
  /** `http://10.0.0.5:9000` — also the metrics/log label. */
  readonly origin: string;
  /** Path prefix from the target URL (`http://h/base` → `/base`), '' when none. */
  readonly basePath: string;
  readonly weight: number;
  readonly pool: Pool;
  active: number;
  available: boolean;
  /** Consecutive connection failures (passive health). */
  failures: number;
  ejectionTimer: NodeJS.Timeout | undefined;
}

export interface Upstream {
  readonly name: string;
  readonly targets: readonly Target[];
  readonly balancer: Balancer<Target>;
  /** Response-head timeout, ms. */
  readonly responseTimeout: number;
  /** Body idle timeout, ms. */
  readonly idleTimeout: number;
  readonly outlier: OutlierSettings;
}

interface PoolEntry {
  pool: Pool;
  key: string;
  users: number;
}

/** The gateway's pools, keyed by origin and settings; shared by snapshots, closed when unused. */
export class PoolSet {
  private readonly pools = new Map<string, PoolEntry>();

  acquire(origin: string, cfg: UpstreamConfig): Pool {
    const connect = parseDuration(cfg.timeouts.connect)!;
    const keepAlive = parseDuration(cfg.keepAlive)!;
    const key = `${origin}|${cfg.connections}|${connect}|${keepAlive}`;
    let entry = this.pools.get(key);
    if (!entry) {
      const pool = new Pool(origin, {
        connections: cfg.connections,
        pipelining: 1,
        keepAliveTimeout: keepAlive,
        keepAliveMaxTimeout: Math.max(keepAlive, 600_000),
        connect: { timeout: connect },
        // per-request headersTimeout/bodyTimeout are given on each dispatch
      });
      entry = { pool, key, users: 0 };
      this.pools.set(key, entry);
    }
    entry.users++;
    return entry.pool;
  }

  /** Drop one use of each pool; close those nobody uses any more. */
  async release(pools: readonly Pool[]): Promise<void> {
    const closing: Promise<void>[] = [];
    for (const pool of pools) {
      for (const [key, entry] of this.pools) {
        if (entry.pool !== pool) continue;
        if (--entry.users === 0) {
          this.pools.delete(key);
          closing.push(entry.pool.close().catch(() => undefined));
        }
      }
    }
    await Promise.all(closing);
  }

  async closeAll(force = false): Promise<void> {
    const all = [...this.pools.values()];
    this.pools.clear();
    await Promise.all(all.map((e) => (force ? e.pool.destroy() : e.pool.close()).catch(() => undefined)));
  }
}

export function createUpstream(name: string, cfg: UpstreamConfig, pools: PoolSet): Upstream {
  const targets: Target[] = cfg.targets.map((t) => {
    const url = new URL(t.url);
    const basePath = url.pathname === '/' ? '' : url.pathname.replace(/\/$/, '');
    return {
      origin: url.origin,
      basePath,
      weight: t.weight,
      pool: pools.acquire(url.origin, cfg),
      active: 0,
      available: true,
      failures: 0,
      ejectionTimer: undefined,
    };
  });
  return {
    name,
    targets,
    balancer: BALANCERS[cfg.balance](targets),
    responseTimeout: parseDuration(cfg.timeouts.response)!,
    idleTimeout: parseDuration(cfg.timeouts.idle)!,
    outlier: {
      consecutiveFailures: cfg.outlierDetection.consecutiveFailures,
      ejectionTime: parseDuration(cfg.outlierDetection.ejectionTime)!,
    },
  };
}
