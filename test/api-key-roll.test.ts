import type { LightMyRequestResponse } from "fastify";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { CLI_ACTOR } from "../src/audit/actor.js";
import type { ApiKey, IssuedApiKey } from "@whatisup/client";
import type { Config } from "../src/config.js";
import type { App } from "../src/http/app-types.js";
import { storeNewKey, type NewKeySettings } from "../src/use-cases/issue-api-key.js";
import {
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
  writerOn,
} from "./helpers/test-app.js";
import { persistentDatabase, removeDatabase, rowCounts, TEST_DIALECT } from "./helpers/test-database.js";

/** The rows a refused roll must leave as they were. */
const TABLES = ["api_keys", "audit_events", "webhook_deliveries"] as const;
const NIL_UUID = "00000000-0000-7000-8000-000000000000";

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const inOneDay = () => new Date(Date.now() + 86_400_000).toISOString();

type Envelope = { event: string; data: { api_key: ApiKey } };
type AuditRow = { action: string; actor: { id?: string }; target: { type: string; id: string }; metadata: Record<string, unknown> };

const settings: Partial<Config> = {
  rateLimit: { burst: 100_000, refillPerSecond: 1 },
  // Deliveries are written but never attempted: the test reads them as the outbox wrote them.
  webhooks: { allowLoopback: true, retryDelaysMs: [3_600_000], attemptTimeoutMs: 1000 },
  workerPollMs: 3_600_000,
};

function roll(app: App, secret: string, id: string, payload?: unknown): Promise<LightMyRequestResponse> {
  return app.inject({
    method: "POST",
    url: `/v1/api-keys/${id}/roll`,
    headers: bearer(secret),
    ...(payload === undefined ? {} : { payload: payload as object }),
  });
}

function getKey(app: App, secret: string, id: string): Promise<ApiKey> {
  return app.inject({ url: `/v1/api-keys/${id}`, headers: bearer(secret) }).then((response) => {
    expect(response.statusCode, response.body).toBe(200);
    return response.json() as ApiKey;
  });
}

/** A request any valid key may make: whether the key works. */
function use(app: App, secret: string): Promise<LightMyRequestResponse> {
  return app.inject({ url: "/v1/limits", headers: bearer(secret) });
}

/** A key made directly, for settings the issue route may not offer (a test key, an address list). */
async function storeKey(app: App, customerId: string, key: Partial<NewKeySettings>): Promise<IssuedApiKey> {
  const settings: NewKeySettings = { name: "stored", instanceId: null, mode: "live", scopes: ["*"], allowedIps: null, expiresAt: null, ...key };
  return writerOn(app.db, TEST_PEPPER)(CLI_ACTOR, (write, actor) => storeNewKey(write, actor, customerId, settings, null));
}

async function auditOf(app: App, secret: string): Promise<AuditRow[]> {
  const response = await app.inject({ url: "/v1/audit-events?limit=100", headers: bearer(secret) });
  expect(response.statusCode, response.body).toBe(200);
  return (response.json() as { data: AuditRow[] }).data;
}

