import type { LightMyRequestResponse } from "fastify";
import { afterEach, describe, expect, it } from "vitest";
import type { Config } from "../src/config.js";
import type { App } from "../src/http/app-types.js";
import { MemoryRateLimiter } from "../src/rate-limit/token-buckets.js";
import { bearer, buildTestApp, createTestCustomer, expectError, issueKey } from "./helpers/test-app.js";

const ISO_WITH_MS = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

/** The three rate-limit headers of the contract (docs/api.md), parsed as the integers they must be. */
function rateLimitHeaders(response: LightMyRequestResponse): { limit: number; remaining: number; reset: number } {
  const read = (name: string): number => {
    const raw = response.headers[name];
    expect(raw, `${name} on ${response.statusCode}`).toMatch(/^\d+$/);
    return Number(raw);
  };
  return {
    limit: read("x-ratelimit-limit"),
    remaining: read("x-ratelimit-remaining"),
    reset: read("x-ratelimit-reset"),
  };
}

function nowUnixSeconds(): number {
  return Math.floor(Date.now() / 1000);
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

describe("rate limits over HTTP", () => {
  let app: App | undefined;
  afterEach(async () => {
    await app?.close();
    app = undefined;
  });

  async function start(rateLimit: Config["rateLimit"]) {
    app = await buildTestApp({ rateLimit });
    const acme = await createTestCustomer(app);
    const listKeys = (secret: string) => app!.inject({ url: "/v1/api-keys", headers: bearer(secret) });
    const getLimits = (secret: string) => app!.inject({ url: "/v1/limits", headers: bearer(secret) });
    return { app, acme, listKeys, getLimits };
  }

  it("puts X-RateLimit-Limit, -Remaining and -Reset on every authenticated response", async () => {
    const { app, acme, listKeys } = await start({ burst: 60, refillPerSecond: 1 });
    const responses = [
      await listKeys(acme.secret),
      await app.inject({ url: "/v1/instances", headers: bearer(acme.secret) }),
      await app.inject({ method: "POST", url: "/v1/instances", headers: bearer(acme.secret), payload: { name: "main" } }),
      // Authenticated failures carry them too: an unknown id, a validation error, an unknown route.
      await app.inject({ url: "/v1/api-keys/00000000-0000-7000-8000-000000000000", headers: bearer(acme.secret) }),
      await app.inject({ method: "POST", url: "/v1/instances", headers: bearer(acme.secret), payload: { name: "" } }),
      await app.inject({ url: "/v1/no-such-route", headers: bearer(acme.secret) }),
    ];
    expect(responses.map((response) => response.statusCode)).toEqual([200, 200, 201, 404, 400, 404]);
    responses.forEach((response, index) => {
      const headers = rateLimitHeaders(response);
      expect(headers.limit).toBe(60);
      expect(headers.remaining).toBe(60 - 1 - index);
      expect(headers.reset).toBeGreaterThanOrEqual(nowUnixSeconds());
    });
  });

  it("counts X-RateLimit-Remaining down by one per request and keeps Reset an integer unix time ahead", async () => {
    const { acme, listKeys } = await start({ burst: 10, refillPerSecond: 0.001 });
    const before = nowUnixSeconds();
    const seen = [];
    for (let i = 0; i < 4; i += 1) seen.push(rateLimitHeaders(await listKeys(acme.secret)));
    expect(seen.map((headers) => headers.remaining)).toEqual([9, 8, 7, 6]);
    expect(seen.every((headers) => headers.limit === 10)).toBe(true);
    for (const [index, headers] of seen.entries()) {
      // Full again when the spent tokens have come back at 0.001 a second: 1000 s per token.
      const spent = index + 1;
      expect(headers.reset).toBeGreaterThanOrEqual(before + spent * 1000);
      expect(headers.reset).toBeLessThanOrEqual(nowUnixSeconds() + spent * 1000 + 1);
    }
  });

  it("answers 429 rate_limited with Retry-After once the burst is spent", async () => {
    const { app, acme, listKeys } = await start({ burst: 3, refillPerSecond: 0.001 });
    // A second key of the same customer, fresh: the first one spends a token issuing it.
    const second = await issueKey(app, acme.secret, { name: "second" });

    for (let i = 0; i < 3; i += 1) expect((await listKeys(second.secret)).statusCode).toBe(200);
    const refused = await listKeys(second.secret);
    const body = expectError(refused, 429, "rate_limited");
    const retryAfter = refused.headers["retry-after"];
    expect(retryAfter).toMatch(/^\d+$/);
    expect(Number(retryAfter)).toBeGreaterThanOrEqual(1);
    // One token at 0.001 a second is 1000 s away.
    expect(Number(retryAfter)).toBeGreaterThanOrEqual(999);
    expect(Number(retryAfter)).toBeLessThanOrEqual(1000);
    const headers = rateLimitHeaders(refused);
    expect(headers).toMatchObject({ limit: 3, remaining: 0 });

    // Still refused on every route, and the refusal does not reveal anything about the route.
    const stillRefused = await app.inject({
      method: "POST",
      url: "/v1/instances",
      headers: bearer(second.secret),
      payload: { nope: true },
    });
    expectError(stillRefused, 429, "rate_limited");
    expect(body.error.details).toEqual({ retry_after_seconds: Number(retryAfter) });
  });

  it("keeps one bucket per key: another key of the same customer still passes", async () => {
    const { app, acme, listKeys } = await start({ burst: 3, refillPerSecond: 0.001 });
    const second = await issueKey(app, acme.secret, { name: "second" });
    for (let i = 0; i < 3; i += 1) await listKeys(second.secret);
    expectError(await listKeys(second.secret), 429, "rate_limited");

    const first = await listKeys(acme.secret);
    expect(first.statusCode).toBe(200);
    expect(rateLimitHeaders(first).remaining).toBe(1);

    const other = await createTestCustomer(app, "Globex");
    const otherResponse = await listKeys(other.secret);
    expect(otherResponse.statusCode).toBe(200);
    expect(rateLimitHeaders(otherResponse).remaining).toBe(2);
  });

  it("GET /v1/limits reports the key's bucket as {per_key: {limit, remaining, reset_at}, per_customer: …}", async () => {
    const { acme, listKeys, getLimits } = await start({ burst: 5, refillPerSecond: 0.001 });
    const normal = await listKeys(acme.secret);
    const remainingAfterNormal = rateLimitHeaders(normal).remaining;
    expect(remainingAfterNormal).toBe(4);

    const before = Date.now();
    const response = await getLimits(acme.secret);
    expect(response.statusCode).toBe(200);
    expect(response.headers["content-type"]).toMatch(/^application\/json/);
    const body = response.json();
    expect(Object.keys(body)).toEqual(["per_key", "per_customer"]);
    expect(Object.keys(body.per_key).sort()).toEqual(["limit", "remaining", "reset_at"]);
    expect(Object.keys(body.per_customer).sort()).toEqual(["limit", "remaining", "reset_at"]);
    expect(body.per_key.limit).toBe(5);
    expect(body.per_key.remaining).toBe(remainingAfterNormal);
    expect(body.per_key.reset_at).toMatch(ISO_WITH_MS);
    // One token spent at 0.001 a second: full again in about 1000 s.
    const resetAt = Date.parse(body.per_key.reset_at);
    expect(resetAt).toBeGreaterThan(before + 990_000);
    expect(resetAt).toBeLessThanOrEqual(Date.now() + 1_000_000);
    // Its headers say the same as its body.
    expect(rateLimitHeaders(response)).toMatchObject({ limit: 5, remaining: remainingAfterNormal });
  });

  it("GET /v1/limits spends no token, however often it is called", async () => {
    const { acme, listKeys, getLimits } = await start({ burst: 5, refillPerSecond: 0.001 });
    await listKeys(acme.secret);
    for (let i = 0; i < 4; i += 1) {
      const response = await getLimits(acme.secret);
      expect(response.statusCode).toBe(200);
      expect(response.json().per_key.remaining).toBe(4);
      expect(rateLimitHeaders(response).remaining).toBe(4);
    }
    // The next request that does spend sees the tokens /v1/limits left alone.
    expect(rateLimitHeaders(await listKeys(acme.secret)).remaining).toBe(3);
  });

  it("GET /v1/limits still reports an empty bucket: remaining 0 and when it refills", async () => {
    const { acme, listKeys, getLimits } = await start({ burst: 2, refillPerSecond: 0.001 });
    await listKeys(acme.secret);
    await listKeys(acme.secret);
    expectError(await listKeys(acme.secret), 429, "rate_limited");

    // It spends nothing, so an empty bucket is no reason to refuse it: it is how a client learns
    // when to come back.
    const response = await getLimits(acme.secret);
    expect(response.statusCode, response.body).toBe(200);
    expect(response.json().per_key).toMatchObject({ limit: 2, remaining: 0 });
    expect(Date.parse(response.json().per_key.reset_at)).toBeGreaterThan(Date.now() + 1_000_000);
  });

  it("gives tokens back as time passes", async () => {
    const { acme, listKeys, getLimits } = await start({ burst: 1, refillPerSecond: 20 });
    const first = await listKeys(acme.secret);
    expect(first.statusCode).toBe(200);
    expect(rateLimitHeaders(first).remaining).toBe(0);

    await sleep(150); // 20 tokens a second: one is back after 50 ms
    const limits = await getLimits(acme.secret);
    expect(limits.statusCode).toBe(200);
    expect(limits.json().per_key.remaining).toBe(1);
    const second = await listKeys(acme.secret);
    expect(second.statusCode).toBe(200);
    expect(rateLimitHeaders(second).remaining).toBe(0);
  });

  it("does not put rate-limit headers on unauthenticated answers", async () => {
    const { app } = await start({ burst: 60, refillPerSecond: 1 });
    const missing = await app.inject({ url: "/v1/api-keys" });
    expectError(missing, 401, "auth_missing");
    expect(missing.headers["x-ratelimit-limit"]).toBeUndefined();
    const health = await app.inject({ url: "/healthz" });
    expect(health.statusCode).toBe(200);
    expect(health.headers["x-ratelimit-remaining"]).toBeUndefined();
  });
});

describe("MemoryRateLimiter", () => {
  /** A limiter on a clock the test moves by hand. */
  function limiterAt(settings: { burst: number; refillPerSecond: number }, maxBuckets = 100_000) {
    const clock = { now: 1_000_000 };
    const limiter = new MemoryRateLimiter(settings, maxBuckets, () => clock.now);
    const advance = (ms: number) => {
      clock.now += ms;
    };
    return { limiter, clock, advance };
  }

  async function drain(limiter: MemoryRateLimiter, name: string, count: number): Promise<void> {
    for (let i = 0; i < count; i += 1) expect((await limiter.take(name)).allowed).toBe(true);
  }

  it("starts a new name full and takes one token per take", async () => {
    const { limiter, clock } = limiterAt({ burst: 3, refillPerSecond: 1 });
    expect(await limiter.take("k")).toEqual({
      allowed: true,
      limit: 3,
      remaining: 2,
      resetAt: clock.now + 1000,
      retryAfterMs: 0,
    });
    expect((await limiter.take("k")).remaining).toBe(1);
    const last = await limiter.take("k");
    expect(last).toMatchObject({ allowed: true, remaining: 0, resetAt: clock.now + 3000, retryAfterMs: 1000 });
  });

  it("refuses once empty, without going below zero, and says when a token is back", async () => {
    const { limiter, clock, advance } = limiterAt({ burst: 2, refillPerSecond: 0.5 });
    await drain(limiter, "k", 2);
    const refused = await limiter.take("k");
    expect(refused).toEqual({ allowed: false, limit: 2, remaining: 0, resetAt: clock.now + 4000, retryAfterMs: 2000 });
    // A refused take spends nothing: the wait does not grow with the number of refusals.
    expect((await limiter.take("k")).retryAfterMs).toBe(2000);

    advance(1500); // 0.75 of a token
    const stillRefused = await limiter.take("k");
    expect(stillRefused).toMatchObject({ allowed: false, remaining: 0, retryAfterMs: 500, resetAt: clock.now + 2500 });

    advance(500);
    expect(await limiter.take("k")).toMatchObject({ allowed: true, remaining: 0 });
  });

  it("refills at refillPerSecond and counts only whole tokens as remaining", async () => {
    const { limiter, clock, advance } = limiterAt({ burst: 10, refillPerSecond: 2 });
    await drain(limiter, "k", 10);
    advance(1750); // 3.5 tokens
    const peeked = await limiter.peek("k");
    // 6.5 tokens short of full at 2 a second: 3250 ms.
    expect(peeked).toEqual({ allowed: true, limit: 10, remaining: 3, resetAt: clock.now + 3250, retryAfterMs: 0 });
  });

  it("caps a bucket at its burst however long it rests", async () => {
    const { limiter, clock, advance } = limiterAt({ burst: 4, refillPerSecond: 1 });
    await drain(limiter, "k", 2);
    advance(3_600_000);
    expect(await limiter.peek("k")).toEqual({ allowed: true, limit: 4, remaining: 4, resetAt: clock.now, retryAfterMs: 0 });
    await drain(limiter, "k", 4);
    expect((await limiter.take("k")).allowed).toBe(false);
  });

  it("peek reports without spending", async () => {
    const { limiter } = limiterAt({ burst: 3, refillPerSecond: 1 });
    await limiter.take("k");
    for (let i = 0; i < 5; i += 1) expect((await limiter.peek("k")).remaining).toBe(2);
    expect((await limiter.take("k")).remaining).toBe(1);
  });

  it("keeps buckets apart by name", async () => {
    const { limiter } = limiterAt({ burst: 1, refillPerSecond: 1 });
    await drain(limiter, "a", 1);
    expect((await limiter.take("a")).allowed).toBe(false);
    expect((await limiter.take("b")).allowed).toBe(true);
  });

  it("bounds memory with maxBuckets: a bucket not used since it was stored is dropped first and comes back full", async () => {
    const { limiter } = limiterAt({ burst: 3, refillPerSecond: 0.001 }, 2);
    await drain(limiter, "a", 1);
    await drain(limiter, "b", 1);
    await drain(limiter, "a", 1); // a is used again; b is not
    await drain(limiter, "c", 1); // a third bucket: b goes, a gets its second chance

    expect((await limiter.peek("b")).remaining).toBe(3);
    expect((await limiter.peek("a")).remaining).toBe(1);
    // Peeking b (full) did not bring it back into memory, so c is still there too.
    expect((await limiter.peek("c")).remaining).toBe(2);
  });

  it("never holds more than maxBuckets buckets under a flood of names", async () => {
    const { limiter } = limiterAt({ burst: 2, refillPerSecond: 0.001 }, 10);
    for (let i = 0; i < 1000; i += 1) await limiter.take(`name-${i}`);
    // The ten most recent are remembered, every earlier one forgotten (full again).
    for (let i = 990; i < 1000; i += 1) expect((await limiter.peek(`name-${i}`)).remaining, `name-${i}`).toBe(1);
    for (const i of [0, 500, 989]) expect((await limiter.peek(`name-${i}`)).remaining, `name-${i}`).toBe(2);
  });
});
