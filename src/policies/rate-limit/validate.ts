/** Rules the schema alone cannot say, reported with their field path. */
import type { Config } from '../../config/schema.js';
import type { Problems } from '../../pipeline/contract.js';
import { parseDuration } from '../../util/units.js';
import type { LimitConfig, RedisSettings } from './schema.js';

export const MIN_WINDOW_MS = 1000;
export const MAX_WINDOW_MS = 7 * 86_400_000;

/** The name a limit goes by in headers and store keys: `ip-1s`, `header-x-api-key-1h` … */
export function limitName(l: LimitConfig): string {
  return l.name ?? `${l.key.replace(':', '-').toLowerCase()}-${l.window.replace(/\s+/g, '')}`;
}

function checkList(list: readonly LimitConfig[] | undefined, at: string, p: Problems): void {
  const names = new Map<string, number>();
  list?.forEach((l, i) => {
    const here = `${at}[${i}]`;
    const ms = parseDuration(l.window);
    if (ms !== undefined) {
      if (ms < MIN_WINDOW_MS) p.add(`${here}.window`, `must be at least 1s, got ${JSON.stringify(l.window)}`);
      else if (ms > MAX_WINDOW_MS) p.add(`${here}.window`, `must be at most 7d, got ${JSON.stringify(l.window)}`);
      else if (ms % 1000 !== 0) {
        p.add(`${here}.window`, `must be a whole number of seconds (RateLimit-Policy advertises w in seconds), got ${JSON.stringify(l.window)}`);
      } else if (l.limit > ms * 1000) {
        p.add(`${here}.limit`, `at most one request per microsecond: ${l.limit} per ${l.window} is more than ${ms * 1000}`);
      }
    }
    const name = limitName(l);
    const prev = names.get(name);
    if (prev !== undefined) {
      p.add(`${here}${l.name !== undefined ? '.name' : ''}`, `a second limit named "${name}" (also ${at}[${prev}]); give one of them a distinct name`);
    } else names.set(name, i);
  });
}

function isRedisUrl(url: string): boolean {
  try {
    const u = new URL(url);
    return (u.protocol === 'redis:' || u.protocol === 'rediss:') && u.hostname !== '';
  } catch {
    return false;
  }
}

// A Redis URL may carry a password (redis://:pass@host, and a '/' in it defeated any masking): never echoed.
const NOT_SHOWN = 'expected a redis:// or rediss:// URL with a host (the value is secret and not shown)';

/** One server (url), Sentinel (sentinels + name) or Cluster (cluster): exactly one, with what it needs. */
function checkRedis(r: RedisSettings, p: Problems): void {
  const at = 'rateLimit.redis';
  const given = (['url', 'sentinels', 'cluster'] as const).filter((k) => r[k] !== undefined && r[k] !== '');
  if (given.length === 0) {
    p.add(`${at}.url`, 'required with store: redis (or sentinels with name, or cluster)');
    return;
  }
  if (given.length > 1) p.add(at, `use one of url, sentinels or cluster, not ${given.join(' and ')}`);
  if (r.url !== undefined && r.url !== '') {
    if (!isRedisUrl(r.url)) p.add(`${at}.url`, NOT_SHOWN);
    for (const k of ['username', 'password', 'sentinelPassword'] as const) {
      if (r[k] !== undefined) p.add(`${at}.${k}`, 'only applies with sentinels or cluster; with url, put credentials in the URL (redis://user:pass@host:6379)');
    }
  }
  if (r.sentinels !== undefined && (r.name === undefined || r.name === '')) p.add(`${at}.name`, 'required with sentinels: the master group name the sentinels monitor');
  if (r.name !== undefined && r.sentinels === undefined) p.add(`${at}.name`, 'only applies with sentinels');
  if (r.sentinelPassword !== undefined && r.sentinels === undefined) p.add(`${at}.sentinelPassword`, 'only applies with sentinels');
  if (r.cluster !== undefined) {
    r.cluster.forEach((node, i) => {
      if (typeof node === 'string' && !isRedisUrl(node)) p.add(`${at}.cluster[${i}]`, NOT_SHOWN);
    });
    // The store's own hash tag must be the first "{…}" of every key (see stores/redis.ts).
    if (/[{}]/.test(r.prefix)) p.add(`${at}.prefix`, 'must not contain "{" or "}" with cluster: the gateway puts its own hash tag in every key');
  }
}

export function validateRateLimit(config: Config, p: Problems): void {
  const s = config.rateLimit;
  if (s.store === 'redis') checkRedis(s.redis, p);
  const timeout = parseDuration(s.redis.timeout);
  if (timeout !== undefined && (timeout < 1 || timeout > 10_000)) {
    p.add('rateLimit.redis.timeout', `must be from 1ms to 10s, got ${JSON.stringify(s.redis.timeout)}`);
  }
  checkList(config.defaults.rateLimit, 'defaults.rateLimit', p);
  config.routes.forEach((r, i) => checkList(r.rateLimit, `routes[${i}].rateLimit`, p));
}
