/**
 * The Redis store: EVALSHA of one script (redis-script.ts), shared by every gateway on the Redis.
 *
 * Requests that arrive in one event-loop turn go to Redis together, in script calls of at most
 * MAX_BATCH requests: under load a request costs a share of a round trip, never more than one.
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
 *
 * Beyond one server: with Sentinel ioredis asks the sentinels for the master and follows a failover;
 * nothing else changes. With Cluster a script call may only touch keys of one hash slot, so the keys
 * of one request share a hash tag (the policy builds them so, see `sameSlotKeys`) and a turn's batch
 * is sent as one script call per slot. The single-server path does no slot work at all.
 */
import { createHash } from 'node:crypto';
import { Cluster, Redis, type ClusterNode, type RedisOptions } from 'ioredis';
import type { Decision, LimitOutcome, Rate } from '../algorithm.js';
import { GCRA_SCRIPT } from './redis-script.js';
import { keySlot } from './slot.js';
import type { RateLimitStore } from './store.js';

export interface RedisNode {
  readonly host: string;
  readonly port: number;
}

/** Where the counters live: one server, a Sentinel-watched master group, or a Cluster. */
export type RedisTarget =
  | { readonly url: string }
  | {
      readonly sentinels: readonly RedisNode[];
      readonly name: string;
      readonly username?: string | undefined;
      readonly password?: string | undefined;
      readonly sentinelPassword?: string | undefined;
    }
  | { readonly cluster: readonly (RedisNode | string)[]; readonly username?: string | undefined; readonly password?: string | undefined };

export type RedisStoreOptions = RedisTarget & {
  prefix: string;
  timeoutMs: number;
  onConnectionError?(err: Error): void;
}

