import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { generateKey, KEY_LENGTH } from "../src/crypto/key-format.js";
import type { App } from "../src/http/app-types.js";
import { bearer, buildTestApp, createInstance, createTestCustomer, expectError, issueKey, type TestCustomer } from "./helpers/test-app.js";
import { rowCounts } from "./helpers/test-database.js";

/**
 * Issue 11's authentication matrix: hostile ways to present a key, each sent to a write
 * (`POST /v1/api-keys`), each asserting the status, the code, and that nothing was written.
 */

let app: App;
let acme: TestCustomer;
let revoked: string;
let expired: string;
let orphaned: string;

beforeAll(async () => {
  app = await buildTestApp({
    rateLimit: { burst: 100_000, refillPerSecond: 1 },
    customerRateLimit: { burst: 100_000, refillPerSecond: 1 },
    authFailureLimit: { burst: 100_000, refillPerSecond: 1 },
  });
  acme = await createTestCustomer(app);
  const toRevoke = await issueKey(app, acme.secret, { name: "revoked" });
  await app.inject({ method: "DELETE", url: `/v1/api-keys/${toRevoke.id}`, headers: bearer(acme.secret) });
  revoked = toRevoke.secret;
  const brief = await issueKey(app, acme.secret, { name: "brief", expires_at: new Date(Date.now() + 200).toISOString() });
  expired = brief.secret;
  const instance = await createInstance(app, acme.secret, "doomed");
  orphaned = (await issueKey(app, acme.secret, { name: "bound", instance_id: instance.id })).secret;
  await app.inject({ method: "DELETE", url: `/v1/instances/${instance.id}`, headers: bearer(acme.secret) });
  await new Promise((resolve) => setTimeout(resolve, 250));
});
afterAll(() => app.close());

function replacedAt(key: string, index: number, replacement: string): string {
  return key.slice(0, index) + replacement + key.slice(index + 1);
}

/** The same key with the character at `index` replaced by another of the alphabet. */
function changedAt(key: string, index: number): string {
  return replacedAt(key, index, key[index] === "A" ? "B" : "A");
}

type Case = [name: string, headers: () => Record<string, string>, status: number, code: string];

const key = () => acme.secret;
const malformed = (name: string, authorization: () => string): Case => [name, () => ({ authorization: authorization() }), 401, "auth_malformed"];

