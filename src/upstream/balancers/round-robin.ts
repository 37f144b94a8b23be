import type { Balanceable, Balancer } from './balancer.js';

/**
 * Smooth weighted round-robin (nginx's algorithm): weights 5,1,1 give a a b a c a a rather than
 * a a a a a b c, so a heavy target never receives a burst. Unavailable targets are skipped.
 */
export function createRoundRobin<T extends Balanceable>(targets: readonly T[]): Balancer<T> {
  const current = new Array<number>(targets.length).fill(0);
  const uniform = targets.every((t) => t.weight === targets[0]!.weight);
  let next = 0;
  return {
    pick(): T | undefined {
      if (uniform) {
        for (let n = 0; n < targets.length; n++) {
          const t = targets[next]!;
          next = next + 1 === targets.length ? 0 : next + 1;
          if (t.available) return t;
        }
        return undefined;
      }
      let best = -1;
      let total = 0;
      for (let i = 0; i < targets.length; i++) {
        const t = targets[i]!;
        if (!t.available) continue;
        current[i]! += t.weight;
        total += t.weight;
        if (best === -1 || current[i]! > current[best]!) best = i;
      }
      if (best === -1) return undefined;
      current[best]! -= total;
      return targets[best];
    },
  };
}
