/**
 * The rate-limit policy (phase admission, after auth so `consumer` sees the principal).
 * setup() makes the store once per snapshot and hands it on across reloads when its settings did not
 * change (the memory buckets and the Redis connection survive a reload); create() compiles a route's
 * limits into store keys, rates and header prefixes, so a request only reads its key values.
 */
import type { Logger } from 'pino';
import type { Config } from '../../config/schema.js';
import { GatewayError } from '../../errors.js';
import type { RequestContext } from '../../pipeline/context.js';
import { definePolicy, type GatewayMetrics, type HookResult, type RouteHooks } from '../../pipeline/policy.js';
import { isTrustedLine } from '../../server/response.js';
import { parseDuration } from '../../util/units.js';
import { toRate, type Decision, type LimitOutcome, type Rate } from './algorithm.js';
import { policyHeader, rateLimitHeader, seconds, sfString, tightest } from './headers.js';
import { keyValue, parseKey, type KeySpec } from './keys.js';
import { createLogGate, type LogGate } from './log-gate.js';
import { LimitListSchema, RateLimitSettingsSchema, type LimitConfig, type RateLimitSettings } from './schema.js';
import { createMemoryStore, newHitScratch, type MemoryStore } from './stores/memory.js';
import type { RedisTarget } from './stores/redis.js';
import type { RateLimitStore } from './stores/store.js';
import { limitName, validateRateLimit } from './validate.js';

export const POLICY_NAME = 'rate-limit';
/** How long setup waits for a first Redis connection before serving anyway (decided by onStoreError). */
const REDIS_STARTUP_WAIT_MS = 2000;

export interface RateLimitShared {
  readonly settings: RateLimitSettings;
  /** Undefined when no route has a limit. */
  readonly store: RateLimitStore | undefined;
  /** What the store was made from: a reload with the same identity keeps it. */
  readonly identity: string;
  readonly logger: Logger;
  readonly metrics: GatewayMetrics;
  readonly storeErrorLog: LogGate;
}

function limitLists(config: Config): (readonly LimitConfig[] | undefined)[] {
  return [config.defaults.rateLimit, ...config.routes.map((r) => r.rateLimit)];
}

function storeIdentity(s: RateLimitSettings): string {
  return s.store === 'memory' ? `memory|${s.memory.maxKeys}` : `redis|${JSON.stringify(s.redis)}`;
}

/** The validated redis block as a connection target (validate.ts made sure exactly one kind is set). */
function redisTarget(r: RateLimitSettings['redis']): RedisTarget {
  const auth = { username: r.username, password: r.password };
  if (r.sentinels !== undefined) return { sentinels: r.sentinels, name: r.name!, sentinelPassword: r.sentinelPassword, ...auth };
  if (r.cluster !== undefined) return { cluster: r.cluster, ...auth };
  return { url: r.url! };
}

async function makeStore(s: RateLimitSettings, maxWindowMs: number, logger: Logger): Promise<RateLimitStore> {
  if (s.store === 'memory') return createMemoryStore({ maxKeys: s.memory.maxKeys, maxWindowMs });
  const gate = createLogGate(10_000);
  // Loaded only when a Redis store is configured: ioredis and its command tables add ~12 MiB of
  // RSS to every gateway process that imports them (measured with process.memoryUsage(), bench/README.md).
  const { createRedisStore } = await import('./stores/redis.js');
  const store = createRedisStore({
    ...redisTarget(s.redis),
    prefix: s.redis.prefix,
    timeoutMs: parseDuration(s.redis.timeout)!,
    onConnectionError(err) {
      const held = gate.pass();
      if (held >= 0) logger.warn({ event: 'ratelimit.redis_error', reason: err.message, suppressed: held }, 'rate-limit Redis connection failed; retrying');
    },
  });
  if (!(await store.ready(REDIS_STARTUP_WAIT_MS))) {
    logger.warn({ event: 'ratelimit.redis_unavailable' }, `rate-limit Redis not reachable yet; requests are decided by onStoreError (${s.onStoreError}) until it is`);
  }
  return store;
}

