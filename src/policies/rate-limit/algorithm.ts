/**
 * GCRA, the generic cell rate algorithm (ITU-T I.371; the algorithm behind redis-cell and
 * throttled): "L requests per window W" becomes one request every T = W/L with a burst of L.
 * A bucket holds one number, the theoretical arrival time (TAT): the moment it would be full again.
 * A request at `now` conforms when TAT - now <= (L - 1)·T; then TAT becomes max(TAT, now) + T.
 *
 * Why GCRA: it is exact (N concurrent requests let exactly L through), it has no window edges (a
 * fixed window lets 2L through around a boundary; here at most L ever pass at one instant, and a
 * client that spent its burst gets one more request each T), and its state is one integer per key,
 * which keeps the memory store small and the Redis script short.
 *
 * All times are integer microseconds, so the arithmetic is exact in a double (and in Redis Lua):
 * T is rounded to whole microseconds once, at compile time. The Redis script (stores/redis-script.ts)
 * is the same arithmetic, line for line.
 */

/** A limit as the stores need it: emission interval and burst. */
export interface Rate {
  /** T = window / limit, whole microseconds (at least 1). */
  readonly interval: number;
  /** L. */
  readonly limit: number;
  /** Shadow limits are counted but never reject. */
  readonly enforce: boolean;
}

/** What one request did to one limit. */
export interface LimitOutcome {
  /** The request exceeded this limit (for a shadow limit: would have been rejected). */
  over: boolean;
  /** Requests still available now (the draft-11 `r`). */
  remaining: number;
  /** Microseconds until one more request becomes available (the draft-11 `t`; Retry-After when over). */
  reset: number;
}

export interface Decision {
  /** False when at least one enforced limit is exceeded. */
  readonly allowed: boolean;
  /** One entry per limit, in the route's order. */
  readonly outcomes: readonly LimitOutcome[];
}

/** A Decision that decide() fills in place: a caller that reads it at once can reuse one per route. */
export interface DecisionBuffer extends Decision {
  allowed: boolean;
  readonly outcomes: LimitOutcome[];
}

export function newDecision(n: number): DecisionBuffer {
  const outcomes: LimitOutcome[] = [];
  for (let i = 0; i < n; i++) outcomes.push({ over: false, remaining: 0, reset: 0 });
  return { allowed: true, outcomes };
}

export function toRate(limit: number, windowMs: number, enforce: boolean): Rate {
  return { interval: Math.max(1, Math.round((windowMs * 1000) / limit)), limit, enforce };
}

/** Whether a request at `now` fits a bucket whose stored TAT is `tat` (0 when absent). */
export function conforms(tat: number, now: number, rate: Rate): boolean {
  return Math.max(tat, now) - now <= (rate.limit - 1) * rate.interval;
}

/** Remaining and reset for a bucket whose TAT is `tat` (after this request was counted or not), into `o`. */
function fillOutcome(o: LimitOutcome, tat: number, now: number, rate: Rate): void {
  const t = rate.interval;
  const free = rate.limit * t - (Math.max(tat, now) - now); // microseconds of capacity left
  const remaining = Math.max(0, Math.floor(free / t));
  o.remaining = remaining;
  o.reset = (remaining + 1) * t - free;
}

/**
 * Decide one request against every limit of a route, atomically: a request refused by any enforced
 * limit counts against none (so a client that is limited on one key does not also drain the others),
 * and a shadow limit the request would have exceeded is not advanced either — its bucket evolves
 * exactly as an enforced one would, which is what trying a limit in shadow mode means.
 *
 * `tats[i]` is the stored TAT of limit i (0 when absent); it is replaced by the new TAT of every
 * limit the request advanced: those the caller must write back (all with `over` false, when the
 * request is allowed). The answer is written into `out` (a new one when not given) and returned.
 */
export function decide(tats: number[], now: number, rates: readonly Rate[], out: DecisionBuffer = newDecision(rates.length)): Decision {
  let allowed = true;
  const outcomes = out.outcomes;
  for (let i = 0; i < rates.length; i++) {
    const over = !conforms(tats[i]!, now, rates[i]!);
    outcomes[i]!.over = over;
    if (over && rates[i]!.enforce) allowed = false;
  }
  for (let i = 0; i < rates.length; i++) {
    const rate = rates[i]!;
    const o = outcomes[i]!;
    let tat = tats[i]!;
    if (allowed && !o.over) {
      tat = Math.max(tat, now) + rate.interval;
      tats[i] = tat;
    }
    fillOutcome(o, tat, now, rate);
  }
  out.allowed = allowed;
  return out;
}
