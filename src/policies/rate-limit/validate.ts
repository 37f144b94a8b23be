/** Rules the schema alone cannot say, reported with their field path. */
import type { Config } from '../../config/schema.js';
import type { Problems } from '../../pipeline/contract.js';
import { parseDuration } from '../../util/units.js';
import type { LimitConfig } from './schema.js';

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

export function validateRateLimit(config: Config, p: Problems): void {
  const s = config.rateLimit;
  if (s.store === 'redis') {
    const url = s.redis.url;
    if (url === undefined || url === '') p.add('rateLimit.redis.url', 'required with store: redis');
    else {
      let ok = false;
      try {
        const u = new URL(url);
        ok = (u.protocol === 'redis:' || u.protocol === 'rediss:') && u.hostname !== '';
      } catch {
        ok = false;
      }
      if (!ok) p.add('rateLimit.redis.url', `expected a redis:// or rediss:// URL, got ${JSON.stringify(url.replace(/\/\/[^@/]*@/, '//***@'))}`);
    }
  }
  const timeout = parseDuration(s.redis.timeout);
  if (timeout !== undefined && (timeout < 1 || timeout > 10_000)) {
    p.add('rateLimit.redis.timeout', `must be from 1ms to 10s, got ${JSON.stringify(s.redis.timeout)}`);
  }
  checkList(config.defaults.rateLimit, 'defaults.rateLimit', p);
  config.routes.forEach((r, i) => checkList(r.rateLimit, `routes[${i}].rateLimit`, p));
}
