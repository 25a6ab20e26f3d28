import { afterEach, describe, expect, it } from "vitest";
import { countActiveKeys } from "../src/api-keys/api-key-repository.js";
import type { Config } from "../src/config.js";
import type { App } from "../src/http/app-types.js";
import { sql } from "kysely";
import * as keyCounts from "../src/db/migrations/20261201170000_key_counts.js";
import { addCustomerKey } from "../src/use-cases/add-customer-key.js";
import { CLI_ACTOR } from "../src/audit/actor.js";
import {
  bearer,
  buildTestApp,
  createInstance,
  createTestCustomer,
  expectError,
  issueKey,
  TEST_PEPPER,
  TIMESTAMP,
  writerOn,
} from "./helpers/test-app.js";

/**
 * Issue 11, row 4: one key's bucket no longer multiplies by minting keys. All of a customer's keys
 * share a second bucket (CUSTOMER_RATE_LIMIT_*), and a customer holds at most MAX_ACTIVE_KEYS
 * active keys (409 key_limit_reached).
 */

let app: App;
afterEach(() => app?.close());

async function start(overrides: Partial<Config>): Promise<void> {
  app = await buildTestApp({ rateLimit: { burst: 100, refillPerSecond: 0.001 }, ...overrides });
}

describe("the per-customer bucket", () => {
  it("is shared by all of a customer's keys: minted keys do not multiply the rate", async () => {
    await start({ customerRateLimit: { burst: 6, refillPerSecond: 0.001 } });
    const acme = await createTestCustomer(app);
    const minted = await issueKey(app, acme.secret, { name: "minted" });
    const otherCustomer = await createTestCustomer(app, "Globex");
    // The issue spent one of the six; five more across both keys.
    for (const secret of [acme.secret, minted.secret, acme.secret, minted.secret, minted.secret]) {
      expect((await app.inject({ url: "/v1/api-keys", headers: bearer(secret) })).statusCode).toBe(200);
    }
    const refused = await app.inject({ url: "/v1/api-keys", headers: bearer(minted.secret) });
    const body = expectError(refused, 429, "rate_limited");
    expect(body.error.message).toContain("customer's keys together");
    expect(Number(refused.headers["retry-after"])).toBeGreaterThanOrEqual(1);
    // The key's own bucket still had room, and another customer is not affected.
    expect(Number(refused.headers["x-ratelimit-remaining"])).toBeGreaterThan(90);
    expect((await app.inject({ url: "/v1/api-keys", headers: bearer(otherCustomer.secret) })).statusCode).toBe(200);
  });

  it("is reported by GET /v1/limits as per_customer beside per_key, without spending from either", async () => {
    await start({ customerRateLimit: { burst: 10, refillPerSecond: 0.001 } });
    const acme = await createTestCustomer(app);
    await app.inject({ url: "/v1/api-keys", headers: bearer(acme.secret) });
    const first = await app.inject({ url: "/v1/limits", headers: bearer(acme.secret) });
    expect(first.statusCode).toBe(200);
    const limits = first.json() as Record<string, { limit: number; remaining: number; reset_at: string }>;
    expect(Object.keys(limits).sort()).toEqual(["per_customer", "per_key"]);
    expect(limits.per_key).toEqual({ limit: 100, remaining: 99, reset_at: expect.stringMatching(TIMESTAMP) });
    expect(limits.per_customer).toEqual({ limit: 10, remaining: 9, reset_at: expect.stringMatching(TIMESTAMP) });
    const second = (await app.inject({ url: "/v1/limits", headers: bearer(acme.secret) })).json() as typeof limits;
    expect(second.per_customer!.remaining).toBe(9);
  });
});

