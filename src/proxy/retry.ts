/**
 * Retries (Envoy's retry policy and retry budget; Finagle's RetryBudget): a request that failed
 * before any response byte reached the client is tried again on another target, with exponential
 * backoff and full jitter, when its method is idempotent (or the route says so), its body was small
 * enough to keep, and the upstream's budget allows. The budget is a token bucket per upstream: every
 * request deposits `budget` (20% → 0.2 tokens), a retry takes one, and a trickle of `minPerSecond`
 * keeps a quiet upstream retryable — so retries can never multiply load during an outage.
 */
import type { Static } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import type { UpstreamErrorKind } from './errors.js';
import { RetriesSchema } from '../config/schema.js';
import { parseDuration, parseSize } from '../util/units.js';

export type RetriesConfig = Static<typeof RetriesSchema>;

/** Why a try is retried (the label of gateway_upstream_retries_total). */
export type RetryReason = 'connect-failure' | 'reset' | 'timeout' | `${number}`;

export class RetryBudget {
  private balance: number;
  private last: number;
  constructor(
    private readonly share: number,
    private readonly minPerSecond: number,
    private readonly cap: number,
    now: number,
  ) {
    this.balance = cap;
    this.last = now;
  }

  /** An original request to the upstream: it earns `share` of a retry. */
  deposit(): void {
    if (this.balance < this.cap) this.balance += this.share;
  }

  /** Take one retry if the budget has it (the trickle is added first). */
  withdraw(now: number): boolean {
    const elapsed = (now - this.last) / 1000;
    this.last = now;
    this.balance = Math.min(this.cap, this.balance + elapsed * this.minPerSecond);
    if (this.balance < 1) return false;
    this.balance -= 1;
    return true;
  }
}

export interface RetryPolicy {
  /** Retries after the first try. */
  readonly attempts: number;
  readonly methods: ReadonlySet<string>;
  readonly onConnectFailure: boolean;
  readonly onReset: boolean;
  readonly onTimeout: boolean;
  readonly statuses: ReadonlySet<number>;
  /** Response-head timeout of one try, ms (0: the route's). */
  readonly perTryTimeout: number;
  /** Largest request body kept for a retry, bytes. */
  readonly maxBodySize: number;
  readonly backoffBase: number;
  readonly backoffMax: number;
  readonly budget: RetryBudget;
}

/** The policy a route's tries follow; `budgets` holds one bucket per upstream for the snapshot. */
export function compileRetryPolicy(given: RetriesConfig, upstream: string, budgets: Map<string, RetryBudget>): RetryPolicy {
  // Defaults filled here: validation does not descend into the route field's union with `false`.
  const cfg = Value.Default(RetriesSchema, structuredClone(given)) as RetriesConfig;
  let budget = budgets.get(upstream);
  if (budget === undefined) {
    const share = Number(cfg.budget.replace('%', '')) / 100;
    budgets.set(upstream, (budget = new RetryBudget(share, cfg.minRetriesPerSecond, Math.max(10, cfg.minRetriesPerSecond * 10), performance.now())));
  }
  const on = new Set<unknown>(cfg.on);
  return {
    attempts: cfg.attempts,
    methods: new Set(cfg.methods),
    onConnectFailure: on.has('connect-failure'),
    onReset: on.has('reset'),
    onTimeout: on.has('timeout'),
    statuses: new Set(cfg.on.filter((x): x is number => typeof x === 'number')),
    perTryTimeout: parseDuration(cfg.perTryTimeout)!,
    maxBodySize: parseSize(cfg.maxBodySize)!,
    backoffBase: parseDuration(cfg.backoff.base)!,
    backoffMax: parseDuration(cfg.backoff.max)!,
    budget,
  };
}

/** The reason an upstream failure is retried for, or undefined when the policy does not retry it. */
export function retryReason(policy: RetryPolicy, kind: UpstreamErrorKind, code: string | undefined): RetryReason | undefined {
  if (kind === 'refused' || code === 'UND_ERR_CONNECT_TIMEOUT') return policy.onConnectFailure ? 'connect-failure' : undefined;
  if (kind === 'reset') return policy.onReset ? 'reset' : undefined;
  if (kind === 'timeout') return policy.onTimeout ? 'timeout' : undefined;
  return undefined;
}

/** Full-jitter exponential backoff before retry number `n` (1-based), ms. */
export function backoffDelay(policy: RetryPolicy, n: number, random: () => number = Math.random): number {
  return Math.floor(random() * Math.min(policy.backoffMax, policy.backoffBase * 2 ** (n - 1)));
}
