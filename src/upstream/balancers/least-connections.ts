import type { Balanceable, Balancer } from './balancer.js';

/**
 * Fewest requests in flight relative to weight (active / weight); ties rotate so equal targets share
 * load instead of the first one taking every tie.
 */
export function createLeastConnections<T extends Balanceable>(targets: readonly T[]): Balancer<T> {
  let offset = 0;
  return {
    pick(): T | undefined {
      let best: T | undefined;
      let bestScore = Infinity;
      const n = targets.length;
      for (let k = 0; k < n; k++) {
        const t = targets[(offset + k) % n]!;
        if (!t.available) continue;
        const score = t.active / t.weight;
        if (score < bestScore) {
          best = t;
          bestScore = score;
        }
      }
      offset = offset + 1 === n ? 0 : offset + 1;
      return best;
    },
  };
}