interface CompiledLimit {
  readonly name: string;
  readonly key: KeySpec;
  readonly rate: Rate;
  /** `route:name:` — the store key is this plus the key value (plus bucketSuffix on a Redis Cluster). */
  readonly bucketPrefix: string;
  /** `}:name` in a Redis Cluster layout (see keyLayout), else ''. */
  readonly bucketSuffix: string;
  /** `"name";r=` for the RateLimit field. */
  readonly fieldPrefix: string;
  /** `ratelimit-limit: L\r\nratelimit-remaining: ` — the legacy lines up to the remaining count. */
  readonly legacyPrefix: string;
  readonly shadowLog: LogGate;
  /** The one bucket of a `route` limit; '' for the other kinds. */
  readonly routeKey: string;
  /**
   * The last ip-keyed bucket key and the address it was made for: consecutive requests from one
   * client (a keep-alive connection) reuse the same string, which the store's Map has hashed already.
   */
  lastIp: string;
  lastIpKey: string;
  /**
   * The same for consumer-keyed limits: a cached JWT hands every request with that token the same
   * principal object, so its bucket key is built (two concatenations, and a new string for the
   * store's Map to hash) once per principal, not per request.
   */
  lastPrincipal: object | undefined;
  lastPrincipalKey: string;
}

/** The store key of a request for one limit. */
function bucketKey(c: CompiledLimit, ctx: RequestContext): string {
  if (c.key.kind === 'ip') {
    if (ctx.clientIp !== c.lastIp) {
      c.lastIp = ctx.clientIp;
      c.lastIpKey = c.bucketPrefix + keyValue(c.key, ctx);
    }
    return c.lastIpKey;
  }
  if (c.key.kind === 'route') return c.routeKey;
  if (c.key.kind === 'consumer') {
    const p = ctx.principal;
    if (p === undefined) return c.bucketPrefix + keyValue(c.key, ctx); // anonymous: by address
    if (p !== c.lastPrincipal) {
      c.lastPrincipal = p;
      c.lastPrincipalKey = c.bucketPrefix + keyValue(c.key, ctx);
    }
    return c.lastPrincipalKey;
  }
  return c.bucketPrefix + keyValue(c.key, ctx);
}

/**
 * Store key layout. One server and Sentinel: `route:name:value`. Redis Cluster: the keys of one
 * request must share a hash slot, and every request that touches a bucket must find it in the same
 * slot. When all of a route's limits count by the same key (ip, ip; or one limit) the key value is
 * in the hash tag, `{route:value}:name`, and buckets spread over the cluster; when they count by
 * different keys (ip and consumer) only the route is, `{route}:name:value`, so the route's buckets
 * share one slot. The name follows the value after a "}", and names hold no "}", so keys stay distinct.
 */
function keyLayout(route: string, name: string, oneKeyKind: boolean, cluster: boolean): { prefix: string; suffix: string } {
  if (!cluster) return { prefix: `${route}:${name}:`, suffix: '' };
  if (oneKeyKind) return { prefix: `{${route}:`, suffix: `}:${name}` };
  return { prefix: `{${route}}:${name}:`, suffix: '' };
}

function sameKey(a: KeySpec, b: KeySpec): boolean {
  return a.kind === b.kind && (a.kind !== 'header' || a.header === (b as { header: string }).header);
}

