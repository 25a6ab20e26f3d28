type Entry<V> = { value: V; referenced: boolean };

/**
 * A map bounded to `maxEntries` that drops an entry nobody has read lately, like a
 * least-recently-used cache, but whose reads cost one lookup and one field write. An LRU built
 * on a Map deletes and re-inserts the entry on every hit, which on a hot path with many entries
 * costs more than everything else a cached request does. Here a hit only marks its entry; the
 * eviction that an insertion beyond the bound runs walks from the oldest entry, gives every marked
 * one a second chance (unmarked and moved to the back) and drops the first unmarked one. Each
 * entry is moved at most once per mark, so insertions stay O(1) amortized.
 */
export class SecondChanceMap<K, V> {
  private readonly entries = new Map<K, Entry<V>>();

  constructor(
    readonly maxEntries: number,
    /** Told of every entry dropped to stay within the bound (not of deletions). */
    private readonly onEvict: (key: K, value: V) => void = () => undefined,
  ) {
    if (!Number.isInteger(maxEntries) || maxEntries < 1) throw new RangeError("maxEntries must be a positive integer");
  }

  get(key: K): V | undefined {
    const entry = this.entries.get(key);
    if (entry === undefined) return undefined;
    entry.referenced = true;
    return entry.value;
  }

  set(key: K, value: V): void {
    const entry = this.entries.get(key);
    if (entry !== undefined) {
      entry.value = value;
      entry.referenced = true;
      return;
    }
    // Room is made before the newcomer arrives, so that it is never the one dropped.
    if (this.entries.size >= this.maxEntries) this.evictOne();
    this.entries.set(key, { value, referenced: false });
  }

  delete(key: K): boolean {
    return this.entries.delete(key);
  }

  clear(): void {
    this.entries.clear();
  }

  get size(): number {
    return this.entries.size;
  }

  private evictOne(): void {
    for (const [key, entry] of this.entries) {
      this.entries.delete(key);
      if (entry.referenced) {
        entry.referenced = false;
        this.entries.set(key, entry);
        continue;
      }
      this.onEvict(key, entry.value);
      return;
    }
  }
}
