import type { Balanceable, Balancer } from './balancer.js';

/** Weighted random: each available target with probability weight / sum of available weights. */
export function createRandom<T extends Balanceable>(targets: readonly T[]): Balancer<T> {
  return {
    pick(): T | undefined {
      let total = 0;
      for (const t of targets) if (t.available) total += t.weight;
      if (total === 0) return undefined;
      let r = Math.random() * total;
      for (const t of targets) {
        if (!t.available) continue;
        r -= t.weight;
        if (r < 0) return t;
      }
      return targets.findLast((t) => t.available);
    },
  };
}
