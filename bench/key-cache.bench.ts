import { bench, describe } from "vitest";
import type { KeyCredential } from "../src/api-keys/api-key-repository.js";
import { VerifiedKeyCache } from "../src/auth/verified-key-cache.js";
import { MemoryRateLimiter } from "../src/rate-limit/token-buckets.js";

/**
 * Issue 12, target 2: a hot key costs the same with 100,000 keys cached as with ten, and a bucket
 * take the same with 100,000 active buckets as with one. Compare the rows of one run: the small
 * and the large structure side by side (docs/performance.md).
 */
const LARGE = 100_000;

function credential(index: number): KeyCredential {
  const id = `0190f3c2-7b1e-7000-8000-${String(index).padStart(12, "0")}`;
  return { id, customer_id: id, instance_id: null, prefix: "zpk_live_abcdefgh", mode: "live", scopes: ["*"], expires_at: null, allowed_ips: null, revoked_at: null };
}

function filledCache(size: number): { cache: VerifiedKeyCache; digests: string[] } {
  const cache = new VerifiedKeyCache(LARGE);
  const digests = Array.from({ length: size }, (_, index) => `digest-${index}`);
  digests.forEach((digest, index) => cache.set(digest, credential(index), cache.generation));
  return { cache, digests };
}

describe("key cache hit, one hot key", () => {
  const small = filledCache(10);
  const large = filledCache(LARGE);
  const smallHot = small.digests[5]!;
  const largeHot = large.digests[LARGE / 2]!;
  bench(`${LARGE.toLocaleString("en")} keys cached`, () => {
    large.cache.get(largeHot);
  });
  bench("10 keys cached", () => {
    small.cache.get(smallHot);
  });
});

describe("token bucket take, one hot bucket", () => {
  const settings = { burst: 1e12, refillPerSecond: 1 };
  const one = new MemoryRateLimiter(settings, LARGE);
  const many = new MemoryRateLimiter(settings, LARGE);
  for (let index = 0; index < LARGE; index += 1) void many.take(`key-${index}`);
  bench("1 active bucket", async () => {
    await one.take("key-0");
  });
  bench(`${LARGE.toLocaleString("en")} active buckets`, async () => {
    await many.take(`key-${LARGE / 2}`);
  });
});
