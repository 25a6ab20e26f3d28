import { randomUUID } from "node:crypto";
import type { LightMyRequestResponse } from "fastify";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import type { AuditEvent, Instance, IssuedApiKey } from "@whatisup/client";
import type { App } from "../src/http/app-types.js";
import {
  bearer,
  buildTestApp,
  createInstance,
  createTestCustomer,
  expectError,
  issueKey,
  type TestCustomer,
  FULL_KEY,
  type Page,
  TIMESTAMP,
  UUID,
} from "./helpers/test-app.js";
import { allowInserts, failInserts } from "./helpers/test-database.js";

const EVENT_FIELDS = [
  "action",
  "actor",
  "created_at",
  "customer_id",
  "id",
  "ip",
  "metadata",
  "request_id",
  "target",
  "user_agent",
];
const USER_AGENT = "audit-test/1.0 (+https://whatisup.dev)";

let app: App;
let acme: TestCustomer;

// One app for the whole file (on PostgreSQL each app is a new schema, migrated), and a new
// customer for each test: its audit log holds only what the test did.
beforeAll(async () => {
  app = await buildTestApp({ rateLimit: { burst: 10_000, refillPerSecond: 1 } });
});
afterAll(() => app.close());
beforeEach(async () => {
  acme = await createTestCustomer(app, "Acme");
});

/** A request as a client identifying itself would send it. */
function send(
  method: "GET" | "POST" | "PUT" | "PATCH" | "DELETE",
  url: string,
  secret: string,
  payload?: object,
): Promise<LightMyRequestResponse> {
  return app.inject({
    method,
    url,
    headers: { ...bearer(secret), "user-agent": USER_AGENT },
    ...(payload === undefined ? {} : { payload }),
  });
}

async function listPage(secret: string, query = ""): Promise<Page<AuditEvent>> {
  const response = await send("GET", `/v1/audit-events${query}`, secret);
  expect(response.statusCode, response.body).toBe(200);
  return response.json() as Page<AuditEvent>;
}

async function allEvents(secret: string): Promise<AuditEvent[]> {
  return (await listPage(secret, "?limit=100")).data;
}

function only(events: AuditEvent[], action: string, targetId?: string): AuditEvent {
  const matching = events.filter((event) => event.action === action && (targetId === undefined || event.target.id === targetId));
  expect(matching, `${action} ${targetId ?? ""}`).toHaveLength(1);
  return matching[0]!;
}

function expectEventShape(event: AuditEvent, customerId: string): void {
  expect(Object.keys(event).sort()).toEqual(EVENT_FIELDS);
  expect(event.id).toMatch(UUID);
  expect(event.customer_id).toBe(customerId);
  expect(event.action).toMatch(/^[a-z_]+\.[a-z_]+$/);
  expect(Object.keys(event.target).sort()).toEqual(["id", "type"]);
  expect(event.created_at).toMatch(TIMESTAMP);
}

/** Asserts that an API request left this event: the acting key, the client, the request. */
function expectRequestEvent(event: AuditEvent, actor: TestCustomer["key"], response: LightMyRequestResponse): void {
  expectEventShape(event, actor.customer_id);
  expect(event.actor).toEqual({ type: "api_key", id: actor.id, prefix: actor.prefix });
  expect(event.ip).toBe("127.0.0.1");
  expect(event.user_agent).toBe(USER_AGENT);
  expect(event.request_id).toMatch(/^req_/);
  expect(event.request_id).toBe(response.headers["x-request-id"]);
}