describe("POST /v1/api-keys/:id/roll", () => {
  let app: App;
  let acme: TestCustomer;
  let endpointId: string;

  beforeAll(async () => {
    app = await buildTestApp(settings);
  });
  afterAll(() => app.close());

  beforeEach(async () => {
    acme = await createTestCustomer(app, "Acme");
    const endpoint = await app.inject({
      method: "POST",
      url: "/v1/webhook-endpoints",
      headers: bearer(acme.secret),
      payload: { url: "http://127.0.0.1:9/hooks", events: ["api_key.issued", "api_key.revoked"] },
    });
    expect(endpoint.statusCode, endpoint.body).toBe(201);
    endpointId = endpoint.json().id;
  });

  async function events(): Promise<Envelope[]> {
    const rows = await app.db
      .selectFrom("webhook_deliveries")
      .select("payload")
      .where("endpoint_id", "=", endpointId)
      .orderBy("created_at")
      .orderBy("id")
      .execute();
    return rows.map((row) => (typeof row.payload === "string" ? JSON.parse(row.payload) : row.payload) as Envelope);
  }

  function counts() {
    return rowCounts(app.db, TABLES, acme.customer.id);
  }

  /** The refusal, and the same rows before and after it: it changed nothing. */
  async function expectRefused(response: Promise<LightMyRequestResponse>, status: number, code: string) {
    const before = await counts();
    const body = expectError(await response, status, code);
    expect(await counts()).toEqual(before);
    return body;
  }

  it("is documented in the OpenAPI document with an optional body", async () => {
    const document = (await app.inject({ url: "/openapi.json" })).json();
    const operation = document.paths["/v1/api-keys/{id}/roll"].post;
    expect(operation.requestBody.required).toBe(false);
    expect(operation.requestBody.content["application/json"].schema.properties.expires_in_seconds).toMatchObject({ type: "integer", minimum: 0, maximum: 604_800 });
    expect(operation["x-required-scope"]).toBe("api_keys:write");
    expect(Object.keys(operation.responses).sort()).toEqual(expect.arrayContaining(["201", "400", "401", "403", "404", "409"]));
  });

  describe("with no overlap", () => {
    it("answers 201 with a new key of the same settings, and the old key is refused on the very next request", async () => {
      const instance = await createInstance(app, acme.secret);
      const expiresAt = inOneDay();
      const old = await issueKey(app, acme.secret, { name: "ci", scopes: ["messages:send", "instances:read"], instance_id: instance.id, expires_at: expiresAt });
      expect((await use(app, old.secret)).statusCode).toBe(200);

      const response = await roll(app, acme.secret, old.id);
      expect(response.statusCode, response.body).toBe(201);
      expect(response.headers["cache-control"]).toBe("no-store");
      const fresh = response.json() as IssuedApiKey;
      expect(Object.keys(fresh).sort()).toEqual(ISSUED_API_KEY_FIELDS);
      expect(fresh.id).toMatch(UUID);
      expect(fresh.id).not.toBe(old.id);
      expect(fresh.secret).not.toBe(old.secret);
      expect(fresh.secret.startsWith(fresh.prefix)).toBe(true);
      expect(fresh.created_at).toMatch(TIMESTAMP);
      expect({ ...fresh, id: old.id, prefix: old.prefix, secret: old.secret, created_at: old.created_at }).toEqual(old);
      expect(fresh).toMatchObject({ name: "ci", instance_id: instance.id, expires_at: old.expires_at, mode: "live", revoked_at: null, last_used_at: null });

      expectError(await use(app, old.secret), 401, "auth_expired");
      expect((await use(app, fresh.secret)).statusCode).toBe(200);
      const stored = await getKey(app, acme.secret, old.id);
      expect(stored.revoked_at).toMatch(TIMESTAMP);
      expect(stored.expires_at).toBe(old.expires_at);
    });

    it("treats an empty JSON body, and an explicit 0, as no body", async () => {
      for (const payload of [{}, { expires_in_seconds: 0 }]) {
        const old = await issueKey(app, acme.secret, { name: "ci" });
        const response = await roll(app, acme.secret, old.id, payload);
        expect(response.statusCode, response.body).toBe(201);
        expectError(await use(app, old.secret), 401, "auth_expired");
      }
      // An empty body sent as application/json counts as no body (docs/api.md, "Conventions").
      const old = await issueKey(app, acme.secret, { name: "ci" });
      const response = await app.inject({
        method: "POST",
        url: `/v1/api-keys/${old.id}/roll`,
        headers: { ...bearer(acme.secret), "content-type": "application/json" },
        payload: "",
      });
      expect(response.statusCode, response.body).toBe(201);
    });

    it("audits api_key.revoked, api_key.issued and api_key.rolled, and emits api_key.revoked and api_key.issued", async () => {
      const old = await issueKey(app, acme.secret, { name: "ci" });
      const before = await events();
      const fresh = (await roll(app, acme.secret, old.id)).json() as IssuedApiKey;

      const audit = (await auditOf(app, acme.secret)).slice(0, 3).reverse();
      expect(audit.map((event) => [event.action, event.target.id])).toEqual([
        ["api_key.revoked", old.id],
        ["api_key.issued", fresh.id],
        ["api_key.rolled", old.id],
      ]);
      for (const event of audit) expect(event.actor.id).toBe(acme.key.id);
      expect(audit[2]!.metadata).toEqual({ new_key_id: fresh.id, new_key_prefix: fresh.prefix, expires_in_seconds: 0 });
      expect(JSON.stringify(audit)).not.toContain(fresh.secret);

      const emitted = (await events()).slice(before.length);
      expect(emitted.map((event) => [event.event, event.data.api_key.id])).toEqual([
        ["api_key.revoked", old.id],
        ["api_key.issued", fresh.id],
      ]);
      expect(JSON.stringify(emitted)).not.toContain(fresh.secret);
    });

    it("lets a key roll itself: the answer holds its successor, and the caller is refused next", async () => {
      const self = await issueKey(app, acme.secret, { name: "self", scopes: ["api_keys:write"] });
      const response = await roll(app, self.secret, self.id);
      expect(response.statusCode, response.body).toBe(201);
      const fresh = response.json() as IssuedApiKey;
      expect(fresh.scopes).toEqual(["api_keys:write"]);
      expectError(await roll(app, self.secret, fresh.id), 401, "auth_expired");
      expect((await roll(app, fresh.secret, fresh.id)).statusCode).toBe(201);
    });

    it("two rolls of one key at once: exactly one 201, the other 409 api_key_not_active, and one new key", async () => {
      const old = await issueKey(app, acme.secret, { name: "ci" });
      const before = await counts();
      const answers = await Promise.all([roll(app, acme.secret, old.id), roll(app, acme.secret, old.id)]);
      const statuses = answers.map((answer) => answer.statusCode).sort();
      expect(statuses).toEqual([201, 409]);
      expectError(answers.find((answer) => answer.statusCode === 409)!, 409, "api_key_not_active");
      const after = await counts();
      expect(after.api_keys).toBe(before.api_keys! + 1);
    });

    it("rolls a key at MAX_ACTIVE_KEYS: the old key's place is freed first", async () => {
      const capped = await buildTestApp({ ...settings, maxActiveKeys: 2 });
      try {
        const small = await createTestCustomer(capped, "Small");
        const old = await issueKey(capped, small.secret, { name: "second" });
        expectError(await capped.inject({ method: "POST", url: "/v1/api-keys", headers: bearer(small.secret), payload: { name: "third" } }), 409, "key_limit_reached");
        expect((await roll(capped, small.secret, old.id)).statusCode).toBe(201);
        const body = expectError(await roll(capped, small.secret, small.key.id, { expires_in_seconds: 60 }), 409, "key_limit_reached");
        expect(body.error.details).toEqual({ max_active_keys: 2 });
        // The refused roll changed nothing: the key still works and may be rolled later.
        expect((await use(capped, small.secret)).statusCode).toBe(200);
        expect((await getKey(capped, small.secret, small.key.id)).expires_at).toBeNull();
      } finally {
        await capped.close();
      }
    });
  });

  describe("with an overlap", () => {
    it("keeps the old key working until now + N, and GET shows its new expires_at", async () => {
      const old = await issueKey(app, acme.secret, { name: "ci" });
      const before = await events();
      const startedAt = Date.now();
      const response = await roll(app, acme.secret, old.id, { expires_in_seconds: 60 });
      expect(response.statusCode, response.body).toBe(201);
      const fresh = response.json() as IssuedApiKey;
      expect(fresh.expires_at).toBeNull();

      expect((await use(app, old.secret)).statusCode).toBe(200);
      expect((await use(app, fresh.secret)).statusCode).toBe(200);
      const stored = await getKey(app, acme.secret, old.id);
      expect(stored.revoked_at).toBeNull();
      const expiresAt = Date.parse(stored.expires_at!);
      expect(expiresAt).toBeGreaterThanOrEqual(startedAt + 60_000);
      expect(expiresAt).toBeLessThanOrEqual(Date.now() + 60_000);

      const audit = await auditOf(app, acme.secret);
      expect(audit[0]).toMatchObject({ action: "api_key.rolled", target: { id: old.id }, metadata: { expires_in_seconds: 60, new_key_id: fresh.id } });
      expect(audit.some((event) => event.action === "api_key.revoked" && event.target.id === old.id)).toBe(false);
      const emitted = (await events()).slice(before.length);
      expect(emitted.map((event) => [event.event, event.data.api_key.id])).toEqual([["api_key.issued", fresh.id]]);
    });

    it("ends a key this node has cached at its new expiry, not its old one", async () => {
      const old = await issueKey(app, acme.secret, { name: "ci" });
      expect((await use(app, old.secret)).statusCode).toBe(200);
      expect((await roll(app, acme.secret, old.id, { expires_in_seconds: 1 })).statusCode).toBe(201);
      expect((await use(app, old.secret)).statusCode).toBe(200);
      await sleep(1_100);
      const body = expectError(await use(app, old.secret), 401, "auth_expired");
      expect(body.error.message).toMatch(/expired/);
    });

    it("never extends an expiry: a key expiring sooner keeps its own, and so does its successor", async () => {
      const soon = new Date(Date.now() + 30_000).toISOString();
      const old = await issueKey(app, acme.secret, { name: "ci", expires_at: soon });
      const fresh = (await roll(app, acme.secret, old.id, { expires_in_seconds: 604_800 })).json() as IssuedApiKey;
      expect(fresh.expires_at).toBe(old.expires_at);
      expect((await getKey(app, acme.secret, old.id)).expires_at).toBe(old.expires_at);
    });

    it("refuses to roll the same key again during its overlap (409), and two overlapping rolls at once give one 201", async () => {
      const old = await issueKey(app, acme.secret, { name: "ci" });
      expect((await roll(app, acme.secret, old.id, { expires_in_seconds: 60 })).statusCode).toBe(201);
      const before = await counts();
      expectError(await roll(app, acme.secret, old.id, { expires_in_seconds: 60 }), 409, "api_key_not_active");
      expectError(await roll(app, acme.secret, old.id), 409, "api_key_not_active");
      expect(await counts()).toEqual(before);
      expect((await use(app, old.secret)).statusCode).toBe(200);

      const other = await issueKey(app, acme.secret, { name: "other" });
      const answers = await Promise.all([roll(app, acme.secret, other.id, { expires_in_seconds: 60 }), roll(app, acme.secret, other.id, { expires_in_seconds: 60 })]);
      expect(answers.map((answer) => answer.statusCode).sort()).toEqual([201, 409]);
    });
  });

  describe("refusals, each changing nothing", () => {
    it.each([
      ["604801", { expires_in_seconds: 604_801 }, "body.expires_in_seconds"],
      ["-1", { expires_in_seconds: -1 }, "body.expires_in_seconds"],
      ["1.5", { expires_in_seconds: 1.5 }, "body.expires_in_seconds"],
      ["a string", { expires_in_seconds: "60" }, "body.expires_in_seconds"],
      ["null", { expires_in_seconds: null }, "body.expires_in_seconds"],
      ["an extra field", { expires_in_seconds: 60, name: "renamed" }, "body.name"],
      ["an array", [60], "body"],
    ])("refuses a body with %s: 400 validation_failed naming the field", async (_label, payload, field) => {
      const old = await issueKey(app, acme.secret, { name: "ci" });
      expect((await use(app, old.secret)).statusCode).toBe(200);
      const body = await expectRefused(roll(app, acme.secret, old.id, payload), 400, "validation_failed");
      expect((body.error.details as { fields: { field: string }[] }).fields.map((problem) => problem.field)).toEqual([field]);
      expect((await use(app, old.secret)).statusCode).toBe(200);
    });

    it("refuses a malformed id: 400 naming params.id", async () => {
      const body = await expectRefused(roll(app, acme.secret, "not-a-uuid"), 400, "validation_failed");
      expect(body.error.details).toMatchObject({ fields: [{ field: "params.id" }] });
    });

    it("refuses a revoked key and an expired key: 409 api_key_not_active", async () => {
      const revoked = await issueKey(app, acme.secret, { name: "revoked" });
      expect((await app.inject({ method: "DELETE", url: `/v1/api-keys/${revoked.id}`, headers: bearer(acme.secret) })).statusCode).toBe(204);
      await expectRefused(roll(app, acme.secret, revoked.id), 409, "api_key_not_active");
      await expectRefused(roll(app, acme.secret, revoked.id, { expires_in_seconds: 60 }), 409, "api_key_not_active");

      const expiring = await issueKey(app, acme.secret, { name: "expiring", expires_at: new Date(Date.now() + 300).toISOString() });
      await sleep(400);
      await expectRefused(roll(app, acme.secret, expiring.id), 409, "api_key_not_active");
    });

    it("answers another customer's key exactly like an unknown id: 404 api_key_not_found", async () => {
      const globex = await createTestCustomer(app, "Globex");
      const theirs = await issueKey(app, globex.secret, { name: "theirs" });
      const unknown = await expectRefused(roll(app, acme.secret, NIL_UUID), 404, "api_key_not_found");
      const foreign = await expectRefused(roll(app, acme.secret, theirs.id), 404, "api_key_not_found");
      expect(foreign.error.message).toBe(unknown.error.message);
      expect(foreign.error.details).toBeUndefined();
      expect((await use(app, theirs.secret)).statusCode).toBe(200);
    });

    it("refuses a caller without api_keys:write: 403 insufficient_scope", async () => {
      const reader = await issueKey(app, acme.secret, { name: "reader", scopes: ["api_keys:read"] });
      const target = await issueKey(app, acme.secret, { name: "target", scopes: ["api_keys:read"] });
      const body = await expectRefused(roll(app, reader.secret, target.id), 403, "insufficient_scope");
      expect(body.error.details).toEqual({ required: "api_keys:write" });
    });

    it("refuses to roll a key holding scopes the caller lacks: 403 scope_escalation", async () => {
      const writer = await issueKey(app, acme.secret, { name: "writer", scopes: ["api_keys:write", "messages:send"] });
      const body = await expectRefused(roll(app, writer.secret, acme.key.id), 403, "scope_escalation");
      expect(body.error.details).toEqual({ scopes: ["*"], issuer_scopes: ["api_keys:write", "messages:send"] });
      expect((await use(app, acme.secret)).statusCode).toBe(200);
      const wider = await issueKey(app, acme.secret, { name: "wider", scopes: ["messages:send", "audit:read"] });
      const narrower = await expectRefused(roll(app, writer.secret, wider.id), 403, "scope_escalation");
      expect(narrower.error.details).toMatchObject({ scopes: ["audit:read"] });
      // Within its scopes it may.
      const sender = await issueKey(app, acme.secret, { name: "sender", scopes: ["messages:send"] });
      expect((await roll(app, writer.secret, sender.id)).statusCode).toBe(201);
    });

    it("refuses a test key rolling a live key: 403 scope_escalation; a test key rolls a test key", async () => {
      const tester = await storeKey(app, acme.customer.id, { name: "tester", mode: "test" });
      const body = await expectRefused(roll(app, tester.secret, acme.key.id), 403, "scope_escalation");
      expect(body.error.details).toEqual({ issuer_mode: "test" });
      const otherTest = await storeKey(app, acme.customer.id, { name: "other test", mode: "test" });
      const response = await roll(app, tester.secret, otherTest.id);
      expect(response.statusCode, response.body).toBe(201);
      expect((response.json() as IssuedApiKey).mode).toBe("test");
      expect((response.json() as IssuedApiKey).prefix.startsWith("zpk_test_")).toBe(true);
    });

    it("refuses an expiring caller rolling a key that outlives it: 403 scope_escalation", async () => {
      const expiresAt = inOneDay();
      const caller = await issueKey(app, acme.secret, { name: "expiring caller", expires_at: expiresAt });
      const body = await expectRefused(roll(app, caller.secret, acme.key.id), 403, "scope_escalation");
      expect(body.error.details).toEqual({ issuer_expires_at: caller.expires_at });
      const sooner = await issueKey(app, acme.secret, { name: "sooner", expires_at: new Date(Date.now() + 3_600_000).toISOString() });
      expect((await roll(app, caller.secret, sooner.id)).statusCode).toBe(201);
    });

    it("refuses a caller with an allowlist rolling a key usable from elsewhere: 403 scope_escalation", async () => {
      const fenced = await storeKey(app, acme.customer.id, { name: "fenced caller", scopes: ["api_keys:write", "messages:send"], allowedIps: ["127.0.0.1"] });
      const anywhere = await issueKey(app, acme.secret, { name: "anywhere", scopes: ["messages:send"] });
      const unfenced = await expectRefused(roll(app, fenced.secret, anywhere.id), 403, "scope_escalation");
      expect(unfenced.error.details).toEqual({ issuer_allowed_ips: ["127.0.0.1"] });
      const elsewhere = await storeKey(app, acme.customer.id, { name: "elsewhere", scopes: ["messages:send"], allowedIps: ["127.0.0.1", "203.0.113.0/24"] });
      const wider = await expectRefused(roll(app, fenced.secret, elsewhere.id), 403, "scope_escalation");
      expect(wider.error.details).toEqual({ allowed_ips: ["203.0.113.0/24"], issuer_allowed_ips: ["127.0.0.1"] });
      const inside = await storeKey(app, acme.customer.id, { name: "inside", scopes: ["messages:send"], allowedIps: ["127.0.0.1"] });
      expect((await roll(app, fenced.secret, inside.id)).statusCode).toBe(201);
    });

    it("copies allowed_ips to the new key", async () => {
      const fenced = await storeKey(app, acme.customer.id, { name: "fenced", scopes: ["messages:send"], allowedIps: ["203.0.113.0/24"] });
      const fresh = (await roll(app, acme.secret, fenced.id)).json() as IssuedApiKey;
      expect(fresh.allowed_ips).toEqual(["203.0.113.0/24"]);
    });
  });

  describe("with an instance-bound caller", () => {
    it("rolls itself and keys of its own instance; another instance's key or an unbound key is 403 instance_access_denied", async () => {
      const own = await createInstance(app, acme.secret, "own");
      const other = await createInstance(app, acme.secret, "other");
      const bound = await issueKey(app, acme.secret, { name: "bound", instance_id: own.id, scopes: ["api_keys:write", "messages:send"] });
      const sibling = await issueKey(app, acme.secret, { name: "sibling", instance_id: own.id, scopes: ["messages:send"] });
      const elsewhere = await issueKey(app, acme.secret, { name: "elsewhere", instance_id: other.id, scopes: ["messages:send"] });
      const unbound = await issueKey(app, acme.secret, { name: "unbound", scopes: ["messages:send"] });

      for (const target of [elsewhere, unbound]) {
        const body = await expectRefused(roll(app, bound.secret, target.id), 403, "instance_access_denied");
        expect(body.error.details).toEqual({ instance_id: own.id });
      }
      expectError(await roll(app, bound.secret, NIL_UUID), 404, "api_key_not_found");

      const rolledSibling = await roll(app, bound.secret, sibling.id);
      expect(rolledSibling.statusCode, rolledSibling.body).toBe(201);
      expect((rolledSibling.json() as IssuedApiKey).instance_id).toBe(own.id);
      const rolledSelf = await roll(app, bound.secret, bound.id, { expires_in_seconds: 60 });
      expect(rolledSelf.statusCode, rolledSelf.body).toBe(201);
      const successor = rolledSelf.json() as IssuedApiKey;
      expect(successor).toMatchObject({ instance_id: own.id, scopes: ["api_keys:write", "messages:send"] });
      expect((await use(app, bound.secret)).statusCode).toBe(200);
      expect((await use(app, successor.secret)).statusCode).toBe(200);
    });

    it("a key of a deleted instance was revoked with it: 409", async () => {
      const doomed = await createInstance(app, acme.secret, "doomed");
      const bound = await issueKey(app, acme.secret, { name: "bound", instance_id: doomed.id, scopes: ["messages:send"] });
      expect((await app.inject({ method: "DELETE", url: `/v1/instances/${doomed.id}`, headers: bearer(acme.secret) })).statusCode).toBe(204);
      expectError(await roll(app, acme.secret, bound.id), 409, "api_key_not_active");
    });
  });
});

