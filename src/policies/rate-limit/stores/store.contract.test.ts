/**
 * One contract, every store (house style: Hono's common.case.test.ts). The memory store always runs;
 * the Redis store runs against REDIS_URL (skipped with a reason when no Redis answers, fails under CI).
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { REDIS_URL, redisAvailable } from '../../../../test/helpers.js';
import { toRate, type Decision } from '../algorithm.js';
import { createMemoryStore } from './memory.js';
import { createRedisStore, type RedisStore } from './redis.js';
import type { RateLimitStore } from './store.js';

interface Maker {
  name: string;
  available(): Promise<boolean>;
  make(): Promise<RateLimitStore>;
}

const makers: Maker[] = [
  { name: 'memory', available: async () => true, make: async () => createMemoryStore({ maxKeys: 10_000, maxWindowMs: 1000 }) },
  {
    name: 'redis',
    available: () => redisAvailable(),
    async make() {
      const s = createRedisStore({ url: REDIS_URL, prefix: `gwtest:${randomUUID()}:`, timeoutMs: 500 });
      assert.ok(await s.ready(2000), 'redis store connects');
      return s;
    },
  },
];

const hit = async (s: RateLimitStore, keys: string[], rates: ReturnType<typeof toRate>[]): Promise<Decision> => s.hit(keys, rates);

for (const maker of makers) {
  describe(`rate-limit store contract: ${maker.name}`, async () => {
    const ok = await maker.available();
    let store: RateLimitStore;
    before(async () => {
      if (ok) store = await maker.make();
    });
    after(async () => {
      if (ok) await store.close();
    });

    it('lets exactly L of N concurrent requests through', { skip: !ok }, async () => {
      const rate = toRate(7, 60_000, true);
      const results = await Promise.all(Array.from({ length: 50 }, () => hit(store, ['burst'], [rate])));
      assert.equal(results.filter((d) => d.allowed).length, 7);
      const remaining = results.filter((d) => d.allowed).map((d) => d.outcomes[0]!.remaining).sort((a, b) => a - b);
      assert.deepEqual(remaining, [0, 1, 2, 3, 4, 5, 6]);
      for (const d of results.filter((x) => !x.allowed)) assert.equal(d.outcomes[0]!.over, true);
    });

    it('counts exactly when the requests of one turn take several script calls', { skip: !ok }, async () => {
      // 100 requests in one turn are more than one Redis script call decides (MAX_BATCH): the limit
      // of 45 falls inside the second call.
      const rate = toRate(45, 60_000, true);
      const results = await Promise.all(Array.from({ length: 100 }, () => hit(store, ['many'], [rate])));
      const allowed = results.filter((d) => d.allowed);
      assert.equal(allowed.length, 45);
      assert.deepEqual(allowed.map((d) => d.outcomes[0]!.remaining).sort((x, y) => x - y), Array.from({ length: 45 }, (_, i) => i));
      assert.ok(results.slice(45).every((d) => !d.allowed), 'requests are decided in arrival order');
    });

    it('decides concurrent requests of different routes (limit sets) each by its own limits', { skip: !ok }, async () => {
      const a = [toRate(3, 60_000, true)];
      const b = [toRate(5, 60_000, true), toRate(1, 60_000, false)]; // the second in shadow mode
      const results = await Promise.all(
        Array.from({ length: 20 }, (_, i) => (i % 2 === 0 ? hit(store, ['setA'], a) : hit(store, ['setB1', 'setB2'], b)).then((d) => ({ route: i % 2 === 0 ? 'a' : 'b', d }))),
      );
      const allowed = (route: string) => results.filter((r) => r.route === route && r.d.allowed);
      assert.equal(allowed('a').length, 3);
      assert.equal(allowed('b').length, 5, 'the shadow limit never refuses');
      const shadowOver = results.filter((r) => r.route === 'b' && r.d.outcomes[1]!.over);
      assert.equal(shadowOver.length, 9, 'the shadow limit of 1 lets the first request in and flags every later one');
      assert.equal(shadowOver.filter((r) => r.d.allowed).length, 4, 'of which the enforced limit allowed 4');
      for (const r of results.filter((x) => x.route === 'b' && !x.d.allowed)) assert.equal(r.d.outcomes[0]!.over, true);
    });

    it('refills one request per window/limit and reports when (reset)', { skip: !ok }, async () => {
      const rate = toRate(4, 400, true); // one request per 100 ms, burst 4
      for (let i = 0; i < 4; i++) assert.equal((await hit(store, ['refill'], [rate])).allowed, true);
      const refused = await hit(store, ['refill'], [rate]);
      assert.equal(refused.allowed, false);
      assert.equal(refused.outcomes[0]!.remaining, 0);
      const reset = refused.outcomes[0]!.reset;
      assert.ok(reset > 0 && reset <= 100_000, `reset ${reset}µs within one interval`);
      await sleep(Math.ceil(reset / 1000) + 15);
      assert.equal((await hit(store, ['refill'], [rate])).allowed, true);
      assert.equal((await hit(store, ['refill'], [rate])).allowed, false);
      await sleep(420); // a whole window: full again, no more than L
      const again = await Promise.all(Array.from({ length: 10 }, () => hit(store, ['refill'], [rate])));
      assert.equal(again.filter((d) => d.allowed).length, 4);
    });

    it('keeps keys apart', { skip: !ok }, async () => {
      const rate = toRate(2, 60_000, true);
      for (let i = 0; i < 3; i++) await hit(store, ['iso:a'], [rate]);
      assert.equal((await hit(store, ['iso:a'], [rate])).allowed, false);
      assert.equal((await hit(store, ['iso:b'], [rate])).allowed, true);
    });

    it('decides all limits at once: a refused request counts against none', { skip: !ok }, async () => {
      const tight = toRate(1, 60_000, true);
      const loose = toRate(3, 60_000, true);
      assert.equal((await hit(store, ['all:t', 'all:l'], [tight, loose])).allowed, true);
      for (let i = 0; i < 5; i++) {
        const d = await hit(store, ['all:t', 'all:l'], [tight, loose]);
        assert.equal(d.allowed, false);
        assert.deepEqual(d.outcomes.map((o) => o.over), [true, false]);
        assert.equal(d.outcomes[1]!.remaining, 2, 'the loose limit was not drained by refused requests');
      }
      assert.equal((await hit(store, ['all:l'], [loose])).outcomes[0]!.remaining, 1);
    });

    it('shadow limits count and report but never refuse', { skip: !ok }, async () => {
      const shadow = toRate(2, 60_000, false);
      const results: Decision[] = [];
      for (let i = 0; i < 5; i++) results.push(await hit(store, ['shadow'], [shadow]));
      assert.ok(results.every((d) => d.allowed));
      assert.deepEqual(results.map((d) => d.outcomes[0]!.over), [false, false, true, true, true]);
      assert.deepEqual(results.map((d) => d.outcomes[0]!.remaining), [1, 0, 0, 0, 0]);
    });

    if (maker.name === 'redis') {
      it('expires a bucket when it would be full again', { skip: !ok }, async () => {
        const s = store as RedisStore;
        await hit(store, ['ttl'], [toRate(10, 2000, true)]);
        const keys = await s.client.keys('gwtest:*:ttl');
        assert.equal(keys.length, 1);
        const ttl = await s.client.pttl(keys[0]!);
        assert.ok(ttl > 0 && ttl <= 200, `pttl ${ttl} is one interval (200 ms)`);
      });
    }
  });
}
