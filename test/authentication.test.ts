import type { CompiledQuery } from "kysely";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { generateKey } from "../src/crypto/key-format.js";
import type { App } from "../src/http/app-types.js";
import {
  bearer,
  buildTestApp,
  createTestCustomer,
  expectError,
  issueKey,
  type TestCustomer,
} from "./helpers/test-app.js";

/** A request to a cheap authenticated route with whatever Authorization header is given. */
function listKeys(app: App, headers: Record<string, string> = {}, remoteAddress?: string) {
  return app.inject({ method: "GET", url: "/v1/api-keys", headers, ...(remoteAddress ? { remoteAddress } : {}) });
}

/** A 58-character zpk_live_ token with a valid checksum that no customer holds. */
function unknownKey(): string {
  return generateKey();
}

/** The same key with its last character changed: right shape, wrong checksum. */
function withBadChecksum(key: string): string {
  const last = key.at(-1) === "a" ? "b" : "a";
  return key.slice(0, -1) + last;
}

function revoke(app: App, secret: string, keyId: string) {
  return app.inject({ method: "DELETE", url: `/v1/api-keys/${keyId}`, headers: bearer(secret) });
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe("authentication", () => {
  let app: App;
  let acme: TestCustomer;

  beforeAll(async () => {
    app = await buildTestApp({
      rateLimit: { burst: 10_000, refillPerSecond: 100 },
      authFailureLimit: { burst: 10_000, refillPerSecond: 100 },
    });
    acme = await createTestCustomer(app);
  });
  afterAll(() => app.close());

  describe("a valid key", () => {
    it("is accepted as Authorization: Bearer <key>", async () => {
      const response = await listKeys(app, bearer(acme.secret));
      expect(response.statusCode, response.body).toBe(200);
      expect(Array.isArray(response.json())).toBe(true);
    });

    it.each(["bearer", "BEARER", "BeArEr"])("is accepted with the scheme written %s (RFC 7235)", async (scheme) => {
      const response = await listKeys(app, { authorization: `${scheme} ${acme.secret}` });
      expect(response.statusCode, response.body).toBe(200);
    });
  });

  describe("401 auth_missing", () => {
    it("answers an empty Authorization header", async () => {
      expectError(await listKeys(app, { authorization: "" }), 401, "auth_missing");
    });

    it("does not accept a key in the query string", async () => {
      for (const name of ["api_key", "key", "access_token"]) {
        const response = await app.inject({ method: "GET", url: `/v1/api-keys?${name}=${acme.secret}` });
        expectError(response, 401, "auth_missing");
      }
    });
  });

  describe("401 auth_malformed", () => {
    it.each([
      ["the Basic scheme carrying the key itself", () => `Basic ${acme.secret}`],
      ["Bearer and a space with no token", () => "Bearer "],
      ["the bare key without a scheme", () => acme.secret],
      ["a zpk_test_ token", () => `Bearer zpk_test_${acme.secret.slice(9)}`],
      ["a truncated key", () => `Bearer ${acme.secret.slice(0, -1)}`],
      ["two tokens", () => `Bearer ${acme.secret} ${acme.secret}`],
    ])("answers %s", async (_label, header) => {
      const response = await listKeys(app, { authorization: header() });
      expectError(response, 401, "auth_malformed");
      expect(response.headers["www-authenticate"]).toMatch(/^Bearer\b/);
    });
  });

  describe("401 auth_expired", () => {
    it("answers a key once its expires_at has passed", async () => {
      const expiresAt = new Date(Date.now() + 1_500).toISOString();
      const key = await issueKey(app, acme.secret, { name: "short-lived", expires_at: expiresAt });
      expect(key.expires_at).toBe(expiresAt);
      expect((await listKeys(app, bearer(key.secret))).statusCode).toBe(200);

      await sleep(Date.parse(expiresAt) - Date.now() + 100);

      expectError(await listKeys(app, bearer(key.secret)), 401, "auth_expired");
    });
  });

  describe("revocation", () => {
    it("is immediate: a key already used (and cached) is refused on the very next request", async () => {
      const key = await issueKey(app, acme.secret, { name: "cached" });
      for (let i = 0; i < 3; i++) expect((await listKeys(app, bearer(key.secret))).statusCode).toBe(200);

      expect((await revoke(app, acme.secret, key.id)).statusCode).toBe(204);

      expectError(await listKeys(app, bearer(key.secret)), 401, "auth_expired");
      // The revoker is unaffected.
      expect((await listKeys(app, bearer(acme.secret))).statusCode).toBe(200);
    });

    it("holds against requests racing the revocation: once DELETE has answered, the key is refused", async () => {
      for (let round = 0; round < 10; round++) {
        const key = await issueKey(app, acme.secret, { name: `racing ${round}` });
        const uses = () => Array.from({ length: 10 }, () => listKeys(app, bearer(key.secret)));
        const [, revocation] = await Promise.all([
          Promise.all(uses()),
          revoke(app, acme.secret, key.id),
          Promise.all(uses()),
        ]);
        expect(revocation.statusCode).toBe(204);
        expectError(await listKeys(app, bearer(key.secret)), 401, "auth_expired");
      }
    });

    it("refuses a request that arrives after the 204 even while a read of the key begun before it is under way", async () => {
      const key = await issueKey(app, acme.secret, { name: "slow read" });
      // The key's first read runs, before the revocation, and its answer is held back until released.
      let release!: () => void;
      const held = new Promise<void>((resolve) => (release = resolve));
      let readRan!: () => void;
      const firstReadRan = new Promise<void>((resolve) => (readRan = resolve));
      const executeQuery = app.db.executeQuery.bind(app.db);
      let holding = true;
      app.db.executeQuery = (async (query: CompiledQuery) => {
        const result = await executeQuery(query);
        if (holding && query.sql.includes('"digest"')) {
          holding = false;
          readRan();
          await held;
        }
        return result;
      }) as typeof app.db.executeQuery;
      try {
        const first = listKeys(app, bearer(key.secret));
        await firstReadRan;
        expect((await revoke(app, acme.secret, key.id)).statusCode).toBe(204);
        const second = listKeys(app, bearer(key.secret));
        // Had the second request taken the first one's read, it would still be waiting on it.
        await Promise.race([second, sleep(1_000)]);
        release();
        expectError(await second, 401, "auth_expired");
        // The first request began before the revocation: it may answer with what it read then.
        expect((await first).statusCode).toBe(200);
      } finally {
        release();
        app.db.executeQuery = executeQuery;
      }
    });

    it("lets a key revoke itself, after which it is refused", async () => {
      const key = await issueKey(app, acme.secret, { name: "self-revoking" });
      expect((await listKeys(app, bearer(key.secret))).statusCode).toBe(200);

      const response = await revoke(app, key.secret, key.id);
      expect(response.statusCode, response.body).toBe(204);

      expectError(await listKeys(app, bearer(key.secret)), 401, "auth_expired");
      expectError(await revoke(app, key.secret, key.id), 401, "auth_expired");
    });
  });

  describe("comes before validation and routing", () => {
    const invalidBody = { name: "", scopes: ["no-such-scope"], unknown_field: true };

    it.each([
      ["a malformed key", () => "Bearer not-a-key", "auth_malformed"],
      ["an unknown key", () => `Bearer ${unknownKey()}`, "auth_invalid"],
    ])("answers POST /v1/api-keys with an invalid body and %s with 401", async (_label, header, code) => {
      const response = await app.inject({
        method: "POST",
        url: "/v1/api-keys",
        headers: { authorization: header() },
        payload: invalidBody,
      });
      expectError(response, 401, code);
    });

    it("answers a revoked key with an invalid body with 401 auth_expired", async () => {
      const key = await issueKey(app, acme.secret, { name: "revoked before posting" });
      await revoke(app, acme.secret, key.id);
      const response = await app.inject({
        method: "POST",
        url: "/v1/api-keys",
        headers: bearer(key.secret),
        payload: invalidBody,
      });
      expectError(response, 401, "auth_expired");
    });

    it("answers a 600-character id, and no key, with 401 rather than 400", async () => {
      expectError(await app.inject({ method: "GET", url: `/v1/api-keys/${"a".repeat(600)}` }), 401, "auth_missing");
    });
  });
});

describe("failed-authentication throttle (burst 3, next token in ~17 minutes)", () => {
  let app: App;
  let acme: TestCustomer;

  /** A fresh app per test, so that every test starts with full per-address buckets. */
  async function freshApp(): Promise<void> {
    app = await buildTestApp({
      rateLimit: { burst: 10_000, refillPerSecond: 100 },
      authFailureLimit: { burst: 3, refillPerSecond: 0.001 },
    });
    acme = await createTestCustomer(app);
  }
  afterEach(() => app?.close());

  async function spendFailureBucket(remoteAddress?: string): Promise<void> {
    for (let i = 0; i < 3; i++) {
      expectError(await listKeys(app, bearer(unknownKey()), remoteAddress), 401, "auth_invalid");
    }
  }

  it("answers the 4th unknown key from an address with 429 rate_limited and Retry-After", async () => {
    await freshApp();
    await spendFailureBucket();

    const response = await listKeys(app, bearer(unknownKey()));
    const body = expectError(response, 429, "rate_limited");
    const retryAfter = Number(response.headers["retry-after"]);
    expect(Number.isInteger(retryAfter)).toBe(true);
    // One token at 0.001 per second takes about 1000 seconds.
    expect(retryAfter).toBeGreaterThan(900);
    expect(retryAfter).toBeLessThanOrEqual(1000);
    expect(response.headers["www-authenticate"]).toBeUndefined();
    expect(body.error.code).toBe("rate_limited");
  });

  it("refuses, before any database read, even a valid key this node has never verified", async () => {
    await freshApp();
    // A valid key made directly in the database (as the CLI does), never presented to the app:
    // only the database could tell that it exists.
    const other = await createTestCustomer(app, "Other");
    // A key used once before the flood: the node has verified it and keeps it.
    expect((await listKeys(app, bearer(acme.secret))).statusCode).toBe(200);

    await spendFailureBucket();

    expectError(await listKeys(app, bearer(other.secret)), 429, "rate_limited");
    const known = await listKeys(app, bearer(acme.secret));
    expect(known.statusCode, known.body).toBe(200);

    // The refusal was the throttle's, not the key's: from another address the same key works.
    const elsewhere = await listKeys(app, bearer(other.secret), "10.0.0.2");
    expect(elsewhere.statusCode, elsewhere.body).toBe(200);
  });

  it("holds against concurrent unknown keys: at most the burst of them reach the database", async () => {
    await freshApp();
    const responses = await Promise.all(Array.from({ length: 20 }, () => listKeys(app, bearer(unknownKey()))));
    const codes = responses.map((r) => (r.json() as { error: { code: string } }).error.code);
    expect(codes.filter((c) => c !== "auth_invalid" && c !== "rate_limited")).toEqual([]);
    expect(codes.filter((c) => c === "auth_invalid").length).toBeLessThanOrEqual(3);
    expect(codes.filter((c) => c === "rate_limited").length).toBeGreaterThanOrEqual(17);
  });

  it("throttles per client address", async () => {
    await freshApp();
    await spendFailureBucket("10.0.0.1");
    expectError(await listKeys(app, bearer(unknownKey()), "10.0.0.1"), 429, "rate_limited");
    expectError(await listKeys(app, bearer(unknownKey()), "10.0.0.9"), 401, "auth_invalid");
  });

  it("still answers a request with no key or a malformed key with 401 while the bucket is empty", async () => {
    await freshApp();
    await spendFailureBucket();
    expectError(await listKeys(app), 401, "auth_missing");
    expectError(await listKeys(app, { authorization: "Bearer nonsense" }), 401, "auth_malformed");
    expectError(await listKeys(app, bearer(withBadChecksum(unknownKey()))), 401, "auth_malformed");
  });

  it("is not spent by malformed keys", async () => {
    await freshApp();
    for (let i = 0; i < 10; i++) {
      expectError(await listKeys(app, bearer(withBadChecksum(unknownKey()))), 401, "auth_malformed");
      expectError(await listKeys(app, { authorization: `Bearer garbage-${i}` }), 401, "auth_malformed");
      expectError(await listKeys(app, { authorization: `Basic ${acme.secret}` }), 401, "auth_malformed");
    }
    // The whole burst of 3 is still there: three unknown keys are told apart, the 4th is throttled.
    await spendFailureBucket();
    expectError(await listKeys(app, bearer(unknownKey())), 429, "rate_limited");
  });

  it("is not spent by revoked or expired keys", async () => {
    await freshApp();
    const revoked = await issueKey(app, acme.secret, { name: "revoked" });
    expect((await revoke(app, acme.secret, revoked.id)).statusCode).toBe(204);
    const expiresAt = new Date(Date.now() + 1_200).toISOString();
    const expiring = await issueKey(app, acme.secret, { name: "expiring", expires_at: expiresAt });
    await sleep(Date.parse(expiresAt) - Date.now() + 100);

    for (let i = 0; i < 10; i++) {
      expectError(await listKeys(app, bearer(revoked.secret)), 401, "auth_expired");
      expectError(await listKeys(app, bearer(expiring.secret)), 401, "auth_expired");
    }
    await spendFailureBucket();
    expectError(await listKeys(app, bearer(unknownKey())), 429, "rate_limited");
  });

  it("is not spent by successful authentications", async () => {
    await freshApp();
    for (let i = 0; i < 10; i++) expect((await listKeys(app, bearer(acme.secret))).statusCode).toBe(200);
    await spendFailureBucket();
    expectError(await listKeys(app, bearer(unknownKey())), 429, "rate_limited");
  });
});
