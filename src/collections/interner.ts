/**
 * Hands out one shared value per key, so that many holders of an equal value (a hundred thousand
 * cached keys of a few customers) keep one copy of it. Bounded: past `maxEntries` it starts over,
 * which costs copies again, never correctness.
 */
export class Interner<V> {
  private readonly values = new Map<string, V>();

  constructor(private readonly maxEntries: number) {}

  intern(key: string, make: () => V): V {
    let value = this.values.get(key);
    if (value === undefined) {
      if (this.values.size >= this.maxEntries) this.values.clear();
      value = make();
      this.values.set(key, value);
    }
    return value;
  }
}
