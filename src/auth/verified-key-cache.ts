import type { KeyCredential } from "../api-keys/api-key-repository.js";

/**
 * Credentials this node has read from the database, by digest, so that a known key costs no
 * database read. Bounded (least recently used goes first). A revocation must evict its key here
 * before the revoking request is answered; expiry is checked on every request, never cached away.
 */
export class VerifiedKeyCache {
  private readonly byDigest = new Map<string, KeyCredential>();
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

  constructor(private readonly maxEntries = 10_000) {}

  get generation(): number {
    return this.evictions;
  }

  get(digest: string): KeyCredential | undefined {
    const credential = this.byDigest.get(digest);
    if (credential) this.hits += 1;
    else this.misses += 1;
    if (credential) {
      this.byDigest.delete(digest);
      this.byDigest.set(digest, credential);
    }
    return credential;
  }

  set(digest: string, credential: KeyCredential, generationBeforeRead: number): void {
    if (generationBeforeRead !== this.evictions) return;
    this.byDigest.delete(digest);
    this.byDigest.set(digest, credential);
    this.digestById.set(credential.id, digest);
    if (this.byDigest.size > this.maxEntries) {
      const [oldestDigest, oldest] = this.byDigest.entries().next().value as [string, KeyCredential];
      this.byDigest.delete(oldestDigest);
      this.digestById.delete(oldest.id);
    }
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
