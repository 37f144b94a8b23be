/**
 * The memory store: one TAT per bucket in a Map, synchronous, per process.
 *
 * Bounded two ways. By count: two generations (the quick-lru scheme) — new and touched buckets go
 * into `current`; when it holds maxKeys/2, `current` becomes `old` and the previous `old` is dropped
 * whole, so at most maxKeys buckets live and the least recently used go first, without per-entry
 * bookkeeping. By time: the generations also turn over once per longest window, and a bucket not
 * touched for a whole window is full again (its TAT is in the past), so dropping it loses nothing.
 * One million distinct client addresses therefore cost at most maxKeys entries, and an idle gateway
 * gives the memory back within two longest windows.
 */
import { decide, newDecision, type Decision, type DecisionBuffer, type Rate } from '../algorithm.js';
import type { RateLimitStore } from './store.js';

export interface MemoryStoreOptions {
  maxKeys: number;
  /** The longest window in use, ms (generations turn over at least this often). */
  maxWindowMs: number;
  /** Microseconds on a monotonic clock (tests pass a fake one). */
  now?: () => number;
}

/** What hitInto() works in: a route's own, reused by each of its requests (they are decided one at a time). */
export interface HitScratch {
  readonly tats: number[];
  readonly decision: DecisionBuffer;
}

export function newHitScratch(n: number): HitScratch {
  return { tats: new Array<number>(n).fill(0), decision: newDecision(n) };
}

export interface MemoryStore extends RateLimitStore {
  readonly kind: 'memory';
  /**
   * hit() at a time the caller read already (µs on the performance.now() clock), answered in
   * `scratch.decision` — no allocation per request. The answer is valid until the next call with
   * the same scratch.
   */
  hitInto(keys: readonly string[], rates: readonly Rate[], at: number, scratch: HitScratch): Decision;
  /** Buckets held, both generations (a bucket may sit in both for a while). */
  size(): number;
  /** A reload kept this store: follow its longest window. */
  setMaxWindow(ms: number): void;
}

const monotonicMicros = (): number => Math.floor(performance.now() * 1000);

export function createMemoryStore(opts: MemoryStoreOptions): MemoryStore {
  const now = opts.now ?? monotonicMicros;
  const half = Math.max(1, Math.floor(opts.maxKeys / 2));
  let current = new Map<string, number>();
  let old = new Map<string, number>();
  let maxWindowUs = opts.maxWindowMs * 1000;
  let generationStart = now();
  let timer: NodeJS.Timeout | undefined;

  function rotate(at: number): void {
    old = current;
    current = new Map();
    generationStart = at;
  }

  function arm(): void {
    if (timer) clearInterval(timer);
    // Turn over even when no request comes, so an idle gateway frees what a burst left behind.
    timer = setInterval(() => {
      const t = now();
      if (t - generationStart >= maxWindowUs) rotate(t);
    }, Math.max(1000, Math.min(maxWindowUs / 1000, 2_147_483_647)));
    timer.unref();
  }
  arm();

  function read(key: string): number {
    const v = current.get(key);
    if (v !== undefined) return v;
    const o = old.get(key);
    if (o === undefined) return 0;
    current.set(key, o); // promote: it was used, keep it past the next turn-over
    return o;
  }

  function hitInto(keys: readonly string[], rates: readonly Rate[], t: number, scratch: HitScratch): Decision {
    if (current.size >= half || t - generationStart >= maxWindowUs) rotate(t);
    const tats = scratch.tats;
    for (let i = 0; i < keys.length; i++) tats[i] = read(keys[i]!);
    const d = decide(tats, t, rates, scratch.decision);
    if (d.allowed) {
      for (let i = 0; i < keys.length; i++) if (!d.outcomes[i]!.over) current.set(keys[i]!, tats[i]!);
    }
    return d;
  }

  return {
    kind: 'memory',
    hit: (keys, rates) => hitInto(keys, rates, now(), newHitScratch(keys.length)),
    hitInto,
    size: () => current.size + old.size,
    setMaxWindow(ms: number) {
      maxWindowUs = ms * 1000;
      arm();
    },
    async close() {
      if (timer) clearInterval(timer);
      current.clear();
      old.clear();
    },
  };
}
