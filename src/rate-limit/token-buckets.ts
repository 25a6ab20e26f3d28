import { SecondChanceMap } from "../collections/second-chance-map.js";

export type BucketSettings = { burst: number; refillPerSecond: number };

/** What a bucket holds after a take or a look: enough for the rate-limit headers. */
export type BucketState = {
  allowed: boolean;
  limit: number;
  remaining: number;
  /** Unix milliseconds when the bucket is full again. */
  resetAt: number;
  /** Milliseconds until one token is available; 0 when one is. */
  retryAfterMs: number;
};

/**
 * A bucket's state: at once from the in-memory buckets, so that every request's path through them
 * costs no promise; once it has arrived from a shared store (Redis).
 */
export type BucketAnswer = BucketState | Promise<BucketState>;

/**
 * Token buckets kept by name (a key id, a client address). A shared store (Redis) can stand in
 * for the in-memory one without changing a caller: callers await the answer, or take it at once
 * when it is not a promise.
 */
export interface RateLimiter {
  take(name: string): BucketAnswer;
  peek(name: string): BucketAnswer;
}

type Bucket = { tokens: number; updatedAt: number };

/**
 * In-memory buckets. Beyond `maxBuckets` a bucket not used lately is dropped, so a flood of
 * distinct names cannot grow memory without bound (a dropped bucket comes back full). A full
 * bucket is the same as none and is not kept.
 */
export class MemoryRateLimiter implements RateLimiter {
  private readonly buckets: SecondChanceMap<string, Bucket>;

  constructor(
    private readonly settings: BucketSettings,
    /** RATE_LIMIT_MAX_BUCKETS. */
    maxBuckets: number,
    private readonly now: () => number = Date.now,
  ) {
    this.buckets = new SecondChanceMap(maxBuckets);
  }

  take(name: string): BucketState {
    return this.settle(name, "take");
  }

  peek(name: string): BucketState {
    return this.settle(name, "peek");
  }

  private settle(name: string, action: "take" | "peek"): BucketState {
    const now = this.now();
    const { burst, refillPerSecond } = this.settings;
    const known = this.buckets.get(name);
    const bucket = known ?? { tokens: burst, updatedAt: now };
    bucket.tokens = Math.min(burst, bucket.tokens + ((now - bucket.updatedAt) / 1000) * refillPerSecond);
    bucket.updatedAt = now;
    const allowed = bucket.tokens >= 1;
    if (action === "take" && allowed) bucket.tokens -= 1;
    // A known bucket changed in place: storing it again is needed only when it is new.
    if (bucket.tokens >= burst) this.buckets.delete(name);
    else if (known === undefined) this.buckets.set(name, bucket);
    return {
      allowed,
      limit: burst,
      remaining: Math.floor(bucket.tokens),
      resetAt: now + Math.ceil(((burst - bucket.tokens) / refillPerSecond) * 1000),
      retryAfterMs: bucket.tokens >= 1 ? 0 : Math.ceil(((1 - bucket.tokens) / refillPerSecond) * 1000),
    };
  }
}
