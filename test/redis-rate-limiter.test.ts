import { randomBytes } from "node:crypto";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FallbackRateLimiter, RedisRateLimiter, SHARED_RETRY_AFTER_MS } from "../src/rate-limit/redis-rate-limiter.js";
import { MemoryRateLimiter } from "../src/rate-limit/token-buckets.js";
import { bearer, buildTestApp, createTestCustomer, expectError } from "./helpers/test-app.js";
import { persistentDatabase } from "./helpers/test-database.js";

const redisUrl = process.env.TEST_REDIS_URL;
if (!redisUrl) console.log("Redis tests skipped: TEST_REDIS_URL is not set (e.g. redis://127.0.0.1:6379).");

/** Shared buckets in a real Redis: every node spends from the same one, atomically. */
describe.skipIf(!redisUrl)("rate limits shared through Redis", () => {
  let redis: Redis;
  const prefix = `whatisup-test-${randomBytes(4).toString("hex")}`;

  beforeAll(() => {
    redis = new Redis(redisUrl!, { keyPrefix: `${prefix}:` });
  });
  afterAll(async () => {
    await redis.quit();
    const raw = new Redis(redisUrl!);
    const keys = await raw.keys(`${prefix}*`);
    if (keys.length > 0) await raw.del(...keys);
    await raw.quit();
  });

  it("two limiters (two nodes) spend from one bucket, and no more than its burst even when racing", async () => {
    const nodeA = new RedisRateLimiter(redis, "race", { burst: 10, refillPerSecond: 0.001 });
    const nodeB = new RedisRateLimiter(redis, "race", { burst: 10, refillPerSecond: 0.001 });
    const results = await Promise.all(
      Array.from({ length: 30 }, (_, index) => (index % 2 === 0 ? nodeA : nodeB).take("key-1")),
    );
    expect(results.filter((result) => result.allowed)).toHaveLength(10);
    const refused = results.find((result) => !result.allowed)!;
    expect(refused).toMatchObject({ limit: 10, remaining: 0 });
    expect(refused.retryAfterMs).toBeGreaterThan(0);
    // Another name has its own bucket.
    expect((await nodeB.take("key-2")).allowed).toBe(true);
  });

  it("peek spends nothing, and tokens refill", async () => {
    const limiter = new RedisRateLimiter(redis, "refill", { burst: 2, refillPerSecond: 20 });
    expect((await limiter.take("k")).remaining).toBe(1);
    expect((await limiter.peek("k")).remaining).toBe(1);
    expect((await limiter.peek("k")).remaining).toBe(1);
    await limiter.take("k");
    expect((await limiter.take("k")).allowed).toBe(false);
    await new Promise((resolve) => setTimeout(resolve, 120));
    expect((await limiter.take("k")).allowed).toBe(true);
  });

  it("an idle bucket expires in Redis once it would be full again", async () => {
    const limiter = new RedisRateLimiter(redis, "expiry", { burst: 5, refillPerSecond: 5 });
    await limiter.take("k");
    const ttl = await redis.pttl("expiry:k");
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(1_200);
  });

  it("two apps (two nodes) on one database and one Redis spend from the same bucket of a key", async () => {
    const shared = {
      database: persistentDatabase(),
      redis: { url: redisUrl!, keyPrefix: `${prefix}-apps` },
      rateLimit: { burst: 4, refillPerSecond: 0.001 },
    };
    const nodeA = await buildTestApp(shared);
    const nodeB = await buildTestApp(shared);
    try {
      const acme = await createTestCustomer(nodeA);
      const spend = async (node: typeof nodeA) => {
        const response = await node.inject({ url: "/v1/api-keys", headers: bearer(acme.secret) });
        expect(response.statusCode, response.body).toBe(200);
        return Number(response.headers["x-ratelimit-remaining"]);
      };
      expect(await spend(nodeA)).toBe(3);
      expect(await spend(nodeB)).toBe(2);
      expect(await spend(nodeA)).toBe(1);
      expect(await spend(nodeB)).toBe(0);
      expectError(await nodeA.inject({ url: "/v1/api-keys", headers: bearer(acme.secret) }), 429, "rate_limited");
      expectError(await nodeB.inject({ url: "/v1/api-keys", headers: bearer(acme.secret) }), 429, "rate_limited");
      const limits = await nodeB.inject({ url: "/v1/limits", headers: bearer(acme.secret) });
      expect(limits.json().per_key).toMatchObject({ limit: 4, remaining: 0 });
    } finally {
      await nodeA.close();
      await nodeB.close();
    }
  });
});

describe("when Redis fails", () => {
  /** A shared limiter that fails while `down` is set, and counts the calls that reached it. */
  function flakyShared() {
    const healthy = new MemoryRateLimiter({ burst: 5, refillPerSecond: 1 }, 100);
    const shared = {
      down: true,
      calls: 0,
      take: (name: string) => {
        shared.calls += 1;
        return shared.down ? Promise.reject(new Error("connection refused")) : healthy.take(name);
      },
      peek: (name: string) => {
        shared.calls += 1;
        return shared.down ? Promise.reject(new Error("connection refused")) : healthy.peek(name);
      },
    };
    return shared;
  }

  it("each node falls back to its own buckets, reports the outage once, and asks Redis again after a pause", async () => {
    const events: string[] = [];
    let now = 1_000_000;
    const shared = flakyShared();
    const limiter = new FallbackRateLimiter(
      shared,
      new MemoryRateLimiter({ burst: 1, refillPerSecond: 0.001 }, 100),
      { failed: (error) => events.push(`failed: ${(error as Error).message}`), recovered: () => events.push("recovered") },
      () => now,
    );
    expect((await limiter.take("k")).allowed).toBe(true);
    // Within the pause no request waits for Redis: the node's own bucket answers (and is empty).
    expect((await limiter.take("k")).allowed).toBe(false);
    expect((await limiter.peek("k")).allowed).toBe(false);
    expect(shared.calls).toBe(1);
    expect(events).toEqual(["failed: connection refused"]);

    now += SHARED_RETRY_AFTER_MS;
    expect((await limiter.take("k")).allowed).toBe(false);
    expect(shared.calls).toBe(2);
    expect(events).toEqual(["failed: connection refused"]);

    shared.down = false;
    now += SHARED_RETRY_AFTER_MS;
    const back = await limiter.take("k");
    expect(back).toMatchObject({ allowed: true, limit: 5 });
    expect(events).toEqual(["failed: connection refused", "recovered"]);
    expect((await limiter.take("k")).limit).toBe(5);
    expect(shared.calls).toBe(4);
  });
});
