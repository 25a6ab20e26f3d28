import type { LightMyRequestResponse } from "fastify";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ApiKey, IssuedApiKey } from "@whatisup/client";
import fastJsonStringify from "fast-json-stringify";
import Type from "typebox";
import { listActiveApiKeys } from "../src/api-keys/api-key-repository.js";
import { ApiKeySchema } from "../src/contract/api-key.js";
import { KeyDigester } from "../src/crypto/key-digest.js";
import { isWellFormedKey } from "../src/crypto/key-format.js";
import type { FieldProblem } from "../src/errors/app-error.js";
import type { App } from "../src/http/app-types.js";
import {
  API_KEY_FIELDS,
  bearer,
  buildTestApp,
  createInstance,
  createTestCustomer,
  expectError,
  ISSUED_API_KEY_FIELDS,
  issueKey,
  TEST_PEPPER,
  type TestCustomer,
  TIMESTAMP,
  UUID,
} from "./helpers/test-app.js";

/** The scopes of the contract (docs/api.md), written out here rather than imported. */
const DOCUMENTED_SCOPES = [
  "*",
  "api_keys:read",
  "api_keys:write",
  "instances:read",
  "instances:write",
  "messages:send",
  "messages:read",
  "webhooks:read",
  "webhooks:write",
  "deliveries:read",
  "audit:read",
];
const NIL_UUID = "00000000-0000-7000-8000-000000000000";


const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const inOneHour = () => new Date(Date.now() + 3_600_000).toISOString();
const inOneDay = () => new Date(Date.now() + 86_400_000).toISOString();

/** Every field of the ApiKey schema, present, of its documented type; nothing more. */
function expectApiKeyShape(key: Record<string, unknown>, fields = API_KEY_FIELDS): void {
  expect(Object.keys(key).sort()).toEqual(fields);
  expect(key.id).toMatch(UUID);
  expect(key.customer_id).toMatch(UUID);
  if (key.instance_id !== null) expect(key.instance_id).toMatch(UUID);
  expect(typeof key.name).toBe("string");
  expect(key.prefix).toMatch(/^zpk_live_[0-9A-Za-z]{8}$/);
  expect(Array.isArray(key.scopes)).toBe(true);
  for (const scope of key.scopes as unknown[]) expect(DOCUMENTED_SCOPES).toContain(scope);
  expect(key.created_at).toMatch(TIMESTAMP);
  for (const field of ["last_used_at", "expires_at", "revoked_at"]) {
    if (key[field] !== null) expect(key[field], field).toMatch(TIMESTAMP);
  }
}

/** The 400's `details.fields`, after checking that it is one. */
function validationProblems(response: LightMyRequestResponse): FieldProblem[] {
  const body = expectError(response, 400, "validation_failed");
  const fields = (body.error.details as { fields?: FieldProblem[] } | undefined)?.fields;
  expect(Array.isArray(fields), response.body).toBe(true);
  for (const problem of fields!) {
    expect(typeof problem.field).toBe("string");
    expect(typeof problem.message).toBe("string");
  }
  return fields!;
}

function expectValidationNaming(response: LightMyRequestResponse, field: string): FieldProblem {
  const problem = validationProblems(response).find((p) => p.field === field);
  expect(problem, `${field} in ${response.body}`).toBeDefined();
  return problem!;
}

