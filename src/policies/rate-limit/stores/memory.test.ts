import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { toRate } from '../algorithm.js';
import { createMemoryStore } from './memory.js';

describe('memory store bounds', () => {
  it('never holds more than maxKeys buckets, and keeps the ones in use', async () => {
    let now = 0;
    const store = createMemoryStore({ maxKeys: 1000, maxWindowMs: 60_000, now: () => now });
    const rate = toRate(1, 60_000, true);
    store.hit(['hot'], [rate]);
    for (let i = 0; i < 100_000; i++) {
      store.hit([`ip:${i}`], [rate]);
      if (i % 100 === 0) assert.equal(store.hit(['hot'], [rate]).allowed, false, 'the hot bucket survives turn-overs');
      now += 1;
    }
    assert.ok(store.size() <= 1000, `size ${store.size()}`);
    await store.close();
  });

  it('forgets buckets untouched for a whole window (they are full again anyway)', async () => {
    let now = 0;
    const store = createMemoryStore({ maxKeys: 1_000_000, maxWindowMs: 1000, now: () => now });
    const rate = toRate(1, 1000, true);
    for (let i = 0; i < 500; i++) store.hit([`k${i}`], [rate]);
    now = 1_000_000;
    store.hit(['x'], [rate]);
    now = 2_000_000;
    store.hit(['y'], [rate]);
    assert.ok(store.size() <= 2, `size ${store.size()}`);
    await store.close();
  });
});