function compileRoute(route: { readonly name: string }, limits: readonly LimitConfig[], shared: RateLimitShared): RouteHooks {
  const store = shared.store!;
  const { onStoreError, headers } = shared.settings;
  const specs = limits.map((l) => parseKey(l.key, shared.settings.ipv6Prefix));
  const oneKeyKind = specs.every((k) => sameKey(k, specs[0]!));
  const cluster = store.sameSlotKeys === true;
  const compiled: CompiledLimit[] = limits.map((l, i) => {
    const name = limitName(l);
    const key = specs[i]!;
    const { prefix: bucketPrefix, suffix: bucketSuffix } = keyLayout(route.name, name, oneKeyKind, cluster);
    return {
      name,
      key,
      rate: toRate(l.limit, parseDuration(l.window)!, l.mode === 'enforce'),
      bucketPrefix,
      bucketSuffix,
      fieldPrefix: `${sfString(name)};r=`,
      legacyPrefix: `ratelimit-limit: ${l.limit}\r\nratelimit-remaining: `,
      shadowLog: createLogGate(1000),
      // A route key reads nothing of the request.
      routeKey: key.kind === 'route' ? bucketPrefix + keyValue(key, { clientIp: '', principal: undefined, req: { headers: {} } }) : '',
      lastIp: '',
      lastIpKey: '',
      lastPrincipal: undefined,
      lastPrincipalKey: '',
    };
  });
  // Only a cluster layout has suffixes; the other paths never look at them.
  const suffixed = compiled.some((c) => c.bucketSuffix !== '');
  const rates = compiled.map((c) => c.rate);
  const prefixes = compiled.map((c) => c.fieldPrefix);
  const policyField = policyHeader(limits.map((l) => ({ name: limitName(l), limit: l.limit, windowSeconds: parseDuration(l.window)! / 1000 })));
  const policyLine = headers.draft11 ? `ratelimit-policy: ${policyField}\r\n` : '';

  /** The fields of one decision as header lines: everything but the numbers is made above, once. */
  function headerLines(out: readonly LimitOutcome[]): string {
    let lines = policyLine;
    if (headers.draft11) lines += 'ratelimit: ' + rateLimitHeader(prefixes, out) + '\r\n';
    if (headers.legacy) {
      const i = tightest(out);
      lines += compiled[i]!.legacyPrefix + out[i]!.remaining + '\r\nratelimit-reset: ' + seconds(out[i]!.reset) + '\r\n';
    }
    return lines;
  }
  // They go out as trusted header lines (server/response.ts), so they are checked here, once: the
  // lines of a decision where each limit in turn is the tightest (limit names are plain by the
  // schema, so this cannot fail).
  for (let i = 0; i < compiled.length; i++) {
    const lines = headerLines(compiled.map((_, j) => ({ over: false, remaining: i === j ? 0 : 1, reset: 0 })));
    if (!lines.split(/(?<=\r\n)/).every((l) => l === '' || isTrustedLine(l))) throw new Error(`rate-limit header text of route ${route.name} is not plain`);
  }

  function apply(ctx: RequestContext, d: Decision): HookResult {
    const out = d.outcomes;
    const lines = headerLines(out);
    if (lines !== '') ctx.addResponseHeaderLines(lines);
    let retry = 0;
    let violated = '';
    for (let i = 0; i < out.length; i++) {
      const o = out[i]!;
      if (!o.over) continue;
      const c = compiled[i]!;
      if (c.rate.enforce) {
        if (o.reset > retry) retry = o.reset;
        violated ||= c.name;
        continue;
      }
      const held = c.shadowLog.pass();
      if (held >= 0) {
        ctx.log.info(
          { event: 'ratelimit.shadow', limit: c.name, key: c.key.kind, clientIp: ctx.clientIp, suppressed: held },
          `shadow limit ${c.name} would have rejected this request`,
        );
      }
    }
    if (d.allowed) return undefined;
    ctx.rateLimited = true;
    const wait = Math.max(1, seconds(retry));
    return new GatewayError('GW_ERR_RATE_LIMITED', `Rate limit "${violated}" exceeded; retry in ${wait}s.`, { 'retry-after': String(wait) });
  }

  function failed(ctx: RequestContext, err: unknown): HookResult {
    // RateLimit-Policy never changes: it is on every response of the route, also when the store failed.
    if (policyLine !== '') ctx.addResponseHeaderLines(policyLine);
    shared.metrics.rateLimitStoreError();
    const held = shared.storeErrorLog.pass();
    if (held >= 0) {
      ctx.log.warn(
        { event: 'ratelimit.store_error', reason: err instanceof Error ? err.message : String(err), decision: onStoreError, suppressed: held },
        `rate-limit store failed; request ${onStoreError === 'allow' ? 'allowed' : 'denied'} (onStoreError)`,
      );
    }
    if (onStoreError === 'allow') return undefined;
    return new GatewayError('GW_ERR_RATE_LIMIT_STORE', undefined, { 'retry-after': '1' });
  }

  // The memory store decides synchronously into this route's scratch (keys, TATs, decision): a
  // request allocates nothing for it, and the next request of the route finds it free again because
  // apply() has read the decision before onRequest returns.
  const memory = store.kind === 'memory' ? (store as MemoryStore) : undefined;
  const scratch = newHitScratch(compiled.length);
  const scratchKeys = new Array<string>(compiled.length).fill('');

  return {
    policy: POLICY_NAME,
    onRequest(ctx: RequestContext) {
      // The fields are set here (apply, failed) rather than in an onResponse hook, so upstream
      // response headers stay a flat list (no per-request header object).
      if (memory !== undefined) {
        for (let i = 0; i < compiled.length; i++) scratchKeys[i] = bucketKey(compiled[i]!, ctx);
        let d: Decision;
        try {
          // The request's arrival on the performance.now() clock, in µs: a clock reading saved.
          d = memory.hitInto(scratchKeys, rates, Math.floor(ctx.start * 1000), scratch);
        } catch (err) {
          return failed(ctx, err);
        }
        return apply(ctx, d);
      }
      const keys = new Array<string>(compiled.length);
      for (let i = 0; i < compiled.length; i++) keys[i] = bucketKey(compiled[i]!, ctx);
      if (suffixed) for (let i = 0; i < compiled.length; i++) keys[i] += compiled[i]!.bucketSuffix;
      let result: Promise<Decision> | Decision;
      try {
        result = store.hit(keys, rates);
      } catch (err) {
        return failed(ctx, err);
      }
      if (result instanceof Promise) return result.then((d) => apply(ctx, d), (err: unknown) => failed(ctx, err));
      return apply(ctx, result);
    },
  };
}

