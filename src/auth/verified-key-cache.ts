import type { KeyCredential } from "../api-keys/api-key-repository.js";
import { SecondChanceMap } from "../collections/second-chance-map.js";

/**
 * Credentials this node has read from the database, by digest, so that a known key costs no
 * database read. Bounded (a key not used lately goes first); a hit costs the same with ten keys
 * cached or a hundred thousand. A revocation must evict its key here before the revoking request
 * is answered; expiry is checked on every request, never cached away.
 */
export class VerifiedKeyCache {
  private readonly byDigest: SecondChanceMap<string, KeyCredential>;
  private readonly digestById = new Map<string, string>();

  /**
   * Counts evictions. A reader notes it before its database read and passes it to `set`: if a
   * revocation evicted anything in between, what it read may predate the revocation and is not
   * cached.
   */
  private evictions = 0;

  /** Lookups answered from the cache and lookups that were not (read by the metrics on scrape). */
  hits = 0;
  misses = 0;

  /** `maxEntries`: KEY_CACHE_SIZE. */
  constructor(maxEntries: number) {
    this.byDigest = new SecondChanceMap(maxEntries, (_digest, dropped) => this.digestById.delete(dropped.id));
  }

  get generation(): number {
    return this.evictions;
  }

  get(digest: string): KeyCredential | undefined {
    const credential = this.byDigest.get(digest);
    if (credential) this.hits += 1;
    else this.misses += 1;
    return credential;
  }

  set(digest: string, credential: KeyCredential, generationBeforeRead: number): void {
    if (generationBeforeRead !== this.evictions) return;
    this.byDigest.set(digest, credential);
    this.digestById.set(credential.id, digest);
  }

  evict(keyIds: Iterable<string>): void {
    this.evictions += 1;
    for (const id of keyIds) {
      const digest = this.digestById.get(id);
      if (digest === undefined) continue;
      this.byDigest.delete(digest);
      this.digestById.delete(id);
    }
  }

  /** Forgets everything: for when revocations may have gone unheard. */
  clear(): void {
    this.evictions += 1;
    this.byDigest.clear();
    this.digestById.clear();
  }

  get size(): number {
    return this.byDigest.size;
  }
}