describe.skipIf(TEST_DIALECT !== "postgres")("rolling across three nodes on one PostgreSQL database", () => {
  const database = persistentDatabase();
  let nodes: [App, App, App];
  let acme: TestCustomer;

  beforeAll(async () => {
    const config = { ...settings, database };
    nodes = [await buildTestApp(config), await buildTestApp(config), await buildTestApp(config)];
    acme = await createTestCustomer(nodes[0]);
  });

  afterAll(async () => {
    await Promise.all(nodes.map((node) => node.close()));
    await removeDatabase(database);
  });

  it("a key rolled on A with no overlap is refused by A, B and C when the answer arrives, every time", { timeout: 120_000 }, async () => {
    for (let round = 0; round < 50; round += 1) {
      const old = await issueKey(nodes[0], acme.secret, { name: `round ${round}` });
      const warm = await Promise.all(nodes.map((node) => use(node, old.secret)));
      expect(warm.map((response) => response.statusCode)).toEqual([200, 200, 200]);
      const rolled = await roll(nodes[0], acme.secret, old.id);
      expect(rolled.statusCode, rolled.body).toBe(201);
      const next = await Promise.all(nodes.map((node) => use(node, old.secret)));
      for (const response of next) expectError(response, 401, "auth_expired");
      const fresh = rolled.json() as IssuedApiKey;
      expect((await Promise.all(nodes.map((node) => use(node, fresh.secret)))).map((response) => response.statusCode)).toEqual([200, 200, 200]);
    }
  });

  it("a key rolled on A with an overlap ends on B and C at its new expiry, though they cached it", { timeout: 30_000 }, async () => {
    const old = await issueKey(nodes[0], acme.secret, { name: "overlap" });
    expect((await Promise.all(nodes.map((node) => use(node, old.secret)))).map((response) => response.statusCode)).toEqual([200, 200, 200]);
    expect((await roll(nodes[0], acme.secret, old.id, { expires_in_seconds: 1 })).statusCode).toBe(201);
    const expiresAt = (await getKey(nodes[1], acme.secret, old.id)).expires_at!;
    await sleep(Date.parse(expiresAt) - Date.now() + 20);
    for (const node of nodes) expectError(await use(node, old.secret), 401, "auth_expired");
  });

  it("concurrent rolls of one key over the three nodes: exactly one 201", { timeout: 60_000 }, async () => {
    for (const payload of [undefined, { expires_in_seconds: 60 }]) {
      for (let round = 0; round < 10; round += 1) {
        const old = await issueKey(nodes[0], acme.secret, { name: `contended ${round}` });
        const answers = await Promise.all(nodes.map((node) => roll(node, acme.secret, old.id, payload)));
        const statuses = answers.map((answer) => answer.statusCode).sort();
        expect(statuses).toEqual([201, 409, 409]);
        for (const answer of answers.filter((answer) => answer.statusCode === 409)) expectError(answer, 409, "api_key_not_active");
      }
    }
  });
});
