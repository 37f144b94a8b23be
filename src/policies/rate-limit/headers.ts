/**
 * Response header values, pure. draft-ietf-httpapi-ratelimit-headers-11:
 * - RateLimit-Policy (§3) is a List of sf-strings naming each quota policy, with q (quota, §3.1.1)
 *   and w (window in whole seconds, §3.1.3);
 * - RateLimit (§4) is a List of the same names with r (available quota, §4.1.1) and t (§4.1.2).
 * `t` is "the number of seconds within which the client can use no more than the available quota":
 * with GCRA that is the time until the next request is restored, which is also the Retry-After of a
 * refused request — so the two never disagree (§6: Retry-After must not be earlier than t).
 * The optional pk (partition key) is never sent: it would echo API keys back in a header.
 *
 * The legacy trio (RateLimit-Limit/-Remaining/-Reset, drafts up to -06, what most clients read) describes
 * the tightest limit: the one with the fewest requests left.
 */
import type { LimitOutcome } from './algorithm.js';

export interface AdvertisedLimit {
  readonly name: string;
  readonly limit: number;
  readonly windowSeconds: number;
}

/** RFC 8941 §4.1.6: a String is DQUOTE-delimited with `"` and `\` escaped. */
export function sfString(value: string): string {
  return '"' + value.replace(/[\\"]/g, (c) => '\\' + c) + '"';
}

/** Whole seconds, rounded up: a client that waits this long is never early. */
export function seconds(micros: number): number {
  return Math.ceil(micros / 1_000_000);
}

export function policyHeader(limits: readonly AdvertisedLimit[]): string {
  return limits.map((l) => `${sfString(l.name)};q=${l.limit};w=${l.windowSeconds}`).join(', ');
}

/** `prefixes[i]` is the precomputed `"name";r=` of limit i. */
export function rateLimitHeader(prefixes: readonly string[], outcomes: readonly LimitOutcome[]): string {
  let out = '';
  for (let i = 0; i < outcomes.length; i++) {
    const o = outcomes[i]!;
    out += (i === 0 ? '' : ', ') + prefixes[i] + o.remaining + ';t=' + seconds(o.reset);
  }
  return out;
}

/** Index of the tightest limit: fewest remaining, then the longest wait. */
export function tightest(outcomes: readonly LimitOutcome[]): number {
  let best = 0;
  for (let i = 1; i < outcomes.length; i++) {
    const a = outcomes[i]!;
    const b = outcomes[best]!;
    if (a.remaining < b.remaining || (a.remaining === b.remaining && a.reset > b.reset)) best = i;
  }
  return best;
}
