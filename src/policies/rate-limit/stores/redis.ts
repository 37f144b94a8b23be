/**
 * The Redis store: one EVALSHA per request (redis-script.ts), shared by every gateway on the Redis.
 *
 * Failure rules — the request must be decided within `timeoutMs`, whatever Redis does:
 * - no offline queue: while disconnected a command fails at once instead of waiting for a reconnect;
 * - a deadline per request bounds a slow or hung Redis (late replies are dropped); one sweeping
 *   timer serves them all, so a request costs no timer of its own;
 * - at most MAX_IN_FLIGHT commands wait for replies: past that (a hung Redis under load) requests
 *   fail fast instead of piling up in ioredis' reply queue;
 * - ioredis reconnects by itself (backoff capped at 1 s) and the script is loaded again on `ready`,
 *   so limiting resumes without anyone touching the gateway.
 * Connection errors are reported through `onConnectionError`; the caller logs them, rate-limited.
 */
import { createHash } from 'node:crypto';
import { Redis } from 'ioredis';
import type { Decision, LimitOutcome, Rate } from '../algorithm.js';
import { GCRA_SCRIPT } from './redis-script.js';
import type { RateLimitStore } from './store.js';

export interface RedisStoreOptions {
  url: string;
  prefix: string;
  timeoutMs: number;
  onConnectionError?(err: Error): void;
}

export interface RedisStore extends RateLimitStore {
  readonly kind: 'redis';
  readonly client: Redis;
  /** Resolves true once connected (false after `ms` without a connection; requests then go to onStoreError). */
  ready(ms: number): Promise<boolean>;
}

export const MAX_IN_FLIGHT = 5000;
const SCRIPT_SHA = createHash('sha1').update(GCRA_SCRIPT).digest('hex');

export class StoreTimeoutError extends Error {
  constructor(ms: number) {
    super(`rate-limit store did not answer within ${ms}ms`);
    this.name = 'StoreTimeoutError';
  }
}

function parse(reply: unknown, n: number): Decision {
  const r = reply as number[];
  if (!Array.isArray(r) || r.length !== 1 + 3 * n) throw new Error('unexpected reply from the rate-limit script');
  const outcomes: LimitOutcome[] = new Array<LimitOutcome>(n);
  for (let i = 0; i < n; i++) outcomes[i] = { remaining: r[1 + 3 * i]!, reset: r[2 + 3 * i]!, over: r[3 + 3 * i] === 1 };
  return { allowed: r[0] === 1, outcomes };
}

export function createRedisStore(opts: RedisStoreOptions): RedisStore {
  const client = new Redis(opts.url, {
    lazyConnect: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    enableAutoPipelining: true, // requests of one event-loop turn share one write
    connectTimeout: Math.max(1000, opts.timeoutMs * 4),
    retryStrategy: (times: number) => Math.min(50 * 2 ** Math.min(times, 5), 1000),
  });
  client.on('error', (err: Error) => opts.onConnectionError?.(err));
  client.on('ready', () => {
    // Load ahead of the first request after a (re)start, so NOSCRIPT stays rare.
    client.script('LOAD', GCRA_SCRIPT).catch(() => undefined);
  });
  client.connect().catch(() => undefined); // failures arrive as 'error' events; retries continue

  let inFlight = 0;

  /** Requests waiting for Redis, oldest first (deadlines are in arrival order). */
  interface Pending {
    deadline: number;
    done: boolean;
    resolve(d: Decision): void;
    reject(err: Error): void;
  }
  let queue: Pending[] = [];
  let head = 0;
  let sweeper: NodeJS.Timeout | undefined;
  const sweepEvery = Math.max(1, Math.min(10, Math.floor(opts.timeoutMs / 4)));
  const sweep = () => {
    const now = performance.now();
    while (head < queue.length) {
      const p = queue[head]!;
      if (!p.done) {
        if (p.deadline > now) break;
        p.done = true;
        p.reject(new StoreTimeoutError(opts.timeoutMs));
      }
      queue[head++] = undefined as unknown as Pending;
    }
    if (head === queue.length) {
      queue = [];
      head = 0;
      clearInterval(sweeper);
      sweeper = undefined;
    } else if (head > 1024) {
      queue = queue.slice(head);
      head = 0;
    }
  };

  function send(args: (string | number)[], n: number, p: Pending): void {
    inFlight++;
    client.evalsha(SCRIPT_SHA, n, ...args).then(
      (reply) => settle(p, reply, n),
      (err: unknown) => {
        if (err instanceof Error && err.message.startsWith('NOSCRIPT') && !p.done) {
          // Redis restarted or its script cache was flushed: EVAL loads the script again.
          client.eval(GCRA_SCRIPT, n, ...args).then(
            (reply) => settle(p, reply, n),
            (e: unknown) => fail(p, e),
          );
          return;
        }
        fail(p, err);
      },
    );
  }

  function settle(p: Pending, reply: unknown, n: number): void {
    inFlight--;
    if (p.done) return; // answered too late: the request was already decided by onStoreError
    p.done = true;
    try {
      p.resolve(parse(reply, n));
    } catch (err) {
      p.reject(err as Error);
    }
  }

  function fail(p: Pending, err: unknown): void {
    inFlight--;
    if (p.done) return;
    p.done = true;
    p.reject(err instanceof Error ? err : new Error(String(err)));
  }

  return {
    kind: 'redis',
    client,
    hit(keys: readonly string[], rates: readonly Rate[]): Promise<Decision> {
      if (inFlight >= MAX_IN_FLIGHT) return Promise.reject(new Error(`${inFlight} rate-limit commands already wait for Redis`));
      if (client.status !== 'ready') return Promise.reject(new Error(`Redis connection is ${client.status}`));
      const n = keys.length;
      const args: (string | number)[] = new Array<string | number>(4 * n);
      for (let i = 0; i < n; i++) {
        args[i] = opts.prefix + keys[i]!;
        const r = rates[i]!;
        args[n + 3 * i] = r.interval;
        args[n + 3 * i + 1] = r.limit;
        args[n + 3 * i + 2] = r.enforce ? 1 : 0;
      }
      return new Promise<Decision>((resolve, reject) => {
        const p: Pending = { deadline: performance.now() + opts.timeoutMs, done: false, resolve, reject };
        queue.push(p);
        if (sweeper === undefined) {
          sweeper = setInterval(sweep, sweepEvery);
          sweeper.unref();
        }
        send(args, n, p);
      });
    },
    ready(ms: number): Promise<boolean> {
      if (client.status === 'ready') return Promise.resolve(true);
      return new Promise((resolve) => {
        const done = (ok: boolean) => {
          clearTimeout(timer);
          client.off('ready', onReady);
          resolve(ok);
        };
        const onReady = () => done(true);
        const timer = setTimeout(() => done(false), ms);
        timer.unref();
        client.on('ready', onReady);
      });
    },
    async close() {
      if (sweeper !== undefined) clearInterval(sweeper);
      for (let i = head; i < queue.length; i++) {
        const p = queue[i]!;
        if (!p.done) {
          p.done = true;
          p.reject(new Error('rate-limit store closed'));
        }
      }
      queue = [];
      head = 0;
      try {
        await Promise.race([client.quit(), new Promise((r) => setTimeout(r, 500).unref())]);
      } catch {
        // already closed
      }
      client.disconnect();
    },
  };
}
