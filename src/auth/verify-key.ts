import { findCredentialByDigest, type KeyCredential } from "../api-keys/api-key-repository.js";
import type { KeyDigester } from "../crypto/key-digest.js";
import { isWellFormedKey } from "../crypto/key-format.js";
import type { Db } from "../db/schema.js";
import { AppError, rateLimitedError } from "../errors/app-error.js";
import { throttledNetwork } from "../rate-limit/client-network.js";
import type { RateLimiter } from "../rate-limit/token-buckets.js";
import { ExpiringSet } from "./expiring-set.js";
import type { RevocationChannel } from "./revocation-channel.js";
import type { VerifiedKeyCache } from "./verified-key-cache.js";

const BEARER = /^bearer +(\S+) *$/i;
/** How long a digest that matched no key is remembered as unknown. */
const UNKNOWN_DIGEST_TTL_MS = 10_000;

/**
 * Turns an Authorization header into the credential of a live key, in two steps: `digestOf`
 * (header → scheme → format and checksum → digest, no I/O), then `cachedCredentialFor` (this
 * node's cache) or else `storedCredentialFor` (the database, behind the failed-authentication
 * throttle), each refusing a revoked or expired key. A request whose key must be checked again
 * later keeps its digest and repeats only the second step. Each step throws the 401 or 429 to
 * answer.
 */
export class KeyVerifier {
  constructor(
    private readonly db: Db,
    /** The process's one digester of keys under the pepper (the writes' too: it is built once). */
    private readonly digester: KeyDigester,
    private readonly cache: VerifiedKeyCache,
    /** Whether this node hears every revocation: the cache is used only while it does. */
    private readonly revocations: RevocationChannel,
    /** Per client network (an IPv4 address, an IPv6 /64): spent by every `auth_invalid`. */
    private readonly authFailures: RateLimiter,
    /** How many digests found unknown are remembered at most (UNKNOWN_KEY_CACHE_SIZE). */
    unknownDigestLimit: number,
  ) {
    this.unknownDigests = new ExpiringSet(UNKNOWN_DIGEST_TTL_MS, unknownDigestLimit);
  }

  /**
   * Database reads under way, by digest, with the cache generation each began at: concurrent
   * requests with one new key share one, unless a revocation has evicted since it began.
   */
  private readonly reads = new Map<string, { generation: number; read: Promise<KeyCredential | undefined> }>();
  private readonly readsInFlight = new Map<string, number>();
  private readonly unknownDigests: ExpiringSet;

  digestOf(authorization: string | undefined): string {
    if (authorization === undefined || authorization === "") {
      throw new AppError("auth_missing", "Send your API key as `Authorization: Bearer <key>`.");
    }
    const token = BEARER.exec(authorization)?.[1];
    if (token === undefined) {
      throw new AppError("auth_malformed", "The Authorization header must be `Bearer <key>`.");
    }
    if (!isWellFormedKey(token)) {
      throw new AppError("auth_malformed", "That is not a WhatIsUp API key: its format or checksum is wrong.");
    }
    return this.digester.digest(token);
  }

  /**
   * The live key of a digest, from this node's cache while it hears every revocation; undefined
   * when the cache cannot say, and then `storedCredentialFor` reads it. Two steps, so that the
   * cached path, every request's, costs no promise.
   */
  cachedCredentialFor(digest: string, now: string): KeyCredential | undefined {
    if (!this.revocations.healthy()) return undefined;
    const cached = this.cache.get(digest);
    return cached && live(cached, now);
  }

  /** From the database, for a digest the cache could not answer. */
  async storedCredentialFor(digest: string, clientAddress: string, now: string): Promise<KeyCredential> {
    return live(await this.readCredential(digest, clientAddress), now);
  }

  /**
   * The database read of a digest the cache does not hold, behind the failed-authentication
   * throttle: an address may have no more reads in flight than its bucket has tokens (so a burst
   * of new guesses cannot outrun it), but only a digest that turns out unknown spends a token,
   * and requests carrying the same digest share one read. A key that verifies is never charged,
   * so one address's valid keys do not drain its bucket. Digests found unknown are remembered
   * briefly: repeating a guess costs no read.
   */
  private async readCredential(digest: string, clientAddress: string): Promise<KeyCredential> {
    const network = throttledNetwork(clientAddress);
    if (!this.unknownDigests.has(digest)) {
      const credential = await (this.sharedRead(digest) ?? this.readOnce(digest, network));
      if (credential !== undefined) return credential;
    }
    const spent = await this.authFailures.take(network);
    if (!spent.allowed) throw tooManyFailures(spent.retryAfterMs);
    throw new AppError("auth_invalid", "This API key does not exist.");
  }

  /**
   * The read under way for this digest, if a request arriving now may take its answer: one begun
   * before a revocation committed may have read the key live, and a request that starts after the
   * revocation has answered must be refused.
   */
  private sharedRead(digest: string): Promise<KeyCredential | undefined> | undefined {
    const underWay = this.reads.get(digest);
    return underWay?.generation === this.cache.generation ? underWay.read : undefined;
  }

  private async readOnce(digest: string, network: string): Promise<KeyCredential | undefined> {
    const bucket = await this.authFailures.peek(network);
    const inFlight = this.readsInFlight.get(network) ?? 0;
    if (bucket.remaining - inFlight < 1) throw tooManyFailures(Math.max(bucket.retryAfterMs, 1));
    // Checked again: another request may have started the same read while this one peeked.
    const started = this.sharedRead(digest);
    if (started) return started;
    const generation = this.cache.generation;
    const read = findCredentialByDigest(this.db, digest);
    this.reads.set(digest, { generation, read });
    this.readsInFlight.set(network, inFlight + 1);
    try {
      const credential = await read;
      if (credential === undefined) this.unknownDigests.add(digest);
      else if (this.revocations.healthy()) this.cache.set(digest, credential, generation);
      return credential;
    } finally {
      if (this.reads.get(digest)?.read === read) this.reads.delete(digest);
      const left = (this.readsInFlight.get(network) ?? 1) - 1;
      if (left > 0) this.readsInFlight.set(network, left);
      else this.readsInFlight.delete(network);
    }
  }
}

/** The credential, if it is neither revoked nor expired at `now`; else the 401 to answer. */
function live(credential: KeyCredential, now: string): KeyCredential {
  if (credential.revoked_at !== null) {
    throw new AppError("auth_expired", "This API key has been revoked.");
  }
  if (credential.expires_at !== null && credential.expires_at <= now) {
    throw new AppError("auth_expired", "This API key has expired.");
  }
  return credential;
}

function tooManyFailures(retryAfterMs: number): AppError {
  return rateLimitedError(retryAfterMs, () => "Too many failed authentications from this address. Retry later.");
}
