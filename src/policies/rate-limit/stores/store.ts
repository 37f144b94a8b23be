/** The store contract, shared by the memory and Redis stores (one contract suite tests both). */
import type { Decision, Rate } from '../algorithm.js';

export interface RateLimitStore {
  readonly kind: 'memory' | 'redis';
  /**
   * Redis Cluster: all keys of one hit() must hash to one slot, so the policy gives them a common
   * hash tag ("{…}"). Absent or false for one server and for Sentinel, whose keys stay as they were.
   */
  readonly sameSlotKeys?: boolean;
  /**
   * Count one request against bucket `keys[i]` under `rates[i]`, for every i at once (see decide()
   * in ../algorithm.ts). The memory store answers synchronously, so the request chain costs no promise;
   * the Redis store answers with a promise that rejects on failure or timeout.
   */
  hit(keys: readonly string[], rates: readonly Rate[]): Decision | Promise<Decision>;
  close(): Promise<void>;
}