describe("MAX_ACTIVE_KEYS", () => {
  it("refuses the key past the cap with 409 key_limit_reached, and counts neither revoked nor expired keys", async () => {
    await start({ maxActiveKeys: 3, customerRateLimit: { burst: 1_000, refillPerSecond: 1 } });
    const acme = await createTestCustomer(app);
    const second = await issueKey(app, acme.secret, { name: "two" });
    await issueKey(app, acme.secret, { name: "three" });
    const refused = await app.inject({ method: "POST", url: "/v1/api-keys", headers: bearer(acme.secret), payload: { name: "four" } });
    const body = expectError(refused, 409, "key_limit_reached");
    expect(body.error.details).toEqual({ max_active_keys: 3 });
    const listed = await app.inject({ url: "/v1/api-keys", headers: bearer(acme.secret) });
    expect((listed.json() as unknown[]).length).toBe(3);

    expect((await app.inject({ method: "DELETE", url: `/v1/api-keys/${second.id}`, headers: bearer(acme.secret) })).statusCode).toBe(204);
    const brief = await issueKey(app, acme.secret, { name: "brief", expires_at: new Date(Date.now() + 300).toISOString() });
    expect(brief.expires_at).not.toBeNull();
    await new Promise((resolve) => setTimeout(resolve, 350));
    await issueKey(app, acme.secret, { name: "after the brief one expired" });
  });

  it("is checked with a count that stops at the cap, so an issue never reads more than MAX_ACTIVE_KEYS keys", async () => {
    await start({});
    const acme = await createTestCustomer(app);
    for (const name of ["one", "two", "three", "four"]) await issueKey(app, acme.secret, { name });
    const now = new Date().toISOString();
    expect(await countActiveKeys(app.db, acme.customer.id, now, 3)).toBe(3);
    expect(await countActiveKeys(app.db, acme.customer.id, now, 100)).toBe(5);
  });

  it("holds under concurrent issues: exactly the room left is granted", async () => {
    await start({ maxActiveKeys: 5, customerRateLimit: { burst: 1_000, refillPerSecond: 1 } });
    const acme = await createTestCustomer(app);
    const answers = await Promise.all(
      Array.from({ length: 12 }, (_, index) =>
        app.inject({ method: "POST", url: "/v1/api-keys", headers: bearer(acme.secret), payload: { name: `key ${index}` } }),
      ),
    );
    const statuses = answers.map((answer) => answer.statusCode);
    expect(statuses.filter((status) => status === 201)).toHaveLength(4);
    for (const answer of answers.filter((response) => response.statusCode !== 201)) expectError(answer, 409, "key_limit_reached");
  });

  /** The customer's count of unrevoked keys, and the count of its rows that it stands for. */
  async function unrevokedKeys(customerId: string): Promise<{ kept: number; actual: number }> {
    const { rows } = await sql<{ kept: number | string; actual: number | string }>`select unrevoked_keys as kept,
      (select count(*) from api_keys where customer_id = ${customerId} and revoked_at is null) as actual
      from customers where id = ${customerId}`.execute(app.db);
    return { kept: Number(rows[0]!.kept), actual: Number(rows[0]!.actual) };
  }

  it("is kept as a count on the customer by every way a key is added or revoked, expired keys included", async () => {
    await start({ customerRateLimit: { burst: 1_000, refillPerSecond: 1 } });
    const acme = await createTestCustomer(app);
    const globex = await createTestCustomer(app, "Globex");
    expect(await unrevokedKeys(acme.customer.id)).toEqual({ kept: 1, actual: 1 });
    const instance = await createInstance(app, acme.secret);
    const bound = await Promise.all([1, 2].map((n) => issueKey(app, acme.secret, { name: `bound ${n}`, instance_id: instance.id })));
    const free = await issueKey(app, acme.secret, { name: "free" });
    await issueKey(app, acme.secret, { name: "brief", expires_at: new Date(Date.now() + 60_000).toISOString() });
    await writerOn(app.db, TEST_PEPPER)(CLI_ACTOR, (write, actor) => addCustomerKey(write, actor, { customerId: acme.customer.id, name: "operator" }));
    expect(await unrevokedKeys(acme.customer.id)).toEqual({ kept: 6, actual: 6 });

    expect((await app.inject({ method: "DELETE", url: `/v1/api-keys/${free.id}`, headers: bearer(acme.secret) })).statusCode).toBe(204);
    // A second revocation of the same key changes nothing, and so takes nothing off the count.
    expect((await app.inject({ method: "DELETE", url: `/v1/api-keys/${free.id}`, headers: bearer(acme.secret) })).statusCode).toBe(204);
    expect((await app.inject({ method: "DELETE", url: `/v1/api-keys/${bound[0]!.id}`, headers: bearer(acme.secret) })).statusCode).toBe(204);
    // Deleting the instance revokes the one bound key still live.
    expect((await app.inject({ method: "DELETE", url: `/v1/instances/${instance.id}`, headers: bearer(acme.secret) })).statusCode).toBe(204);
    expect(await unrevokedKeys(acme.customer.id)).toEqual({ kept: 3, actual: 3 });
    expect(await unrevokedKeys(globex.customer.id)).toEqual({ kept: 1, actual: 1 });
  });

  it("trusts the customer's count below the cap, and counts the active keys only at it", async () => {
    await start({ maxActiveKeys: 2, customerRateLimit: { burst: 1_000, refillPerSecond: 1 } });
    const acme = await createTestCustomer(app);
    await issueKey(app, acme.secret, { name: "two" });
    // With a count below the cap, the keys themselves are not read: two more keys are let through.
    await sql`update customers set unrevoked_keys = 0 where id = ${acme.customer.id}`.execute(app.db);
    await issueKey(app, acme.secret, { name: "three" });
    await issueKey(app, acme.secret, { name: "four" });
    // At the cap by its count, the customer's active keys are counted, and there are four.
    const refused = await app.inject({ method: "POST", url: "/v1/api-keys", headers: bearer(acme.secret), payload: { name: "five" } });
    expectError(refused, 409, "key_limit_reached");
  });

  it("counts the keys a database already holds when the migration that adds the count runs", async () => {
    await start({ customerRateLimit: { burst: 1_000, refillPerSecond: 1 } });
    const acme = await createTestCustomer(app);
    const revoked = await issueKey(app, acme.secret, { name: "revoked" });
    await issueKey(app, acme.secret, { name: "kept" });
    expect((await app.inject({ method: "DELETE", url: `/v1/api-keys/${revoked.id}`, headers: bearer(acme.secret) })).statusCode).toBe(204);
    await keyCounts.down(app.db);
    await keyCounts.up(app.db);
    expect(await unrevokedKeys(acme.customer.id)).toEqual({ kept: 2, actual: 2 });
  });
});
