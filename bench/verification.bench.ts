import { createHmac, createSecretKey } from "node:crypto";
import { afterAll, beforeAll, bench, describe } from "vitest";
import { KeyVerifier } from "../src/auth/verify-key.js";
import { SingleNodeRevocationChannel } from "../src/auth/revocation-channel.js";
import { VerifiedKeyCache } from "../src/auth/verified-key-cache.js";
import { KeyDigester } from "../src/crypto/key-digest.js";
import { generateKey } from "../src/crypto/key-format.js";
import { openDatabase } from "../src/db/database.js";
import type { Db } from "../src/db/schema.js";
import { MemoryRateLimiter } from "../src/rate-limit/token-buckets.js";
import { nowTimestamp } from "../src/time/timestamps.js";

/**
 * Issue 12, target 4: verifying a cached key (header → format and checksum → digest → cache →
 * standing) within 2× of the one HMAC-SHA256 it cannot avoid, computed as the verifier computes
 * it. Read the rows of one run against each other; Node's `createHmac` is there for comparison.
 */
const PEPPER = "bench-pepper-that-is-long-enough-0123456789";
const DIGESTER = new KeyDigester(PEPPER);
const PEPPER_OBJECT = createSecretKey(PEPPER, "utf8");
const key = generateKey();
const header = `Bearer ${key}`;
let db: Db;
let verifier: KeyVerifier;

beforeAll(async () => {
  db = (await openDatabase({ dialect: "sqlite", path: ":memory:" })).db;
  const cache = new VerifiedKeyCache(1_000);
  verifier = new KeyVerifier(db, DIGESTER, cache, new SingleNodeRevocationChannel(cache), new MemoryRateLimiter({ burst: 30, refillPerSecond: 1 }, 1_000), 10_000);
  const id = "0190f3c2-7b1e-7000-8000-000000000001";
  cache.set(DIGESTER.digest(key), { id, customer_id: id, instance_id: null, prefix: key.slice(0, 17), mode: "live", scopes: ["*"], allowed_ips: null, expires_at: null, revoked_at: null }, cache.generation);
});

afterAll(() => db.destroy());

describe("verifying a cached key", () => {
  bench("one HMAC-SHA256 of the key (the floor)", () => {
    DIGESTER.digest(key);
  });
  bench("the same HMAC-SHA256 by Node's createHmac (for comparison)", () => {
    createHmac("sha256", PEPPER_OBJECT).update(key, "utf8").digest("hex");
  });
  bench("digestOf + cachedCredentialFor (what every request does)", () => {
    const digest = verifier.digestOf(header);
    if (verifier.cachedCredentialFor(digest, nowTimestamp()) === undefined) throw new Error("not cached");
  });
});