describe("API keys", () => {
  let app: App;

  beforeAll(async () => {
    app = await buildTestApp({
      rateLimit: { burst: 10_000, refillPerSecond: 100 },
      authFailureLimit: { burst: 10_000, refillPerSecond: 100 },
    });
  });
  afterAll(() => app.close());

  let customerCount = 0;
  /** A customer of its own for each test, so that no test sees another's keys or events. */
  const newCustomer = () => createTestCustomer(app, `Customer ${++customerCount}`);

  const listKeys = (secret: string) => app.inject({ method: "GET", url: "/v1/api-keys", headers: bearer(secret) });
  const getKey = (secret: string, id: string) =>
    app.inject({ method: "GET", url: `/v1/api-keys/${id}`, headers: bearer(secret) });
  const postKey = (secret: string, payload: unknown) =>
    app.inject({ method: "POST", url: "/v1/api-keys", headers: bearer(secret), payload: payload as object });
  const revokeKey = (secret: string, id: string) =>
    app.inject({ method: "DELETE", url: `/v1/api-keys/${id}`, headers: bearer(secret) });

  async function auditEvents(secret: string): Promise<Array<Record<string, any>>> {
    const response = await app.inject({ method: "GET", url: "/v1/audit-events?limit=100", headers: bearer(secret) });
    expect(response.statusCode, response.body).toBe(200);
    return response.json().data;
  }

  async function revokedEventsFor(secret: string, keyId: string) {
    return (await auditEvents(secret)).filter((e) => e.action === "api_key.revoked" && e.target.id === keyId);
  }

  /** A key issued by the customer's `*` key with the given scopes. */
  const keyWithScopes = (owner: TestCustomer, scopes: string[]) => issueKey(app, owner.secret, { name: "scoped", scopes });

  describe("GET /v1/api-keys", () => {
    it("returns a JSON array of the customer's keys with every field, nulls included", async () => {
      const acme = await newCustomer();
      const response = await listKeys(acme.secret);
      expect(response.statusCode, response.body).toBe(200);
      expect(response.headers["content-type"]).toMatch(/^application\/json/);
      const keys = response.json();
      expect(Array.isArray(keys)).toBe(true);
      expect(keys).toHaveLength(1);
      const [first] = keys;
      expectApiKeyShape(first);
      expect(first).toEqual({
        id: acme.key.id,
        customer_id: acme.customer.id,
        instance_id: null,
        name: acme.key.name,
        prefix: acme.secret.slice(0, 17),
        mode: "live",
        scopes: ["*"],
        allowed_ips: null,
        last_used_at: null,
        expires_at: null,
        created_at: acme.key.created_at,
        revoked_at: null,
      });
    });

    it("lists active keys newest first", async () => {
      const acme = await newCustomer();
      const issued: IssuedApiKey[] = [];
      for (const name of ["one", "two", "three"]) issued.push(await issueKey(app, acme.secret, { name }));
      const expiring = await issueKey(app, acme.secret, { name: "expires later", expires_at: inOneDay() });

      const keys: ApiKey[] = (await listKeys(acme.secret)).json();
      expect(keys.map((k) => k.id)).toEqual([expiring.id, ...issued.map((k) => k.id).reverse(), acme.key.id]);
      for (const key of keys) expectApiKeyShape(key);
      const createdAt = keys.map((k) => k.created_at);
      expect([...createdAt].sort().reverse()).toEqual(createdAt);
      expect(keys[0]!.expires_at).toBe(expiring.expires_at);
    });

    it("pages when asked: limit and cursor, still a bare array, the next page in a Link header", async () => {
      const acme = await newCustomer();
      for (const name of ["one", "two", "three", "four"]) await issueKey(app, acme.secret, { name });
      const revoked = await issueKey(app, acme.secret, { name: "revoked" });
      expect((await revokeKey(acme.secret, revoked.id)).statusCode).toBe(204);
      const all: ApiKey[] = (await listKeys(acme.secret)).json();
      expect(all).toHaveLength(5);

      const seen: string[] = [];
      let url: string | null = "/v1/api-keys?limit=2";
      const pageSizes: number[] = [];
      while (url !== null) {
        const response = await app.inject({ url, headers: bearer(acme.secret) });
        expect(response.statusCode, response.body).toBe(200);
        const page: ApiKey[] = response.json();
        expect(Array.isArray(page)).toBe(true);
        for (const key of page) expectApiKeyShape(key);
        pageSizes.push(page.length);
        seen.push(...page.map((key) => key.id));
        const link = response.headers.link as string | undefined;
        const next = link === undefined ? null : /^<(\/v1\/api-keys\?limit=2&cursor=[A-Za-z0-9_-]+)>; rel="next"$/.exec(link);
        if (link !== undefined) expect(next, link).not.toBeNull();
        url = next ? next[1]! : null;
      }
      expect(pageSizes).toEqual([2, 2, 1]);
      expect(seen).toEqual(all.map((key) => key.id));

      const unpaged = await listKeys(acme.secret);
      expect(unpaged.headers.link).toBeUndefined();
      const onlyCursor = await app.inject({ url: `/v1/api-keys?cursor=${encodeURIComponent(seen[1]!)}`, headers: bearer(acme.secret) });
      expectError(onlyCursor, 400, "validation_failed");
      for (const limit of ["0", "101", "two"]) {
        expectError(await app.inject({ url: `/v1/api-keys?limit=${limit}`, headers: bearer(acme.secret) }), 400, "validation_failed");
      }
      expectError(await app.inject({ url: "/v1/api-keys?page=2", headers: bearer(acme.secret) }), 400, "validation_failed");
    });

    it("leaves out revoked keys and expired keys", async () => {
      const acme = await newCustomer();
      const kept = await issueKey(app, acme.secret, { name: "kept" });
      const revoked = await issueKey(app, acme.secret, { name: "revoked" });
      const expiresAt = new Date(Date.now() + 1_200).toISOString();
      const expired = await issueKey(app, acme.secret, { name: "expired", expires_at: expiresAt });
      expect((await revokeKey(acme.secret, revoked.id)).statusCode).toBe(204);

      const before: ApiKey[] = (await listKeys(acme.secret)).json();
      expect(before.map((k) => k.id)).toEqual([expired.id, kept.id, acme.key.id]);

      await sleep(Date.parse(expiresAt) - Date.now() + 100);

      const after: ApiKey[] = (await listKeys(acme.secret)).json();
      expect(after.map((k) => k.id)).toEqual([kept.id, acme.key.id]);
      for (const key of after) expect(key.revoked_at).toBeNull();
    });

    it("writes every key, whole list and page alike, exactly as the ApiKey schema's serializer would", async () => {
      const acme = await newCustomer();
      const instance = await createInstance(app, acme.secret);
      await issueKey(app, acme.secret, { name: 'quote " backslash \\ tab \t nul-free \u0001 </script> café 🔑', scopes: ["messages:send", "instances:read"] });
      await issueKey(app, acme.secret, { name: "bound", instance_id: instance.id, allowed_ips: ["203.0.113.0/24", "2001:db8::1"] });
      await issueKey(app, acme.secret, { name: "expiring", expires_at: inOneDay() });
      // The list itself is a use of acme's key: once flushed, its last_used_at is set.
      expect((await listKeys(acme.secret)).statusCode).toBe(200);
      await app.keyUses.flush();

      const serialize = fastJsonStringify(Type.Array(ApiKeySchema) as never);
      for (const url of ["/v1/api-keys", "/v1/api-keys?limit=3", "/v1/api-keys?limit=100"]) {
        const response = await app.inject({ url, headers: bearer(acme.secret) });
        expect(response.statusCode, response.body).toBe(200);
        expect(response.headers["content-type"]).toBe("application/json; charset=utf-8");
        const keys: ApiKey[] = response.json();
        expect(keys.length).toBe(url.endsWith("=3") ? 3 : 4);
        expect(keys.some((key) => key.last_used_at !== null)).toBe(url.endsWith("=3") ? false : true);
        expect(response.body).toBe(serialize(keys));
      }
    });

    it("lists every key of a customer with more than one read's worth (250): each once, newest first, a turn of the event loop between reads", async () => {
      const acme = await newCustomer();
      for (let index = 0; index < 600; index += 1) await issueKey(app, acme.secret, { name: `key ${index}` });

      const reads: string[] = [];
      const readsCounted = app.db.withPlugin({
        transformQuery: ({ node }) => {
          if (node.kind === "SelectQueryNode") reads.push("read");
          return node;
        },
        transformResult: async ({ result }) => result,
      });
      setImmediate(() => reads.push("turn"));
      const keys = await listActiveApiKeys(readsCounted, acme.customer.id, new Date().toISOString());
      expect(reads.filter((read) => read === "read")).toHaveLength(3);
      // SQLite answers within the call: only the list's own pause lets the turn come before its second read.
      expect(reads.slice(0, 2)).toEqual(["read", "turn"]);

      const answered: ApiKey[] = (await listKeys(acme.secret)).json();
      expect(answered).toHaveLength(601);
      expect(new Set(answered.map((key) => key.id)).size).toBe(601);
      expect(answered.map((key) => key.id)).toEqual(keys.map((key) => key.id));
      const paged: ApiKey[] = [];
      for (let url: string | undefined = "/v1/api-keys?limit=100"; url !== undefined; ) {
        const page: LightMyRequestResponse = await app.inject({ url, headers: bearer(acme.secret) });
        paged.push(...(page.json() as ApiKey[]));
        url = /<([^>]+)>; rel="next"/.exec(page.headers.link?.toString() ?? "")?.[1];
      }
      expect(answered.map((key) => key.id)).toEqual(paged.map((key) => key.id));
      expect(answered.at(-1)!.id).toBe(acme.key.id);
    });

    it("never shows a secret or a digest", async () => {
      const acme = await newCustomer();
      const other = await issueKey(app, acme.secret, { name: "other" });
      const response = await listKeys(acme.secret);
      expect(response.statusCode).toBe(200);
      expect(response.body).not.toMatch(/secret|digest/i);
      for (const secret of [acme.secret, other.secret]) {
        expect(response.body).not.toContain(secret);
        expect(response.body).not.toContain(secret.slice(17));
        expect(response.body).not.toContain(new KeyDigester(TEST_PEPPER).digest(secret));
      }
    });

    it("never shows another customer's keys", async () => {
      const acme = await newCustomer();
      const globex = await newCustomer();
      const globexKey = await issueKey(app, globex.secret, { name: "globex only" });

      const acmeKeys: ApiKey[] = (await listKeys(acme.secret)).json();
      expect(acmeKeys.map((k) => k.id)).toEqual([acme.key.id]);
      expect(acmeKeys.every((k) => k.customer_id === acme.customer.id)).toBe(true);

      const globexKeys: ApiKey[] = (await listKeys(globex.secret)).json();
      expect(globexKeys.map((k) => k.id)).toEqual([globexKey.id, globex.key.id]);
    });
  });

  describe("GET /v1/api-keys/:id", () => {
    it("returns one key's metadata", async () => {
      const acme = await newCustomer();
      const issued = await issueKey(app, acme.secret, { name: "one", scopes: ["api_keys:read"] });
      const response = await getKey(acme.secret, issued.id);
      expect(response.statusCode, response.body).toBe(200);
      const key = response.json();
      expectApiKeyShape(key);
      const { secret, ...metadata } = issued;
      expect(key).toEqual(metadata);
      expect(response.body).not.toContain(secret);
    });

    it("returns a revoked key, with revoked_at set", async () => {
      const acme = await newCustomer();
      const issued = await issueKey(app, acme.secret, { name: "to revoke" });
      const before = Date.now();
      expect((await revokeKey(acme.secret, issued.id)).statusCode).toBe(204);

      const response = await getKey(acme.secret, issued.id);
      expect(response.statusCode, response.body).toBe(200);
      const key = response.json();
      expectApiKeyShape(key);
      expect(key.revoked_at).toMatch(TIMESTAMP);
      expect(Date.parse(key.revoked_at)).toBeGreaterThanOrEqual(before - 5);
      expect(Date.parse(key.revoked_at)).toBeLessThanOrEqual(Date.now());
    });

    it("returns an expired key", async () => {
      const acme = await newCustomer();
      const expiresAt = new Date(Date.now() + 1_000).toISOString();
      const issued = await issueKey(app, acme.secret, { name: "expiring", expires_at: expiresAt });
      await sleep(Date.parse(expiresAt) - Date.now() + 100);

      const response = await getKey(acme.secret, issued.id);
      expect(response.statusCode, response.body).toBe(200);
      expect(response.json()).toMatchObject({ id: issued.id, expires_at: expiresAt, revoked_at: null });
    });

    it("answers another customer's key with 404 api_key_not_found", async () => {
      const acme = await newCustomer();
      const globex = await newCustomer();
      const response = await getKey(acme.secret, globex.key.id);
      const body = expectError(response, 404, "api_key_not_found");
      expect(response.body).not.toContain(globex.customer.id);
      expect(body.error.message).not.toContain(globex.key.prefix);
    });

    it("answers an unknown id with 404 api_key_not_found", async () => {
      const acme = await newCustomer();
      expectError(await getKey(acme.secret, NIL_UUID), 404, "api_key_not_found");
    });

    it("finds a key by its id written in upper case (UUIDs are case-insensitive)", async () => {
      const acme = await newCustomer();
      const response = await getKey(acme.secret, acme.key.id.toUpperCase());
      expect(response.statusCode, response.body).toBe(200);
      expect(response.json().id).toBe(acme.key.id);
    });

    it("answers a very long id (600 characters) in the error envelope, as 400 validation_failed", async () => {
      const acme = await newCustomer();
      expectValidationNaming(await getKey(acme.secret, "a".repeat(600)), "params.id");
    });

    it("answers an id that is not a UUID with 400 validation_failed naming params.id", async () => {
      const acme = await newCustomer();
      for (const id of ["not-a-uuid", "123", `${acme.key.id}x`]) {
        expectValidationNaming(await getKey(acme.secret, id), "params.id");
      }
    });
  });

  describe("POST /v1/api-keys", () => {
    it("answers 201 with the IssuedApiKey, its secret, and Cache-Control: no-store", async () => {
      const acme = await newCustomer();
      const response = await postKey(acme.secret, { name: "app-2026-q2" });
      expect(response.statusCode, response.body).toBe(201);
      expect(response.headers["cache-control"]).toBe("no-store");
      expect(response.headers["content-type"]).toMatch(/^application\/json/);
      const issued = response.json();
      expectApiKeyShape(issued, ISSUED_API_KEY_FIELDS);
      expect(issued).toMatchObject({
        customer_id: acme.customer.id,
        instance_id: null,
        name: "app-2026-q2",
        mode: "live",
        scopes: ["*"],
        allowed_ips: null,
        last_used_at: null,
        expires_at: null,
        revoked_at: null,
      });
      expect(issued.secret).toHaveLength(58);
      expect(isWellFormedKey(issued.secret)).toBe(true);
      expect(issued.prefix).toBe(issued.secret.slice(0, 17));
      expect(Math.abs(Date.parse(issued.created_at) - Date.now())).toBeLessThan(5_000);
    });

    it("issues a secret that authenticates as the new key", async () => {
      const acme = await newCustomer();
      const issued = await issueKey(app, acme.secret, { name: "new" });
      const response = await listKeys(issued.secret);
      expect(response.statusCode, response.body).toBe(200);
      const ids = (response.json() as ApiKey[]).map((k) => k.id);
      expect(ids).toEqual([issued.id, acme.key.id]);

      // Revoking through the new key's own audit trail proves the request ran as that key.
      expect((await revokeKey(issued.secret, acme.key.id)).statusCode).toBe(204);
      const [event] = await revokedEventsFor(issued.secret, acme.key.id);
      expect(event?.actor).toEqual({ type: "api_key", id: issued.id, prefix: issued.prefix });
    });

    it("issues a different secret every time", async () => {
      const acme = await newCustomer();
      const first = await issueKey(app, acme.secret, { name: "same name" });
      const second = await issueKey(app, acme.secret, { name: "same name" });
      expect(second.id).not.toBe(first.id);
      expect(second.secret).not.toBe(first.secret);
    });

    it("stores only a digest: no column of the database holds the secret", async () => {
      const acme = await newCustomer();
      const issued = await issueKey(app, acme.secret, { name: "stored" });
      const tail = issued.secret.slice(9);

      const rows = await app.db.selectFrom("api_keys").selectAll().execute();
      const row = rows.find((r) => r.id === issued.id);
      expect(row).toBeDefined();
      expect(row!.digest).not.toBe(issued.secret);
      expect(row!.digest).toMatch(/^[0-9a-f]{64}$/);
      expect(row!.digest).toBe(new KeyDigester(TEST_PEPPER).digest(issued.secret));
      expect(row!.prefix).toBe(issued.prefix);
      for (const stored of rows) {
        for (const [column, value] of Object.entries(stored)) {
          expect(String(value), `api_keys.${column}`).not.toContain(tail);
        }
      }
      const events = await app.db.selectFrom("audit_events").selectAll().execute();
      expect(JSON.stringify(events)).not.toContain(tail);
    });

    it("records an api_key.issued audit event by the issuing key, without the secret", async () => {
      const acme = await newCustomer();
      const issued = await issueKey(app, acme.secret, { name: "audited" });
      const events = (await auditEvents(acme.secret)).filter(
        (e) => e.action === "api_key.issued" && e.target.id === issued.id,
      );
      expect(events).toHaveLength(1);
      expect(events[0]!.actor).toEqual({ type: "api_key", id: acme.key.id, prefix: acme.key.prefix });
      expect(events[0]!.target).toEqual({ type: "api_key", id: issued.id });
      expect(JSON.stringify(events)).not.toContain(issued.secret.slice(9));
    });

    describe("scopes", () => {
      it("inherits the issuer's scopes when scopes is omitted", async () => {
        const acme = await newCustomer();
        expect((await issueKey(app, acme.secret, { name: "from *" })).scopes).toEqual(["*"]);

        const scopes = ["api_keys:read", "api_keys:write", "instances:read"];
        const issuer = await keyWithScopes(acme, scopes);
        const child = await issueKey(app, issuer.secret, { name: "inherits" });
        expect([...child.scopes].sort()).toEqual([...scopes].sort());
      });

      it("grants a subset of the issuer's scopes, and only that subset", async () => {
        const acme = await newCustomer();
        const issuer = await keyWithScopes(acme, ["api_keys:read", "api_keys:write"]);
        const child = await issueKey(app, issuer.secret, { name: "reader", scopes: ["api_keys:read"] });
        expect(child.scopes).toEqual(["api_keys:read"]);
        expect((await listKeys(child.secret)).statusCode).toBe(200);
        expectError(await postKey(child.secret, { name: "x" }), 403, "insufficient_scope");
      });

      it("lets a * key grant any documented scope", async () => {
        const acme = await newCustomer();
        const scopes = DOCUMENTED_SCOPES.filter((s) => s !== "*");
        const child = await issueKey(app, acme.secret, { name: "all named", scopes });
        expect([...child.scopes].sort()).toEqual([...scopes].sort());
      });

      it("answers an unknown scope with 400 validation_failed listing the allowed scopes", async () => {
        const acme = await newCustomer();
        const response = await postKey(acme.secret, { name: "bad scope", scopes: ["api_keys:read", "keys:everything"] });
        const problem = expectValidationNaming(response, "body.scopes.1");
        expect(problem.allowed).toBeDefined();
        expect([...(problem.allowed as string[])].sort()).toEqual([...DOCUMENTED_SCOPES].sort());
      });

      it("answers scopes that are not an array of strings with 400", async () => {
        const acme = await newCustomer();
        expectValidationNaming(await postKey(acme.secret, { name: "x", scopes: "*" }), "body.scopes");
        expectValidationNaming(await postKey(acme.secret, { name: "x", scopes: [1] }), "body.scopes.0");
      });

      it.each([
        ["a scope it does not hold", ["instances:read"]],
        ["*", ["*"]],
        ["a held scope together with one it does not hold", ["api_keys:read", "messages:send"]],
      ])("refuses an issuer asking for %s with 403 scope_escalation", async (_label, scopes) => {
        const acme = await newCustomer();
        const issuer = await keyWithScopes(acme, ["api_keys:read", "api_keys:write"]);
        const response = await postKey(issuer.secret, { name: "stronger", scopes });
        expectError(response, 403, "scope_escalation");
        // Nothing was issued.
        const keys: ApiKey[] = (await listKeys(acme.secret)).json();
        expect(keys.map((k) => k.id)).toEqual([issuer.id, acme.key.id]);
      });
    });

    describe("expiry", () => {
      it("leaves expires_at null when neither the body nor the issuer sets one", async () => {
        const acme = await newCustomer();
        expect((await issueKey(app, acme.secret, { name: "forever" })).expires_at).toBeNull();
        expect((await issueKey(app, acme.secret, { name: "forever", expires_at: null })).expires_at).toBeNull();
      });

      it("stores a future expires_at as UTC with milliseconds", async () => {
        const acme = await newCustomer();
        const issued = await issueKey(app, acme.secret, { name: "offset", expires_at: "2099-01-01T12:00:00+02:00" });
        expect(issued.expires_at).toBe("2099-01-01T10:00:00.000Z");
        const fetched = (await getKey(acme.secret, issued.id)).json();
        expect(fetched.expires_at).toBe("2099-01-01T10:00:00.000Z");
      });

      it.each(["tomorrow", "31/12/2099", "2099-13-01T00:00:00Z", "", 4102444800])(
        "answers an expires_at that is not ISO 8601 (%j) with 400 naming body.expires_at",
        async (expiresAt) => {
          const acme = await newCustomer();
          expectValidationNaming(await postKey(acme.secret, { name: "x", expires_at: expiresAt }), "body.expires_at");
        },
      );

      it("answers an expires_at in the past with 400 validation_failed naming body.expires_at", async () => {
        const acme = await newCustomer();
        for (const past of ["2020-01-01T00:00:00.000Z", new Date(Date.now() - 1_000).toISOString()]) {
          expectValidationNaming(await postKey(acme.secret, { name: "x", expires_at: past }), "body.expires_at");
        }
      });

      it("answers a leap-second expires_at (valid RFC 3339) without a 500", async () => {
        const acme = await newCustomer();
        const response = await postKey(acme.secret, { name: "leap", expires_at: "2099-12-31T23:59:60Z" });
        if (response.statusCode === 201) {
          expect(response.json().expires_at).toBe("2100-01-01T00:00:00.000Z");
        } else {
          expectValidationNaming(response, "body.expires_at");
        }
      });

      it("gives a key issued by an expiring issuer, without expires_at, the issuer's expiry", async () => {
        const acme = await newCustomer();
        const issuer = await issueKey(app, acme.secret, { name: "expiring issuer", expires_at: inOneHour() });
        const child = await issueKey(app, issuer.secret, { name: "child" });
        expect(child.expires_at).toBe(issuer.expires_at);
      });

      it("lets an expiring issuer issue a key that expires sooner", async () => {
        const acme = await newCustomer();
        const issuer = await issueKey(app, acme.secret, { name: "expiring issuer", expires_at: inOneDay() });
        const sooner = inOneHour();
        const child = await issueKey(app, issuer.secret, { name: "child", expires_at: sooner });
        expect(child.expires_at).toBe(sooner);
      });

      it("refuses a key that would outlive its expiring issuer with 403 scope_escalation", async () => {
        const acme = await newCustomer();
        const issuer = await issueKey(app, acme.secret, { name: "expiring issuer", expires_at: inOneHour() });
        expectError(await postKey(issuer.secret, { name: "later", expires_at: inOneDay() }), 403, "scope_escalation");
        expectError(await postKey(issuer.secret, { name: "never", expires_at: null }), 403, "scope_escalation");
        const keys: ApiKey[] = (await listKeys(acme.secret)).json();
        expect(keys.map((k) => k.id)).toEqual([issuer.id, acme.key.id]);
      });
    });

    describe("instance binding", () => {
      it("binds the key to one of the customer's instances", async () => {
        const acme = await newCustomer();
        const instance = await createInstance(app, acme.secret);
        const bound = await issueKey(app, acme.secret, { name: "bound", instance_id: instance.id });
        expect(bound.instance_id).toBe(instance.id);
        expect((await getKey(acme.secret, bound.id)).json().instance_id).toBe(instance.id);
      });

      it("answers another customer's instance with 404 instance_not_found", async () => {
        const acme = await newCustomer();
        const globex = await newCustomer();
        const theirs = await createInstance(app, globex.secret);
        expectError(await postKey(acme.secret, { name: "x", instance_id: theirs.id }), 404, "instance_not_found");
        const keys: ApiKey[] = (await listKeys(acme.secret)).json();
        expect(keys).toHaveLength(1);
      });

      it("answers an unknown instance with 404 instance_not_found", async () => {
        const acme = await newCustomer();
        expectError(await postKey(acme.secret, { name: "x", instance_id: NIL_UUID }), 404, "instance_not_found");
      });

      it("answers an instance_id that is not a UUID with 400 naming body.instance_id", async () => {
        const acme = await newCustomer();
        expectValidationNaming(await postKey(acme.secret, { name: "x", instance_id: "main" }), "body.instance_id");
      });
    });

    describe("validation", () => {
      it("answers an unknown field with 400 naming it", async () => {
        const acme = await newCustomer();
        const problem = expectValidationNaming(await postKey(acme.secret, { name: "x", secret: "mine" }), "body.secret");
        expect(problem.message.length).toBeGreaterThan(0);
      });

      it("answers a missing name with 400 naming body.name", async () => {
        const acme = await newCustomer();
        expectValidationNaming(await postKey(acme.secret, {}), "body.name");
      });

      it.each([
        ["empty", ""],
        ["of 201 characters", "n".repeat(201)],
        ["a number", 42],
        ["null", null],
      ])("answers a name that is %s with 400 naming body.name", async (_label, name) => {
        const acme = await newCustomer();
        expectValidationNaming(await postKey(acme.secret, { name }), "body.name");
      });

      it("accepts a name of exactly 200 characters", async () => {
        const acme = await newCustomer();
        const issued = await issueKey(app, acme.secret, { name: "n".repeat(200) });
        expect(issued.name).toHaveLength(200);
      });

      it.each([
        ["bad JSON", '{"name":'],
        ["an empty body", ""],
      ])("answers %s with 400 validation_failed", async (_label, payload) => {
        const acme = await newCustomer();
        const response = await app.inject({
          method: "POST",
          url: "/v1/api-keys",
          headers: { ...bearer(acme.secret), "content-type": "application/json" },
          payload,
        });
        validationProblems(response);
      });

      it.each([
        ["a JSON array", "[]"],
        ["JSON null", "null"],
        ["a JSON string", '"name"'],
      ])("answers a body that is %s with 400 validation_failed", async (_label, payload) => {
        const acme = await newCustomer();
        const response = await app.inject({
          method: "POST",
          url: "/v1/api-keys",
          headers: { ...bearer(acme.secret), "content-type": "application/json" },
          payload,
        });
        validationProblems(response);
      });

      it.each(["text/plain", "application/x-www-form-urlencoded", "application/xml"])(
        "answers Content-Type %s with 415 unsupported_media_type",
        async (contentType) => {
          const acme = await newCustomer();
          const response = await app.inject({
            method: "POST",
            url: "/v1/api-keys",
            headers: { ...bearer(acme.secret), "content-type": contentType },
            payload: contentType === "text/plain" ? '{"name":"x"}' : "name=x",
          });
          expectError(response, 415, "unsupported_media_type");
          const keys: ApiKey[] = (await listKeys(acme.secret)).json();
          expect(keys).toHaveLength(1);
        },
      );

      it("reads a body of exactly 64 KiB (and refuses its too-long name), but not one byte more", async () => {
        const acme = await newCustomer();
        const bodyOfBytes = (bytes: number) => `{"name":"${"x".repeat(bytes - '{"name":""}'.length)}"}`;
        const post = (payload: string) =>
          app.inject({
            method: "POST",
            url: "/v1/api-keys",
            headers: { ...bearer(acme.secret), "content-type": "application/json" },
            payload,
          });
        expectValidationNaming(await post(bodyOfBytes(64 * 1024)), "body.name");
        expectError(await post(bodyOfBytes(64 * 1024 + 1)), 413, "payload_too_large");
      });

      it("answers a body over 64 KiB with 413 payload_too_large", async () => {
        const acme = await newCustomer();
        const response = await postKey(acme.secret, { name: "x".repeat(65 * 1024) });
        expectError(response, 413, "payload_too_large");
      });
    });
  });

  describe("DELETE /v1/api-keys/:id", () => {
    it("answers 204 with an empty body and sets revoked_at", async () => {
      const acme = await newCustomer();
      const issued = await issueKey(app, acme.secret, { name: "to revoke" });
      const response = await revokeKey(acme.secret, issued.id);
      expect(response.statusCode).toBe(204);
      expect(response.body).toBe("");

      const key = (await getKey(acme.secret, issued.id)).json();
      expect(key.revoked_at).toMatch(TIMESTAMP);
      const row = await app.db.selectFrom("api_keys").select("revoked_at").where("id", "=", issued.id).executeTakeFirst();
      expect(row?.revoked_at).toBe(key.revoked_at);
    });

    it("records one api_key.revoked audit event with the revoking key as actor", async () => {
      const acme = await newCustomer();
      const issued = await issueKey(app, acme.secret, { name: "to revoke" });
      expect((await revokeKey(acme.secret, issued.id)).statusCode).toBe(204);

      const events = await revokedEventsFor(acme.secret, issued.id);
      expect(events).toHaveLength(1);
      expect(events[0]).toMatchObject({
        customer_id: acme.customer.id,
        action: "api_key.revoked",
        actor: { type: "api_key", id: acme.key.id, prefix: acme.key.prefix },
        target: { type: "api_key", id: issued.id },
      });
      expect(events[0]!.request_id).toMatch(/^req_/);
      expect(events[0]!.created_at).toMatch(TIMESTAMP);
    });

    it("answers a second DELETE with 204 again, without a second audit event or a new revoked_at", async () => {
      const acme = await newCustomer();
      const issued = await issueKey(app, acme.secret, { name: "revoked twice" });
      expect((await revokeKey(acme.secret, issued.id)).statusCode).toBe(204);
      const firstRevokedAt = (await getKey(acme.secret, issued.id)).json().revoked_at;
      await sleep(5);

      const again = await revokeKey(acme.secret, issued.id);
      expect(again.statusCode).toBe(204);
      expect(again.body).toBe("");

      expect(await revokedEventsFor(acme.secret, issued.id)).toHaveLength(1);
      expect((await getKey(acme.secret, issued.id)).json().revoked_at).toBe(firstRevokedAt);
    });

    it("revokes a key named by its id in upper case (UUIDs are case-insensitive)", async () => {
      const acme = await newCustomer();
      const issued = await issueKey(app, acme.secret, { name: "upper" });
      const response = await revokeKey(acme.secret, issued.id.toUpperCase());
      expect(response.statusCode, response.body).toBe(204);
      expectError(await listKeys(issued.secret), 401, "auth_expired");
      const events = await revokedEventsFor(acme.secret, issued.id);
      expect(events).toHaveLength(1);
    });

    it("answers an unknown id with 404 api_key_not_found", async () => {
      const acme = await newCustomer();
      expectError(await revokeKey(acme.secret, NIL_UUID), 404, "api_key_not_found");
    });

    it("answers another customer's key with 404 api_key_not_found and leaves it working", async () => {
      const acme = await newCustomer();
      const globex = await newCustomer();
      expectError(await revokeKey(acme.secret, globex.key.id), 404, "api_key_not_found");

      expect((await listKeys(globex.secret)).statusCode).toBe(200);
      expect((await getKey(globex.secret, globex.key.id)).json().revoked_at).toBeNull();
      expect(await revokedEventsFor(globex.secret, globex.key.id)).toHaveLength(0);
    });

    it("answers an id that is not a UUID with 400 validation_failed naming params.id", async () => {
      const acme = await newCustomer();
      expectValidationNaming(await revokeKey(acme.secret, "not-a-uuid"), "params.id");
    });
  });

  describe("keys cannot be changed", () => {
    it.each(["PATCH", "PUT"] as const)("answers %s /v1/api-keys/:id with 405 method_not_allowed and Allow", async (method) => {
      const acme = await newCustomer();
      const response = await app.inject({
        method,
        url: `/v1/api-keys/${acme.key.id}`,
        headers: bearer(acme.secret),
        payload: { name: "renamed", instance_id: NIL_UUID },
      });
      expectError(response, 405, "method_not_allowed");
      const allow = String(response.headers.allow).split(/,\s*/).sort();
      expect(allow).toEqual(["DELETE", "GET"]);

      const key = (await getKey(acme.secret, acme.key.id)).json();
      expect(key.name).toBe(acme.key.name);
      expect(key.instance_id).toBeNull();
    });

    it.each(["PATCH", "PUT", "DELETE"] as const)("answers %s /v1/api-keys with 405 and Allow: GET, POST", async (method) => {
      const acme = await newCustomer();
      const response = await app.inject({ method, url: "/v1/api-keys", headers: bearer(acme.secret) });
      expectError(response, 405, "method_not_allowed");
      expect(String(response.headers.allow).split(/,\s*/).sort()).toEqual(["GET", "POST"]);
    });
  });

  describe("authorization", () => {
    it("changes nothing for a key without api_keys:write: the refused POST issues nothing, the refused DELETE revokes nothing", async () => {
      const acme = await newCustomer();
      const reader = await keyWithScopes(acme, ["api_keys:read"]);

      expectError(await postKey(reader.secret, { name: "x" }), 403, "insufficient_scope");
      expectError(await revokeKey(reader.secret, acme.key.id), 403, "insufficient_scope");

      expect((await getKey(acme.secret, acme.key.id)).json().revoked_at).toBeNull();
      const keys: ApiKey[] = (await listKeys(acme.secret)).json();
      expect(keys.map((k) => k.id)).toEqual([reader.id, acme.key.id]);
    });

    it("checks the scope before the body: an invalid body from a key without the scope is 403", async () => {
      const acme = await newCustomer();
      const reader = await keyWithScopes(acme, ["api_keys:read"]);
      expectError(await postKey(reader.secret, { name: "", bogus: 1 }), 403, "insufficient_scope");
    });

    it("changes nothing for an instance-bound key: its refused POST and DELETE (403 instance_scoped_key) issue and revoke nothing", async () => {
      const acme = await newCustomer();
      const instance = await createInstance(app, acme.secret);
      const bound = await issueKey(app, acme.secret, { name: "bound", instance_id: instance.id });
      expect(bound.scopes).toEqual(["*"]);

      expectError(await postKey(bound.secret, { name: "from bound", instance_id: instance.id }), 403, "instance_scoped_key");
      expectError(await revokeKey(bound.secret, bound.id), 403, "instance_scoped_key");

      // The bound key was not revoked by its own refused DELETE, and nothing was issued.
      expect((await getKey(acme.secret, bound.id)).json().revoked_at).toBeNull();
      const keys: ApiKey[] = (await listKeys(acme.secret)).json();
      expect(keys.map((k) => k.id)).toEqual([bound.id, acme.key.id]);
    });
  });
});
