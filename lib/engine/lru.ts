/**
 * A least-recently-used map on a plain Map (whose iteration order is insertion order): a hit moves
 * its entry to the end, an insert beyond `max` drops the first. For the engine's per-mount caches,
 * which every mount makes at once: lru-cache preallocates its slots (a sizable share of what a
 * mount costs the server: docs/benchmarks.md, Design figures), where this one costs nothing until used; and its delete of the last entry clears every slot. lru-cache
 * stays for the cache that weighs its entries (directory indexes) and the adapter's listings.
 */
export class LruMap<K, V> {
  private readonly map = new Map<K, V>();

  /**
   * @param max entries kept (at least 1)
   * @param dispose called with each value that leaves (evicted, deleted, replaced, cleared)
   */
  constructor(readonly max: number, private readonly dispose?: (value: V, key: K) => void) {
    if (!(max >= 1)) throw new RangeError(`LruMap max must be >= 1 (got ${max})`);
  }

  get size(): number {
    return this.map.size;
  }

  /** The value of `key`, now the most recently used. */
  get(key: K): V | undefined {
    const v = this.map.get(key);
    if (v !== undefined) {
      this.map.delete(key);
      this.map.set(key, v);
    }
    return v;
  }

  /** The value of `key`, its recency unchanged. */
  peek(key: K): V | undefined {
    return this.map.get(key);
  }

  has(key: K): boolean {
    return this.map.has(key);
  }

  set(key: K, value: V): this {
    const old = this.map.get(key);
    if (old !== undefined) {
      this.map.delete(key);
      if (old !== value) this.dispose?.(old, key);
    }
    this.map.set(key, value);
    if (this.map.size > this.max) {
      const oldest = this.map.keys().next().value as K;
      const v = this.map.get(oldest) as V;
      this.map.delete(oldest);
      this.dispose?.(v, oldest);
    }
    return this;
  }

  /** Removes the entry of `key` and returns its value, without disposing of it (the caller takes it). */
  take(key: K): V | undefined {
    const v = this.map.get(key);
    if (v !== undefined) this.map.delete(key);
    return v;
  }

  delete(key: K): boolean {
    const v = this.map.get(key);
    if (v === undefined) return false;
    this.map.delete(key);
    this.dispose?.(v, key);
    return true;
  }

  clear(): void {
    if (this.dispose !== undefined) for (const [k, v] of this.map) this.dispose(v, k);
    this.map.clear();
  }

  /** Keys, least recently used first. */
  keys(): IterableIterator<K> {
    return this.map.keys();
  }
}
