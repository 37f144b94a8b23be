/**
 * A bounded, approximately-LRU map in two generations (the "hashlru" scheme): new and recently read
 * entries live in `young`; when it fills, it becomes `old` and the previous `old` is dropped whole.
 * A hit on `young` is a single Map lookup with no reordering, which keeps the hot path cheap; an entry
 * read while in `old` is promoted. At most `capacity` entries are held.
 */
export class TwoGenerationCache<V> {
  private young = new Map<string, V>();
  private old = new Map<string, V>();
  private readonly half: number;

  constructor(readonly capacity: number) {
    this.half = Math.max(0, Math.ceil(capacity / 2));
  }

  get(key: string): V | undefined {
    const v = this.young.get(key);
    if (v !== undefined || this.half === 0) return v;
    const o = this.old.get(key);
    if (o !== undefined) {
      this.old.delete(key);
      this.put(key, o);
    }
    return o;
  }

  set(key: string, value: V): void {
    if (this.half === 0) return;
    this.old.delete(key);
    this.put(key, value);
  }

  delete(key: string): void {
    this.young.delete(key);
    this.old.delete(key);
  }

  clear(): void {
    this.young.clear();
    this.old.clear();
  }

  get size(): number {
    return this.young.size + this.old.size;
  }

  private put(key: string, value: V): void {
    if (!this.young.has(key) && this.young.size >= this.half) {
      this.old = this.young;
      this.young = new Map();
    }
    this.young.set(key, value);
  }
}
