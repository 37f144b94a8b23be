import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decide, toRate } from './algorithm.js';

/** Run `decide` against a single in-test bucket at the given times (µs). */
function run(times: number[], rate = toRate(3, 3000, true)): boolean[] {
  const tats = [0];
  return times.map((now) => decide(tats, now, [rate]).allowed);
}

describe('GCRA', () => {
  it('rounds the interval to whole microseconds, at least 1', () => {
    assert.equal(toRate(3, 1000, true).interval, 333_333);
    assert.equal(toRate(10, 1000, true).interval, 100_000);
    assert.equal(toRate(2_000_000, 1000, true).interval, 1);
  });

  it('allows a burst of exactly L, then one per interval', () => {
    // 3 per 3 s: interval 1 s.
    assert.deepEqual(run([0, 0, 0, 0]), [true, true, true, false]);
    assert.deepEqual(run([0, 0, 0, 999_999, 1_000_000, 1_000_001]), [true, true, true, false, true, false]);
  });

  it('has no window edge: never more than L at one instant, however the requests are timed', () => {
    // A fixed window would let 3 through just before t=3s and 3 more just after.
    assert.deepEqual(run([2_999_999, 2_999_999, 2_999_999, 3_000_001, 3_000_001, 3_000_001]), [true, true, true, false, false, false]);
  });

  it('is full again one window after the last request', () => {
    assert.deepEqual(run([0, 0, 0, 3_000_000, 3_000_000, 3_000_000, 3_000_000]), [true, true, true, true, true, true, false]);
  });

  it('reports remaining and the wait for the next request', () => {
    const rate = toRate(3, 3000, true);
    const tats = [0];
    const d1 = decide(tats, 0, [rate]);
    assert.deepEqual(d1.outcomes[0], { over: false, remaining: 2, reset: 1_000_000 });
    decide(tats, 0, [rate]);
    decide(tats, 0, [rate]);
    const before = tats[0];
    const refused = decide(tats, 250_000, [rate]);
    assert.equal(tats[0], before, 'a refused request writes nothing');
    assert.deepEqual(refused.outcomes[0], { over: true, remaining: 0, reset: 750_000 });
  });
});
