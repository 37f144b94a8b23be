import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { TwoGenerationCache } from './cache.js';

describe('TwoGenerationCache', () => {
  it('never holds more than its capacity', () => {
    const c = new TwoGenerationCache<number>(10);
    for (let i = 0; i < 1000; i++) c.set(`k${i}`, i);
    assert.ok(c.size <= 10, `size ${c.size}`);
    assert.equal(c.get('k999'), 999);
    assert.equal(c.get('k0'), undefined);
  });

  it('keeps recently read entries (promotes from the old generation)', () => {
    const c = new TwoGenerationCache<number>(4);
    c.set('hot', 1);
    for (let i = 0; i < 20; i++) {
      c.set(`cold${i}`, i);
      assert.equal(c.get('hot'), 1, `lost after ${i}`);
    }
  });

  it('capacity 0 disables caching', () => {
    const c = new TwoGenerationCache<number>(0);
    c.set('a', 1);
    assert.equal(c.get('a'), undefined);
    assert.equal(c.size, 0);
  });

  it('delete removes from both generations', () => {
    const c = new TwoGenerationCache<number>(2);
    c.set('a', 1);
    c.set('b', 2);
    c.set('c', 3); // a, b now old
    c.delete('a');
    c.delete('c');
    assert.equal(c.get('a'), undefined);
    assert.equal(c.get('c'), undefined);
    assert.equal(c.get('b'), 2);
  });
});
