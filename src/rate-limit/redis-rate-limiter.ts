import type { Redis } from "ioredis";
import type { BucketAnswer, BucketSettings, BucketState, RateLimiter } from "./token-buckets.js";

/**
 * The token bucket of MemoryRateLimiter, kept in Redis so that every node spends from the same
 * bucket. One Lua script reads, refills, spends and writes atomically, on Redis's clock (nodes'
 * clocks may differ); an idle bucket expires once it would be full again.
 */
const BUCKET_SCRIPT = `
local burst = tonumber(ARGV[1])
local per_ms = tonumber(ARGV[2])
local action = ARGV[3]
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local stored = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(stored[1]) or burst
local at = tonumber(stored[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - at) * per_ms)
local allowed = 0
if tokens >= 1 then allowed = 1 end
if action == 'take' and allowed == 1 then tokens = tokens - 1 end
if action ~= 'peek' then
  redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(now))
  redis.call('PEXPIRE', KEYS[1], math.ceil((burst - tokens) / per_ms) + 1000)
end
return {allowed, tostring(tokens), tostring(now)}
`;

export class RedisRateLimiter implements RateLimiter {
  constructor(
    private readonly redis: Redis,
    /** Keeps this bucket family apart from others in the same Redis (e.g. "key", "auth"). */
    private readonly keyPrefix: string,
    private readonly settings: BucketSettings,
  ) {
    redis.defineCommand("whatisupBucket", { numberOfKeys: 1, lua: BUCKET_SCRIPT });
  }

  take(name: string): Promise<BucketState> {
    return this.run(name, "take");
  }

  peek(name: string): Promise<BucketState> {
    return this.run(name, "peek");
  }

  private async run(name: string, action: "take" | "peek"): Promise<BucketState> {
    const { burst, refillPerSecond } = this.settings;
    const command = (this.redis as unknown as Record<string, (...args: unknown[]) => Promise<[number, string, string]>>)
      .whatisupBucket!;
    const [allowed, tokensText, nowText] = await command.call(
      this.redis,
      `${this.keyPrefix}:${name}`,
      burst,
      refillPerSecond / 1000,
      action,
    );
    const tokens = Number(tokensText);
    const now = Number(nowText);
    return {
      allowed: allowed === 1,
      limit: burst,
      remaining: Math.floor(tokens),
      resetAt: now + Math.ceil(((burst - tokens) / refillPerSecond) * 1000),
      retryAfterMs: tokens >= 1 ? 0 : Math.ceil(((1 - tokens) / refillPerSecond) * 1000),
    };
  }
}

/** How long a Redis command may take before a node limits on its own instead. */
export const REDIS_COMMAND_TIMEOUT_MS = 500;

/** After Redis fails, how long a node limits on its own before it asks Redis again. */
export const SHARED_RETRY_AFTER_MS = 1000;

export type FallbackEvents = {
  /** Once per outage, with the error that began it. */
  failed(error: unknown): void;
  /** Once Redis answers again. */
  recovered(): void;
};

/**
 * Shared limits must not take the API down with them: while Redis fails, each node limits on
 * its own (as without REDIS_URL). A failure opens a pause of SHARED_RETRY_AFTER_MS in which no
 * request waits for Redis at all, so a frozen Redis costs a request at most one command timeout
 * per pause, and an outage is logged once, not once per request.
 */
export class FallbackRateLimiter implements RateLimiter {
  private failing = false;
  private retryAt = 0;

  constructor(
    private readonly shared: RateLimiter,
    private readonly local: RateLimiter,
    private readonly events: FallbackEvents,
    private readonly now: () => number = Date.now,
  ) {}

  take(name: string): Promise<BucketState> {
    return this.run((limiter) => limiter.take(name));
  }

  peek(name: string): Promise<BucketState> {
    return this.run((limiter) => limiter.peek(name));
  }

  private async run(action: (limiter: RateLimiter) => BucketAnswer): Promise<BucketState> {
    if (this.failing && this.now() < this.retryAt) return action(this.local);
    try {
      const state = await action(this.shared);
      if (this.failing) {
        this.failing = false;
        this.events.recovered();
      }
      return state;
    } catch (error) {
      if (!this.failing) this.events.failed(error);
      this.failing = true;
      this.retryAt = this.now() + SHARED_RETRY_AFTER_MS;
      return action(this.local);
    }
  }
}
