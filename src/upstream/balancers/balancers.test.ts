import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BALANCERS } from './index.js';

interface T {
  name: string;
  weight: number;
  active: number;
  available: boolean;
}
const targets = (...weights: number[]): T[] => weights.map((weight, i) => ({ name: `t${i}`, weight, active: 0, available: true }));

function share(name: keyof typeof BALANCERS, list: T[], n: number): Record<string, number> {
  const b = BALANCERS[name](list);
  const counts: Record<string, number> = {};
  for (let i = 0; i < n; i++) {
    const t = b.pick();
    if (t) counts[t.name] = (counts[t.name] ?? 0) + 1;
  }
  return counts;
}

// One contract for every balancer: the same rules hold whatever the strategy.
for (const name of Object.keys(BALANCERS) as (keyof typeof BALANCERS)[]) {
  describe(`balancer contract: ${name}`, () => {
    it('spreads equal targets evenly', () => {
      const c = share(name, targets(1, 1, 1), 3000);
      for (const k of ['t0', 't1', 't2']) assert.ok(c[k]! > 800 && c[k]! < 1200, `${k}: ${c[k]}`);
    });
    it('never picks an unavailable target, and returns undefined when none is available', () => {
      const list = targets(1, 1, 1);
      list[1]!.available = false;
      const c = share(name, list, 300);
      assert.equal(c['t1'], undefined);
      for (const t of list) t.available = false;
      assert.equal(BALANCERS[name](list).pick(), undefined);
    });
    it('works with a single target', () => {
      assert.deepEqual(share(name, targets(3), 10), { t0: 10 });
    });
  });
}

describe('weights', () => {
  it('round-robin follows weights exactly and interleaves (smooth)', () => {
    const list = targets(5, 1, 1);
    const b = BALANCERS['round-robin'](list);
    const seq = Array.from({ length: 7 }, () => b.pick()!.name);
    assert.deepEqual(seq.filter((s) => s === 't0').length, 5);
    assert.notDeepEqual(seq.slice(0, 5), ['t0', 't0', 't0', 't0', 't0']);
  });
  it('random follows weights roughly', () => {
    const c = share('random', targets(3, 1), 4000);
    assert.ok(c['t0']! > 2700 && c['t0']! < 3300, String(c['t0']));
  });
  it('least-connections prefers the target with fewest requests in flight per weight', () => {
    const list = targets(1, 1, 2);
    list[0]!.active = 3;
    list[1]!.active = 1;
    list[2]!.active = 4; // 4/2 = 2
    assert.equal(BALANCERS['least-connections'](list).pick()!.name, 't1');
  });
});