describe("GET /v1/audit-events", () => {
  it("after the CLI creates a customer: customer.created and api_key.issued, actor cli, no request data", async () => {
    const page = await listPage(acme.secret);
    expect(Object.keys(page).sort()).toEqual(["data", "next_cursor"]);
    expect(page.next_cursor).toBeNull();
    expect(page.data.map((event) => event.action)).toEqual(["api_key.issued", "customer.created"]);

    const created = only(page.data, "customer.created");
    expectEventShape(created, acme.customer.id);
    expect(created.actor).toEqual({ type: "cli" });
    expect(created.target).toEqual({ type: "customer", id: acme.customer.id });
    expect([created.ip, created.user_agent, created.request_id]).toEqual([null, null, null]);

    const issued = only(page.data, "api_key.issued");
    expectEventShape(issued, acme.customer.id);
    expect(issued.actor).toEqual({ type: "cli" });
    expect(issued.target).toEqual({ type: "api_key", id: acme.key.id });
    expect([issued.ip, issued.user_agent, issued.request_id]).toEqual([null, null, null]);
  });

  it("records each API change with the acting key, target, ip, user agent and the request's id, newest first", async () => {
    const createResponse = await send("POST", "/v1/instances", acme.secret, { name: "main" });
    expect(createResponse.statusCode).toBe(201);
    const instanceId = (createResponse.json() as Instance).id;

    const issueResponse = await send("POST", "/v1/api-keys", acme.secret, { name: "second" });
    expect(issueResponse.statusCode).toBe(201);
    const second = issueResponse.json() as IssuedApiKey;

    // The second key acts from here on, so the actor is not always the same key.
    const revokeResponse = await send("DELETE", `/v1/api-keys/${acme.key.id}`, second.secret);
    expect(revokeResponse.statusCode).toBe(204);
    const deleteResponse = await send("DELETE", `/v1/instances/${instanceId}`, second.secret);
    expect(deleteResponse.statusCode).toBe(204);

    const events = await allEvents(second.secret);
    expect(events.map((event) => event.action)).toEqual([
      "instance.deleted",
      "api_key.revoked",
      "api_key.issued",
      "instance.created",
      "api_key.issued",
      "customer.created",
    ]);

    const instanceCreated = only(events, "instance.created");
    expectRequestEvent(instanceCreated, acme.key, createResponse);
    expect(instanceCreated.target).toEqual({ type: "instance", id: instanceId });

    const keyIssued = only(events, "api_key.issued", second.id);
    expectRequestEvent(keyIssued, acme.key, issueResponse);
    expect(keyIssued.target).toEqual({ type: "api_key", id: second.id });

    const keyRevoked = only(events, "api_key.revoked");
    expectRequestEvent(keyRevoked, second, revokeResponse);
    expect(keyRevoked.target).toEqual({ type: "api_key", id: acme.key.id });

    const instanceDeleted = only(events, "instance.deleted");
    expectRequestEvent(instanceDeleted, second, deleteResponse);
    expect(instanceDeleted.target).toEqual({ type: "instance", id: instanceId });

    const createdAts = events.map((event) => event.created_at);
    expect(createdAts).toEqual([...createdAts].sort().reverse());
  });

  it("writes no event for a refused change or a repeated revocation", async () => {
    const reader = await issueKey(app, acme.secret, { name: "reader", scopes: ["audit:read", "instances:read"] });
    const before = await allEvents(acme.secret);

    expectError(await send("POST", "/v1/instances", reader.secret, { name: "x" }), 403, "insufficient_scope");
    expectError(await send("POST", "/v1/instances", acme.secret, { name: "" }), 400, "validation_failed");
    expectError(await send("DELETE", `/v1/instances/${randomUUID()}`, acme.secret), 404, "instance_not_found");
    expectError(await send("DELETE", `/v1/api-keys/${randomUUID()}`, acme.secret), 404, "api_key_not_found");
    expect((await send("DELETE", `/v1/api-keys/${reader.id}`, acme.secret)).statusCode).toBe(204);
    expect((await send("DELETE", `/v1/api-keys/${reader.id}`, acme.secret)).statusCode).toBe(204);

    const after = await allEvents(acme.secret);
    expect(after.length - before.length).toBe(1);
    expect(after[0]!.action).toBe("api_key.revoked");
    expect(after[0]!.target.id).toBe(reader.id);
  });

  it("never contains a secret: no full key anywhere, only prefixes", async () => {
    const instance = await createInstance(app, acme.secret, "main");
    const issued = [
      await issueKey(app, acme.secret, { name: "plain" }),
      await issueKey(app, acme.secret, { name: "bound", instance_id: instance.id }),
      await issueKey(app, acme.secret, { name: "narrow", scopes: ["audit:read"] }),
    ];
    expect((await send("DELETE", `/v1/api-keys/${issued[0]!.id}`, acme.secret)).statusCode).toBe(204);
    expect((await send("DELETE", `/v1/instances/${instance.id}`, acme.secret)).statusCode).toBe(204);

    const response = await send("GET", "/v1/audit-events?limit=100", acme.secret);
    expect(response.statusCode).toBe(200);
    const text = response.body;
    expect(text).not.toMatch(FULL_KEY);
    for (const secret of [acme.secret, ...issued.map((key) => key.secret)]) {
      expect(text).not.toContain(secret);
      expect(text).not.toContain(secret.slice(9));
    }
    expect(text).not.toMatch(/digest|pepper|secret/i);
    // The prefixes are there, which is what identifies a key.
    expect(text).toContain(acme.key.prefix);
    for (const key of issued) expect(text).toContain(key.prefix);
    // And nothing in the table itself holds a full key either.
    const rows = await app.db.selectFrom("audit_events").selectAll().execute();
    expect(rows.length).toBeGreaterThan(0);
    expect(JSON.stringify(rows)).not.toMatch(FULL_KEY);
  });

  it("never shows another customer's events", async () => {
    const globex = await createTestCustomer(app, "Globex");
    await createInstance(app, globex.secret, "theirs");
    await issueKey(app, globex.secret, { name: "theirs" });
    await createInstance(app, acme.secret, "mine");

    const acmeEvents = await allEvents(acme.secret);
    expect(acmeEvents.length).toBe(3);
    for (const event of acmeEvents) expect(event.customer_id).toBe(acme.customer.id);
    expect(JSON.stringify(acmeEvents)).not.toContain(globex.customer.id);
    expect(JSON.stringify(acmeEvents)).not.toContain(globex.key.id);

    const globexEvents = await allEvents(globex.secret);
    expect(globexEvents.length).toBe(4);
    for (const event of globexEvents) expect(event.customer_id).toBe(globex.customer.id);
  });
});