export const rateLimitPolicy = definePolicy<readonly LimitConfig[], RateLimitShared>({
  name: POLICY_NAME,
  phase: 'admission',
  order: 10,
  field: 'rateLimit',
  config: LimitListSchema,
  global: RateLimitSettingsSchema,
  // The store has its own time budget (rateLimit.redis.timeout) and decides by onStoreError.
  timeout: 0,
  validate: (view, p) => validateRateLimit(view.document as unknown as Config, p),

  async setup(view, services, previous) {
    const config = view.document as unknown as Config;
    const settings = config.rateLimit;
    const lists = limitLists(config);
    const used = lists.some((l) => l !== undefined && l.length > 0);
    const maxWindowMs = Math.max(1000, ...lists.flatMap((l) => (l ?? []).map((x) => parseDuration(x.window)!)));
    const identity = storeIdentity(settings);
    let store: RateLimitStore | undefined;
    if (used) {
      if (previous?.store !== undefined && previous.identity === identity) {
        store = previous.store;
        if (store.kind === 'memory') (store as MemoryStore).setMaxWindow(maxWindowMs);
      } else store = await makeStore(settings, maxWindowMs, services.logger);
    }
    return {
      settings,
      store,
      identity,
      logger: services.logger,
      metrics: services.metrics,
      storeErrorLog: previous?.storeErrorLog ?? createLogGate(1000),
    };
  },

  create(limits, { route, shared }) {
    if (limits.length === 0 || shared.store === undefined || route === undefined) return undefined;
    return compileRoute(route, limits, shared);
  },

  async dispose(shared, next) {
    if (shared.store !== undefined && shared.store !== next?.store) await shared.store.close();
  },
});
