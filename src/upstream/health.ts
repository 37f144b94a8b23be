/**
 * Passive health (outlier detection): a target whose connections keep failing is taken out of the
 * balancer for a while, then tried again. Active probes come later (see DESIGN.md).
 */
import type { Logger } from 'pino';
import type { UpstreamErrorKind } from '../proxy/errors.js';
import type { Target, Upstream } from './upstream.js';

export interface OutlierSettings {
  /** Consecutive connection failures before ejection; 0 disables. */
  readonly consecutiveFailures: number;
  /** How long an ejected target stays out, ms. */
  readonly ejectionTime: number;
}

/** Only failures that say "this target is not there" count; a slow or erroring backend is not ejected. */
const COUNTED: ReadonlySet<UpstreamErrorKind> = new Set(['refused', 'timeout']);

export function recordFailure(upstream: Upstream, target: Target, kind: UpstreamErrorKind, logger: Logger): void {
  const s = upstream.outlier;
  if (s.consecutiveFailures === 0 || !COUNTED.has(kind) || !target.available) return;
  if (++target.failures < s.consecutiveFailures) return;
  target.available = false;
  target.failures = 0;
  logger.warn(
    { event: 'upstream.target_ejected', upstream: upstream.name, target: target.origin, forMs: s.ejectionTime },
    'upstream target marked down',
  );
  const timer = setTimeout(() => {
    target.available = true;
    logger.info({ event: 'upstream.target_restored', upstream: upstream.name, target: target.origin }, 'upstream target back in rotation');
  }, s.ejectionTime);
  timer.unref();
  target.ejectionTimer = timer;
}

export function recordSuccess(target: Target): void {
  target.failures = 0;
}

export function stopHealth(upstream: Upstream): void {
  for (const t of upstream.targets) if (t.ejectionTimer) clearTimeout(t.ejectionTimer);
}