describe("GET /v1/audit-events pagination", () => {
  async function makeEvents(count: number): Promise<void> {
    for (let n = 0; n < count; n++) await createInstance(app, acme.secret, `instance-${n}`);
  }

  it("walks every event once with limit and cursor, newest first, ending with a null cursor", async () => {
    await makeEvents(5); // + customer.created + api_key.issued = 7 events
    const everything = await allEvents(acme.secret);
    expect(everything).toHaveLength(7);

    const seen: AuditEvent[] = [];
    const sizes: number[] = [];
    let cursor: string | null = null;
    do {
      const query: string = cursor === null ? "?limit=3" : `?limit=3&cursor=${encodeURIComponent(cursor)}`;
      const page = await listPage(acme.secret, query);
      sizes.push(page.data.length);
      seen.push(...page.data);
      cursor = page.next_cursor;
      expect(sizes.length).toBeLessThan(10);
    } while (cursor !== null);

    expect(sizes).toEqual([3, 3, 1]);
    expect(seen.map((event) => event.id)).toEqual(everything.map((event) => event.id));
    expect(new Set(seen.map((event) => event.id)).size).toBe(7);
  });

  it("defaults to 50 events a page", async () => {
    await makeEvents(50); // 52 events
    const page = await listPage(acme.secret);
    expect(page.data).toHaveLength(50);
    expect(page.next_cursor).toEqual(expect.any(String));
    const rest = await listPage(acme.secret, `?cursor=${encodeURIComponent(page.next_cursor!)}`);
    expect(rest.data).toHaveLength(2);
    expect(rest.next_cursor).toBeNull();
  });

  it("accepts limit=100", async () => {
    const page = await listPage(acme.secret, "?limit=100");
    expect(page.data).toHaveLength(2);
  });

  it.each(["0", "101", "1000", "abc"])("refuses limit=%s with 400 validation_failed naming the limit", async (limit) => {
    const body = expectError(await send("GET", `/v1/audit-events?limit=${limit}`, acme.secret), 400, "validation_failed");
    expect(JSON.stringify(body.error.details)).toContain("querystring.limit");
  });

  it.each(["garbage", Buffer.from('{"created_at":"x"}').toString("base64url"), Buffer.from('["x"]').toString("base64url")])(
    "refuses the cursor %s with 400 validation_failed naming the cursor",
    async (cursor) => {
      const response = await send("GET", `/v1/audit-events?cursor=${encodeURIComponent(cursor)}`, acme.secret);
      const body = expectError(response, 400, "validation_failed");
      expect(JSON.stringify(body.error.details)).toContain("querystring.cursor");
    },
  );

  it("refuses an unknown query parameter with 400 validation_failed", async () => {
    expectError(await send("GET", "/v1/audit-events?action=api_key.issued", acme.secret), 400, "validation_failed");
  });
});

describe("the audit log is append-only", () => {
  it.each(["PUT", "PATCH", "DELETE"] as const)("%s /v1/audit-events is 405 method_not_allowed, in the envelope", async (method) => {
    const response = await send(method, "/v1/audit-events", acme.secret, method === "DELETE" ? undefined : {});
    const body = expectError(response, 405, "method_not_allowed");
    expect(response.headers.allow).toBe("GET");
    expect(body.error.details).toEqual({ allowed: ["GET"] });
  });

  it.each(["GET", "PUT", "PATCH", "DELETE"] as const)("%s /v1/audit-events/:id does not exist (404 not_found)", async (method) => {
    const [event] = await allEvents(acme.secret);
    const response = await send(method, `/v1/audit-events/${event!.id}`, acme.secret, method === "PUT" || method === "PATCH" ? {} : undefined);
    expectError(response, 404, "not_found");
  });

  it("the database refuses UPDATE on audit_events", async () => {
    const before = await app.db.selectFrom("audit_events").selectAll().orderBy("id").execute();
    expect(before.length).toBeGreaterThan(0);
    await expect(app.db.updateTable("audit_events").set({ action: "x" }).execute()).rejects.toThrow(/append-only/);
    await expect(
      app.db.updateTable("audit_events").set({ ip: "10.0.0.1" }).where("id", "=", before[0]!.id).execute(),
    ).rejects.toThrow(/append-only/);
    expect(await app.db.selectFrom("audit_events").selectAll().orderBy("id").execute()).toEqual(before);
  });

  it("the database refuses DELETE on audit_events", async () => {
    const before = await app.db.selectFrom("audit_events").selectAll().orderBy("id").execute();
    expect(before.length).toBeGreaterThan(0);
    await expect(app.db.deleteFrom("audit_events").execute()).rejects.toThrow(/append-only/);
    await expect(app.db.deleteFrom("audit_events").where("id", "=", before[0]!.id).execute()).rejects.toThrow(/append-only/);
    expect(await app.db.selectFrom("audit_events").selectAll().orderBy("id").execute()).toEqual(before);
  });
});