const CASES: Case[] = [
  ["no Authorization header", () => ({}), 401, "auth_missing"],
  ["an empty Authorization header", () => ({ authorization: "" }), 401, "auth_missing"],
  ["the key in X-Api-Key", () => ({ "x-api-key": key() }), 401, "auth_missing"],
  ["the key in Proxy-Authorization", () => ({ "proxy-authorization": `Bearer ${key()}` }), 401, "auth_missing"],
  ["the key in a cookie", () => ({ cookie: `key=${key()}` }), 401, "auth_missing"],
  malformed("the scheme alone", () => "Bearer"),
  malformed("the scheme and a space", () => "Bearer "),
  malformed("Basic with the key", () => `Basic ${key()}`),
  malformed("Basic with base64 credentials", () => `Basic ${Buffer.from(`x:${key()}`).toString("base64")}`),
  malformed("Token scheme", () => `Token ${key()}`),
  malformed("ApiKey scheme", () => `ApiKey ${key()}`),
  malformed("the key without a scheme", () => key()),
  malformed("a tab between scheme and key", () => `Bearer\t${key()}`),
  malformed("no space between scheme and key", () => `Bearer${key()}`),
  malformed("a second word after the key", () => `Bearer ${key()} extra`),
  malformed("two keys", () => `Bearer ${key()} ${generateKey()}`),
  malformed("the key with a comma", () => `Bearer ${key()},`),
  malformed("the key twice, joined", () => `Bearer ${key()}${key()}`),
  malformed("the key in quotes", () => `Bearer "${key()}"`),
  malformed("the key URL-encoded after the scheme", () => `Bearer%20${key()}`),
  malformed("the key with a trailing tab", () => `Bearer ${key()}\t`),
  malformed("the display prefix only", () => `Bearer ${key().slice(0, 17)}`),
  malformed("the mode prefix only", () => "Bearer zpk_live_"),
  malformed("a live key's body and checksum under zpk_test_ (the checksum covers the mode)", () => `Bearer zpk_test_${key().slice(9)}`),
  malformed("an upper-case mode prefix", () => `Bearer ZPK_LIVE_${key().slice(9)}`),
  malformed("the key in lower case", () => `Bearer ${key().toLowerCase()}`),
  malformed("the key in upper case", () => `Bearer ${key().toUpperCase()}`),
  malformed("the key reversed", () => `Bearer ${[...key()].reverse().join("")}`),
  malformed("a zero-width space after the key", () => `Bearer ${key()}\u200b`),
  malformed("a look-alike Cyrillic a in the key", () => `Bearer ${replacedAt(key(), 20, "\u0430")}`),
  malformed("a full-width digit in the key", () => `Bearer ${replacedAt(key(), 30, "\uff11")}`),
  malformed("a 10 KB key", () => `Bearer ${"A".repeat(10 * 1024)}`),
  malformed("a 10 KB tail after a valid key", () => `Bearer ${key()}${"A".repeat(10 * 1024)}`),
  malformed("a JWT", () => "Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl"),
  malformed("SQL in place of the key", () => "Bearer ' OR '1'='1"),
  malformed("a path traversal in place of the key", () => "Bearer ../../etc/passwd"),
  ...[1, 8, 20, 40, KEY_LENGTH - 7].map((cut) => malformed(`the key truncated by ${cut}`, () => `Bearer ${key().slice(0, -cut)}`)),
  malformed("the key with one character more", () => `Bearer ${key()}A`),
  ...[9, 10, 20, 30, 40, 51, KEY_LENGTH - 6, KEY_LENGTH - 3, KEY_LENGTH - 1].map((index) =>
    malformed(`one character changed at ${index}`, () => `Bearer ${changedAt(key(), index)}`),
  ),
  ...Array.from({ length: 5 }, (_, index): Case => [
    `a well-formed key that matches no key (${index + 1})`,
    () => bearer(generateKey()),
    401,
    "auth_invalid",
  ]),
  ["a revoked key", () => bearer(revoked), 401, "auth_expired"],
  ["an expired key", () => bearer(expired), 401, "auth_expired"],
  ["a key bound to a deleted instance", () => bearer(orphaned), 401, "auth_expired"],
  ["a revoked key with another scheme case", () => ({ authorization: `bEaReR ${revoked}` }), 401, "auth_expired"],
];

const TABLES = ["api_keys", "audit_events", "webhook_deliveries"] as const;

describe("authentication matrix", () => {
  it("has at least 60 hostile cases", () => {
    expect(CASES.length).toBeGreaterThanOrEqual(60);
  });

  it.each(CASES.map((entry) => [`${entry[0]}: ${entry[2]} ${entry[3]}, nothing written`, entry] as const))("%s", async (_title, [, headers, status, code]) => {
    const before = await rowCounts(app.db, TABLES);
    const response = await app.inject({ method: "POST", url: "/v1/api-keys", headers: headers(), payload: { name: "never" } });
    const body = expectError(response, status, code);
    expect(JSON.stringify(body)).not.toContain(acme.secret);
    expect(response.headers["www-authenticate"]).toMatch(/^Bearer/);
    expect(await rowCounts(app.db, TABLES)).toEqual(before);
  });

  it("the accepted spellings are accepted: scheme in any case, several spaces, trailing spaces", async () => {
    for (const authorization of [`bearer ${key()}`, `BEARER ${key()}`, `Bearer   ${key()}`, `Bearer ${key()}   `]) {
      expect((await app.inject({ url: "/v1/limits", headers: { authorization } })).statusCode, authorization).toBe(200);
    }
  });
});