export interface RedisStore extends RateLimitStore {
  readonly kind: 'redis';
  readonly client: Redis | Cluster;
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

/** One request's decision from the batch reply, starting at `at`. */
function parse(r: number[], at: number, n: number): Decision {
  const outcomes: LimitOutcome[] = new Array<LimitOutcome>(n);
  for (let i = 0; i < n; i++) outcomes[i] = { remaining: r[at + 1 + 3 * i]!, reset: r[at + 2 + 3 * i]!, over: r[at + 3 + 3 * i] === 1 };
  return { allowed: r[at] === 1, outcomes };
}

/** A rate set as script arguments (n, then T, L, E per limit), made once per route's array of rates. */
const rateArgsCache = new WeakMap<readonly Rate[], readonly string[]>();
function rateArgs(rates: readonly Rate[]): readonly string[] {
  let a = rateArgsCache.get(rates);
  if (a === undefined) {
    a = [String(rates.length), ...rates.flatMap((r) => [String(r.interval), String(r.limit), r.enforce ? '1' : '0'])];
    rateArgsCache.set(rates, a);
  }
  return a;
}

/**
 * Most requests one script call decides. A batch that reaches it is sent at once, not at the end of
 * the turn: Redis decides it while the gateway reads the rest of the turn's requests. Sent only at
 * the end of the turn, every batch left the gateway's CPU waiting for Redis (5–9% idle under load
 * with one gateway at 64 connections, against 0–3% with batches of 32 sent as they fill).
 */
const MAX_BATCH = 32;

function connect(opts: RedisStoreOptions): Redis | Cluster {
  const retryStrategy = (times: number) => Math.min(50 * 2 ** Math.min(times, 5), 1000);
  const common: RedisOptions = {
    lazyConnect: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    // Requests of one event-loop turn are batched into one script call here (see hit), which
    // beats ioredis' auto-pipelining: one command, not one per request.
    enableAutoPipelining: false,
    connectTimeout: Math.max(1000, opts.timeoutMs * 4),
    retryStrategy,
  };
  if ('url' in opts) return new Redis(opts.url, common);
  const auth = { ...(opts.username !== undefined ? { username: opts.username } : {}), ...(opts.password !== undefined ? { password: opts.password } : {}) };
  if ('sentinels' in opts) {
    return new Redis({
      ...common,
      ...auth,
      sentinels: opts.sentinels.map((n) => ({ host: n.host, port: n.port })),
      name: opts.name,
      ...(opts.sentinelPassword !== undefined ? { sentinelPassword: opts.sentinelPassword } : {}),
      sentinelRetryStrategy: retryStrategy,
    });
  }
  const nodes: ClusterNode[] = opts.cluster.map((n) => (typeof n === 'string' ? n : { host: n.host, port: n.port }));
  return new Cluster(nodes, {
    lazyConnect: true,
    enableOfflineQueue: false,
    enableAutoPipelining: false,
    clusterRetryStrategy: retryStrategy,
    redisOptions: { maxRetriesPerRequest: 0, connectTimeout: common.connectTimeout!, ...auth },
  });
}

export function createRedisStore(opts: RedisStoreOptions): RedisStore {
  const client = connect(opts);
  const cluster = client instanceof Cluster;
  client.on('error', (err: Error) => opts.onConnectionError?.(err));
  client.on('ready', () => {
    // Load ahead of the first request after a (re)start, so NOSCRIPT stays rare (on every master of a cluster).
    const targets = client instanceof Cluster ? client.nodes('master') : [client];
    for (const node of targets) node.script('LOAD', GCRA_SCRIPT).catch(() => undefined);
  });
  client.connect().catch(() => undefined); // failures arrive as 'error' events; retries continue

  let inFlight = 0;

  /** Requests waiting for Redis, oldest first (deadlines are in arrival order). */
  interface Pending {
    deadline: number;
    done: boolean;
    keys: readonly string[];
    rates: readonly Rate[];
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

  /** Requests of this event-loop turn not sent yet: sent when MAX_BATCH are waiting, or once the turn ends. */
  let batch: Pending[] = [];
  let flushScheduled = false;

  const sendBatch = (): void => {
    const group = batch;
    batch = [];
    if (cluster && group.length > 1) sendBySlot(group);
    else send(group);
  };

  /** Cluster: one script call per hash slot (the keys of one request share its slot). */
  function sendBySlot(group: Pending[]): void {
    const bySlot = new Map<number, Pending[]>();
    for (const p of group) {
      const slot = keySlot(opts.prefix + p.keys[0]!);
      const same = bySlot.get(slot);
      if (same === undefined) bySlot.set(slot, [p]);
      else same.push(p);
    }
    for (const same of bySlot.values()) send(same);
  }
  const flush = (): void => {
    flushScheduled = false;
    if (batch.length > 0) sendBatch();
  };

  function send(group: Pending[]): void {
    const keys: string[] = [];
    // The distinct rate sets first (a route passes the same array on every request), then one set
    // number per request: see redis-script.ts for the layout.
    const setArgs: string[] = [];
    const setOf = new Map<readonly Rate[], string>();
    const perRequest: string[] = [];
    for (const p of group) {
      let set = setOf.get(p.rates);
      if (set === undefined) {
        set = String(setOf.size + 1);
        setOf.set(p.rates, set);
        setArgs.push(...rateArgs(p.rates));
      }
      perRequest.push(set);
      for (let i = 0; i < p.keys.length; i++) keys.push(opts.prefix + p.keys[i]!);
    }
    const args = [String(setOf.size), ...setArgs, String(group.length), ...perRequest];
    inFlight += group.length;
    client.evalsha(SCRIPT_SHA, keys.length, ...keys, ...args).then(
      (reply) => settle(group, reply),
      (err: unknown) => {
        if (err instanceof Error && err.message.startsWith('NOSCRIPT')) {
          // Redis restarted or its script cache was flushed: EVAL loads the script again.
          client.eval(GCRA_SCRIPT, keys.length, ...keys, ...args).then(
            (reply) => settle(group, reply),
            (e: unknown) => fail(group, e),
          );
          return;
        }
        fail(group, err);
      },
    );
  }

  function settle(group: Pending[], reply: unknown): void {
    inFlight -= group.length;
    const r = reply as number[];
    const expected = group.reduce((sum, p) => sum + 1 + 3 * p.keys.length, 0);
    if (!Array.isArray(r) || r.length !== expected) {
      fail(group, new Error('unexpected reply from the rate-limit script'), false);
      return;
    }
    let at = 0;
    for (const p of group) {
      const n = p.keys.length;
      // A reply that came too late is dropped: the request was already decided by onStoreError.
      if (!p.done) {
        p.done = true;
        p.resolve(parse(r, at, n));
      }
      at += 1 + 3 * n;
    }
  }

  function fail(group: Pending[], err: unknown, count = true): void {
    if (count) inFlight -= group.length;
    const e = err instanceof Error ? err : new Error(String(err));
    for (const p of group) {
      if (p.done) continue;
      p.done = true;
      p.reject(e);
    }
  }

  return {
    kind: 'redis',
    sameSlotKeys: cluster,
    client,
    hit(keys: readonly string[], rates: readonly Rate[]): Promise<Decision> {
      if (inFlight >= MAX_IN_FLIGHT) return Promise.reject(new Error(`${inFlight} rate-limit commands already wait for Redis`));
      if (client.status !== 'ready') return Promise.reject(new Error(`Redis connection is ${client.status}`));
      return new Promise<Decision>((resolve, reject) => {
        const p: Pending = { deadline: performance.now() + opts.timeoutMs, done: false, keys, rates, resolve, reject };
        queue.push(p);
        if (batch.push(p) === MAX_BATCH) sendBatch();
        else if (!flushScheduled) {
          flushScheduled = true;
          setImmediate(flush);
        }
        if (sweeper === undefined) {
          sweeper = setInterval(sweep, sweepEvery);
          sweeper.unref();
        }
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