describe("a change and its audit event commit together", () => {
  let broken = false;

  /** From here on, every audit insert fails inside the database. */
  async function breakAuditInserts(): Promise<void> {
    await failInserts(app.db, app.dialect, "audit_events");
    broken = true;
  }

  async function repairAuditInserts(): Promise<void> {
    await allowInserts(app.db, app.dialect, "audit_events");
    broken = false;
  }

  // The app outlives the test: a test that failed half-way must not leave audits broken.
  afterEach(async () => {
    if (broken) await repairAuditInserts();
  });

  /** 500 internal_error in the envelope, with nothing of the cause in it. */
  function expectOpaque500(response: LightMyRequestResponse): void {
    const body = expectError(response, 500, "internal_error");
    expect(body.error.details).toBeUndefined();
    expect(response.body).not.toMatch(/boom|audit_events|sqlite|postgres|plpgsql|stack|\bat .+:\d+:\d+/i);
  }

  it("creating an instance is rolled back when its audit event cannot be written", async () => {
    const auditCount = (await app.db.selectFrom("audit_events").select("id").execute()).length;
    await breakAuditInserts();

    expectOpaque500(await send("POST", "/v1/instances", acme.secret, { name: "ghost" }));

    const rows = await app.db.selectFrom("instances").selectAll().where("customer_id", "=", acme.customer.id).execute();
    expect(rows).toEqual([]);
    await repairAuditInserts();
    expect((await send("GET", "/v1/instances", acme.secret)).json()).toEqual({ data: [], next_cursor: null });
    expect(await app.db.selectFrom("audit_events").select("id").execute()).toHaveLength(auditCount);
  });

  it("deleting an instance (and revoking its keys) is rolled back when an audit event cannot be written", async () => {
    const instance = await createInstance(app, acme.secret, "main");
    const bound = await issueKey(app, acme.secret, { name: "bound", instance_id: instance.id });
    expect((await send("GET", `/v1/instances/${instance.id}`, bound.secret)).statusCode).toBe(200);
    await breakAuditInserts();

    expectOpaque500(await send("DELETE", `/v1/instances/${instance.id}`, acme.secret));

    const row = await app.db.selectFrom("instances").select("deleted_at").where("id", "=", instance.id).executeTakeFirstOrThrow();
    expect(row.deleted_at).toBeNull();
    const key = await app.db.selectFrom("api_keys").select("revoked_at").where("id", "=", bound.id).executeTakeFirstOrThrow();
    expect(key.revoked_at).toBeNull();
    expect((await send("GET", `/v1/instances/${instance.id}`, bound.secret)).statusCode).toBe(200);
    await repairAuditInserts();
  });

  it("issuing a key is rolled back when its audit event cannot be written", async () => {
    const keysBefore = await app.db.selectFrom("api_keys").select("id").execute();
    await breakAuditInserts();

    const response = await send("POST", "/v1/api-keys", acme.secret, { name: "ghost" });
    expectOpaque500(response);
    expect(response.body).not.toContain("zpk_live_");

    expect(await app.db.selectFrom("api_keys").select("id").execute()).toEqual(keysBefore);
    await repairAuditInserts();
  });

  it("revoking a key is rolled back when its audit event cannot be written", async () => {
    const victim = await issueKey(app, acme.secret, { name: "victim" });
    expect((await send("GET", "/v1/limits", victim.secret)).statusCode).toBe(200);
    await breakAuditInserts();

    expectOpaque500(await send("DELETE", `/v1/api-keys/${victim.id}`, acme.secret));

    const key = await app.db.selectFrom("api_keys").select("revoked_at").where("id", "=", victim.id).executeTakeFirstOrThrow();
    expect(key.revoked_at).toBeNull();
    expect((await send("GET", "/v1/limits", victim.secret)).statusCode).toBe(200);
    await repairAuditInserts();
  });
});
