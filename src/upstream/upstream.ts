/**
 * Upstreams: named groups of targets, each target with its own undici Pool (keep-alive, bounded
 * connections). Pools are owned by a PoolSet on the Gateway so a reload reuses a target's warm
 * connections when its settings did not change.
 */
import { readFileSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import type { ConnectionOptions } from 'node:tls';
import { Pool } from 'undici';
import { ConfigError } from '../errors.js';
import type { UpstreamConfig } from '../config/schema.js';
import { parseDuration } from '../util/units.js';
import { BALANCERS } from './balancers/index.js';
import {
  newTargetHealth,
  parseExpect,
  startActiveChecks,
  withTrial,
} from './health.js';
import type { HealthDeps, OutlierSettings, Target, Upstream } from './types.js';

export type { Target, Upstream } from './types.js';

interface PoolEntry {
  pool: Pool;
  key: string;
  users: number;
}

/** The gateway's pools, keyed by origin and settings; shared by snapshots, closed when unused. */
export class PoolSet {
  private readonly pools = new Map<string, PoolEntry>();

  acquire(origin: string, cfg: UpstreamConfig, tls?: ConnectionOptions, tlsKey = ''): Pool {
    const connect = parseDuration(cfg.timeouts.connect)!;
    const keepAlive = parseDuration(cfg.keepAlive)!;
    const key = `${origin}|${cfg.connections}|${connect}|${keepAlive}|${tlsKey}`;
    let entry = this.pools.get(key);
    if (!entry) {
      const pool = new Pool(origin, {
        connections: cfg.connections,
        pipelining: 1,
        keepAliveTimeout: keepAlive,
        keepAliveMaxTimeout: Math.max(keepAlive, 600_000),
        // undici keeps a TLS session cache per pool (maxCachedSessions, default 100): new connections
        // to a target resume a session instead of a full handshake.
        connect: { timeout: connect, ...tls },
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

function readPem(file: string, baseDir: string, field: string): Buffer {
  try {
    return readFileSync(isAbsolute(file) || baseDir === '' ? resolve(file) : resolve(baseDir, file));
  } catch (err) {
    throw new ConfigError([`${field}: cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`]);
  }
}

/** The TLS options of an upstream's https:// targets (files read once, at compile time). */
export function upstreamTlsOptions(name: string, cfg: UpstreamConfig, baseDir: string): { options: ConnectionOptions; key: string } | undefined {
  const tls = cfg.tls;
  if (tls === undefined) return undefined;
  const at = `upstreams.${name}.tls`;
  const options: ConnectionOptions = { rejectUnauthorized: !tls.insecureSkipVerify };
  if (tls.ca !== undefined && !tls.insecureSkipVerify) options.ca = readPem(tls.ca, baseDir, `${at}.ca`);
  if (tls.cert !== undefined) options.cert = readPem(tls.cert, baseDir, `${at}.cert`);
  if (tls.key !== undefined) options.key = readPem(tls.key, baseDir, `${at}.key`);
  if (tls.servername !== undefined) options.servername = tls.servername;
  // Pools with the same files share; changed file contents make a new pool on reload.
  const key = JSON.stringify([tls, options.ca?.toString('base64').slice(-64), options.cert?.toString('base64').slice(-64)]);
  return { options, key };
}

/**
 * What decides whether a reload keeps an upstream (its state, pools and probes) or builds it anew: its
 * config and, for TLS, the certificate file contents (a rotated CA or client certificate builds anew).
 */
export function upstreamIdentity(name: string, cfg: UpstreamConfig, baseDir = ''): string {
  return JSON.stringify([cfg, upstreamTlsOptions(name, cfg, baseDir)?.key]);
}

export function createUpstream(name: string, cfg: UpstreamConfig, pools: PoolSet, deps: HealthDeps, baseDir = ''): Upstream {
  const tls = upstreamTlsOptions(name, cfg, baseDir);
  const targets: Target[] = cfg.targets.map((t) => {
    const url = new URL(t.url);
    const basePath = url.pathname === '/' ? '' : url.pathname.replace(/\/$/, '');
    const secure = url.protocol === 'https:';
    return {
      origin: url.origin,
      basePath,
      weight: t.weight,
      tls: secure ? (tls?.options ?? {}) : undefined,
      pool: pools.acquire(url.origin, cfg, secure ? tls?.options : undefined, secure ? tls?.key : ''),
      active: 0,
      available: true,
      health: newTargetHealth(),
    };
  });
  const od = cfg.outlierDetection;
  const outlier: OutlierSettings = {
    consecutiveFailures: od.consecutiveFailures,
    consecutive5xx: od.consecutive5xx,
    ejectionTime: parseDuration(od.ejectionTime)!,
    maxEjectionTime: Math.max(parseDuration(od.maxEjectionTime)!, parseDuration(od.ejectionTime)!),
  };
  const hc = cfg.healthCheck;
  const balancer = BALANCERS[cfg.balance](targets);
  const upstream: Upstream = {
    name,
    targets,
    // The half-open wrapper only when ejection can happen: with outlier detection off, picks stay direct.
    balancer: od.consecutiveFailures > 0 || od.consecutive5xx > 0 ? withTrial(balancer, () => upstream) : balancer,
    responseTimeout: parseDuration(cfg.timeouts.response)!,
    idleTimeout: parseDuration(cfg.timeouts.idle)!,
    websocketIdleTimeout: parseDuration(cfg.timeouts.websocketIdle)!,
    insecure: cfg.tls?.insecureSkipVerify === true,
    outlier,
    healthCheck:
      hc === undefined
        ? undefined
        : {
            path: hc.path,
            interval: parseDuration(hc.interval)!,
            timeout: parseDuration(hc.timeout)!,
            healthyAfter: hc.healthyAfter,
            unhealthyAfter: hc.unhealthyAfter,
            expect: parseExpect(hc.expectStatus),
          },
    health: deps,
    identity: JSON.stringify([cfg, tls?.key]), // as upstreamIdentity
    checks: undefined,
  };
  return upstream;
}

/** Start the active probes (once; a no-op without healthCheck). */
export function startUpstream(u: Upstream): void {
  if (u.healthCheck !== undefined && u.checks === undefined) u.checks = startActiveChecks(u, u.healthCheck);
}

/** Stop probes and ejection timers, and give back the pools (unless the caller closes them all). Nothing of `u` runs afterwards. */
export async function stopUpstream(u: Upstream, pools: PoolSet | undefined): Promise<void> {
  const checks = u.checks;
  u.checks = undefined;
  for (const t of u.targets) {
    if (t.health.timer !== undefined) u.health.timers.clearTimeout(t.health.timer);
    t.health.timer = undefined;
  }
  await checks?.stop();
  await pools?.release(u.targets.map((t) => t.pool));
}
