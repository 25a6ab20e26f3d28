import { randomUUID } from "node:crypto";
import type { LightMyRequestResponse } from "fastify";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import type { ApiKey, AuditEvent, Instance } from "@whatisup/client";
import type { App } from "../src/http/app-types.js";
import type { Limits } from "@whatisup/client";
import {
  bearer,
  buildTestApp,
  createInstance,
  createTestCustomer,
  expectError,
  issueKey,
  type TestCustomer,
  type Page,
  TIMESTAMP,
  UUID,
} from "./helpers/test-app.js";

const INSTANCE_FIELDS = ["created_at", "customer_id", "id", "name", "phone_number", "status", "transport", "updated_at"];

let app: App;
let acme: TestCustomer;

// One app for the whole file (on PostgreSQL each app is a new schema, migrated), and a new
// customer for each test: customers see nothing of each other's instances, keys and events.
beforeAll(async () => {
  app = await buildTestApp({ rateLimit: { burst: 10_000, refillPerSecond: 1 } });
});
afterAll(() => app.close());
beforeEach(async () => {
  acme = await createTestCustomer(app, "Acme");
});

function get(url: string, secret: string): Promise<LightMyRequestResponse> {
  return app.inject({ method: "GET", url, headers: bearer(secret) });
}

function post(url: string, secret: string, payload: unknown): Promise<LightMyRequestResponse> {
  return app.inject({ method: "POST", url, headers: bearer(secret), payload: payload as object });
}

function del(url: string, secret: string): Promise<LightMyRequestResponse> {
  return app.inject({ method: "DELETE", url, headers: bearer(secret) });
}

/** Asserts a 400 validation_failed whose details name `field`. */
function expectFieldRefused(response: LightMyRequestResponse, field: string): void {
  const body = expectError(response, 400, "validation_failed");
  const fields = (body.error.details?.fields ?? []) as { field: string }[];
  expect(fields.map((problem) => problem.field)).toContain(field);
}

function expectInstanceShape(instance: Instance, customerId: string, name: string): void {
  expect(Object.keys(instance).sort()).toEqual(INSTANCE_FIELDS);
  expect(instance.id).toMatch(UUID);
  expect(instance.customer_id).toBe(customerId);
  expect(instance.name).toBe(name);
  // A sandbox instance (the default transport) is connected at creation: it needs no network.
  expect(instance.status).toBe("connected");
  expect(instance.transport).toBe("sandbox");
  expect(instance.phone_number).toBeNull();
  expect(instance.created_at).toMatch(TIMESTAMP);
  expect(instance.updated_at).toMatch(TIMESTAMP);
}

async function listAll(secret: string, limit: number): Promise<{ pages: Page<Instance>[]; ids: string[] }> {
  const pages: Page<Instance>[] = [];
  let cursor: string | null = null;
  do {
    const query: string = cursor === null ? `limit=${limit}` : `limit=${limit}&cursor=${encodeURIComponent(cursor)}`;
    const response = await get(`/v1/instances?${query}`, secret);
    expect(response.statusCode, response.body).toBe(200);
    const page = response.json() as Page<Instance>;
    pages.push(page);
    cursor = page.next_cursor;
    expect(pages.length).toBeLessThan(20);
  } while (cursor !== null);
  return { pages, ids: pages.flatMap((page) => page.data.map((instance) => instance.id)) };
}

async function auditEvents(secret: string): Promise<AuditEvent[]> {
  const response = await get("/v1/audit-events?limit=100", secret);
  expect(response.statusCode, response.body).toBe(200);
  return (response.json() as Page<AuditEvent>).data;
}

describe("POST /v1/instances", () => {
  it("creates a connected sandbox instance with exactly the fields of the contract (docs/api.md)", async () => {
    const response = await post("/v1/instances", acme.secret, { name: "main" });
    expect(response.statusCode, response.body).toBe(201);
    expect(response.headers["content-type"]).toMatch(/^application\/json/);
    const instance = response.json() as Instance;
    expectInstanceShape(instance, acme.customer.id, "main");
    expect(instance.updated_at).toBe(instance.created_at);
  });

  it("accepts a name of exactly 200 characters", async () => {
    const response = await post("/v1/instances", acme.secret, { name: "n".repeat(200) });
    expect(response.statusCode, response.body).toBe(201);
    expect((response.json() as Instance).name).toHaveLength(200);
  });

  it.each([
    ["an empty name", { name: "" }, "body.name"],
    ["a name of 201 characters", { name: "n".repeat(201) }, "body.name"],
    ["a missing name", {}, "body.name"],
    ["a name that is not a string", { name: 42 }, "body.name"],
    ["an unknown field", { name: "main", colour: "blue" }, "body.colour"],
    ["an unknown transport", { name: "main", transport: "baileys" }, "body.transport"],
    ["a phone_number_id on a sandbox instance", { name: "main", phone_number_id: "1234567890" }, "body.phone_number_id"],
    ["a phone_number_id with an explicit sandbox transport", { name: "main", transport: "sandbox", phone_number_id: "1" }, "body.phone_number_id"],
    ["a phone_number_id that is not digits", { name: "main", transport: "cloud_api", phone_number_id: "../me" }, "body.phone_number_id"],
    ["cloud_api on a server without a Cloud API configuration", { name: "main", transport: "cloud_api", phone_number_id: "1" }, "body.transport"],
  ])("refuses %s with 400 validation_failed naming the field", async (_label, payload, field) => {
    const response = await post("/v1/instances", acme.secret, payload);
    expectFieldRefused(response, field);
  });

  it("accepts transport sandbox explicitly", async () => {
    const response = await post("/v1/instances", acme.secret, { name: "main", transport: "sandbox" });
    expect(response.statusCode, response.body).toBe(201);
    expectInstanceShape(response.json(), acme.customer.id, "main");
  });

  it("creates nothing when the body is refused", async () => {
    await post("/v1/instances", acme.secret, { name: "" });
    const list = await get("/v1/instances", acme.secret);
    expect(list.json()).toEqual({ data: [], next_cursor: null });
  });
});

describe("GET /v1/instances", () => {
  it("answers {data, next_cursor} with the customer's instances, newest first", async () => {
    const first = await createInstance(app, acme.secret, "first");
    const second = await createInstance(app, acme.secret, "second");
    const response = await get("/v1/instances", acme.secret);
    expect(response.statusCode, response.body).toBe(200);
    const page = response.json() as Page<Instance>;
    expect(Object.keys(page).sort()).toEqual(["data", "next_cursor"]);
    expect(page.next_cursor).toBeNull();
    expect(page.data.map((instance) => instance.id)).toEqual([second.id, first.id]);
    for (const instance of page.data) expectInstanceShape(instance, acme.customer.id, instance.name);
  });

  it("answers an empty page for a customer without instances", async () => {
    const response = await get("/v1/instances", acme.secret);
    expect(response.statusCode).toBe(200);
    expect(response.json()).toEqual({ data: [], next_cursor: null });
  });

  it("paginates with limit and cursor: 5 instances, limit 2, 3 pages, no duplicates", async () => {
    const created: string[] = [];
    for (let n = 1; n <= 5; n++) created.push((await createInstance(app, acme.secret, `instance-${n}`)).id);

    const { pages, ids } = await listAll(acme.secret, 2);
    expect(pages.map((page) => page.data.length)).toEqual([2, 2, 1]);
    expect(pages[0]!.next_cursor).toEqual(expect.any(String));
    expect(pages[1]!.next_cursor).toEqual(expect.any(String));
    expect(pages[2]!.next_cursor).toBeNull();
    expect(new Set(ids).size).toBe(5);
    expect(ids).toEqual([...created].reverse());
  });

  it("does not announce a next page when the last page is exactly full", async () => {
    for (let n = 1; n <= 4; n++) await createInstance(app, acme.secret, `instance-${n}`);
    const { pages } = await listAll(acme.secret, 2);
    expect(pages.map((page) => page.data.length)).toEqual([2, 2]);
  });

  it("never lists another customer's instances", async () => {
    const globex = await createTestCustomer(app, "Globex");
    await createInstance(app, globex.secret, "theirs");
    const mine = await createInstance(app, acme.secret, "mine");
    const response = await get("/v1/instances", acme.secret);
    expect((response.json() as Page<Instance>).data.map((instance) => instance.id)).toEqual([mine.id]);
  });

  it.each(["not-a-cursor", Buffer.from('{"a":1}').toString("base64url"), Buffer.from("[1,2]").toString("base64url")])(
    "refuses the cursor %s with 400 validation_failed",
    async (cursor) => {
      const response = await get(`/v1/instances?cursor=${encodeURIComponent(cursor)}`, acme.secret);
      expectFieldRefused(response, "querystring.cursor");
    },
  );

  it.each(["0", "101", "-1", "two"])("refuses limit=%s with 400 validation_failed", async (limit) => {
    const response = await get(`/v1/instances?limit=${limit}`, acme.secret);
    expectFieldRefused(response, "querystring.limit");
  });

  it("accepts limit=1 and limit=100", async () => {
    await createInstance(app, acme.secret, "one");
    for (const limit of [1, 100]) {
      const response = await get(`/v1/instances?limit=${limit}`, acme.secret);
      expect(response.statusCode, response.body).toBe(200);
    }
  });
});

describe("GET /v1/instances/:id", () => {
  it("answers the instance as it was created", async () => {
    const created = await createInstance(app, acme.secret, "main");
    const response = await get(`/v1/instances/${created.id}`, acme.secret);
    expect(response.statusCode, response.body).toBe(200);
    expect(response.json()).toEqual(created);
    expectInstanceShape(response.json(), acme.customer.id, "main");
  });

  it("answers 404 instance_not_found for another customer's instance", async () => {
    const globex = await createTestCustomer(app, "Globex");
    const theirs = await createInstance(app, globex.secret, "theirs");
    expectError(await get(`/v1/instances/${theirs.id}`, acme.secret), 404, "instance_not_found");
  });

  it("answers 404 instance_not_found for an unknown id", async () => {
    expectError(await get(`/v1/instances/${randomUUID()}`, acme.secret), 404, "instance_not_found");
  });

  it("answers 400 validation_failed for an id that is not a UUID", async () => {
    expectFieldRefused(await get("/v1/instances/not-a-uuid", acme.secret), "params.id");
  });

  it("treats the id case-insensitively, as UUIDs are (RFC 9562), for unbound and bound keys alike", async () => {
    const created = await createInstance(app, acme.secret, "main");
    const bound = await issueKey(app, acme.secret, { name: "bound", instance_id: created.id });
    const upper = created.id.toUpperCase();
    for (const secret of [acme.secret, bound.secret]) {
      const response = await get(`/v1/instances/${upper}`, secret);
      expect(response.statusCode, response.body).toBe(200);
      expect((response.json() as Instance).id).toBe(created.id);
    }
  });
});

describe("DELETE /v1/instances/:id", () => {
  it("answers 204 with no body; the instance is then gone everywhere", async () => {
    const doomed = await createInstance(app, acme.secret, "doomed");
    const kept = await createInstance(app, acme.secret, "kept");

    const response = await del(`/v1/instances/${doomed.id}`, acme.secret);
    expect(response.statusCode, response.body).toBe(204);
    expect(response.body).toBe("");

    expectError(await get(`/v1/instances/${doomed.id}`, acme.secret), 404, "instance_not_found");
    expectError(await del(`/v1/instances/${doomed.id}`, acme.secret), 404, "instance_not_found");
    const list = (await get("/v1/instances", acme.secret)).json() as Page<Instance>;
    expect(list.data.map((instance) => instance.id)).toEqual([kept.id]);
  });

  it("answers 404 instance_not_found for another customer's instance and leaves it alone", async () => {
    const globex = await createTestCustomer(app, "Globex");
    const theirs = await createInstance(app, globex.secret, "theirs");
    expectError(await del(`/v1/instances/${theirs.id}`, acme.secret), 404, "instance_not_found");
    expect((await get(`/v1/instances/${theirs.id}`, globex.secret)).statusCode).toBe(200);
  });

  it("answers 404 for an unknown id and 400 for an id that is not a UUID", async () => {
    expectError(await del(`/v1/instances/${randomUUID()}`, acme.secret), 404, "instance_not_found");
    expectFieldRefused(await del("/v1/instances/not-a-uuid", acme.secret), "params.id");
  });

  describe("revokes every key bound to the instance", () => {
    it("bound keys get 401 auth_expired at once (even though they were cached), the unbound key keeps working", async () => {
      const instance = await createInstance(app, acme.secret, "doomed");
      const other = await createInstance(app, acme.secret, "other");
      const boundA = await issueKey(app, acme.secret, { name: "bound-a", instance_id: instance.id });
      const boundB = await issueKey(app, acme.secret, { name: "bound-b", instance_id: instance.id, scopes: ["instances:read"] });
      const boundElsewhere = await issueKey(app, acme.secret, { name: "bound-other", instance_id: other.id });
      const unbound = await issueKey(app, acme.secret, { name: "unbound" });

      // Use every key first, so that each is in the verified-key cache when the instance goes.
      for (const key of [boundA, boundB]) {
        expect((await get(`/v1/instances/${instance.id}`, key.secret)).statusCode).toBe(200);
      }
      expect((await get(`/v1/instances/${other.id}`, boundElsewhere.secret)).statusCode).toBe(200);
      expect((await get("/v1/instances", unbound.secret)).statusCode).toBe(200);

      const deleted = await del(`/v1/instances/${instance.id}`, acme.secret);
      expect(deleted.statusCode, deleted.body).toBe(204);

      for (const key of [boundA, boundB]) {
        expectError(await get("/v1/limits", key.secret), 401, "auth_expired");
        expectError(await get(`/v1/instances/${instance.id}`, key.secret), 401, "auth_expired");
      }
      expect((await get("/v1/instances", unbound.secret)).statusCode).toBe(200);
      expect((await get(`/v1/instances/${other.id}`, boundElsewhere.secret)).statusCode).toBe(200);
    });

    it("sets revoked_at on the bound keys only, drops them from the key list, and audits each revocation", async () => {
      const instance = await createInstance(app, acme.secret, "doomed");
      const boundA = await issueKey(app, acme.secret, { name: "bound-a", instance_id: instance.id });
      const boundB = await issueKey(app, acme.secret, { name: "bound-b", instance_id: instance.id });
      const unbound = await issueKey(app, acme.secret, { name: "unbound" });

      const deleted = await del(`/v1/instances/${instance.id}`, acme.secret);
      expect(deleted.statusCode, deleted.body).toBe(204);
      const requestId = deleted.headers["x-request-id"];
      expect(requestId).toMatch(/^req_/);

      for (const key of [boundA, boundB]) {
        const response = await get(`/v1/api-keys/${key.id}`, acme.secret);
        expect(response.statusCode, response.body).toBe(200);
        const revokedAt = (response.json() as ApiKey).revoked_at;
        expect(revokedAt).toMatch(TIMESTAMP);
      }
      const unboundNow = await get(`/v1/api-keys/${unbound.id}`, acme.secret);
      expect((unboundNow.json() as ApiKey).revoked_at).toBeNull();

      const active = (await get("/v1/api-keys", acme.secret)).json() as ApiKey[];
      expect(active.map((key) => key.id).sort()).toEqual([acme.key.id, unbound.id].sort());

      const events = (await auditEvents(acme.secret)).filter((event) => event.request_id === requestId);
      const actor = { type: "api_key", id: acme.key.id, prefix: acme.key.prefix };
      const revoked = events.filter((event) => event.action === "api_key.revoked");
      expect(revoked.map((event) => event.target.id).sort()).toEqual([boundA.id, boundB.id].sort());
      for (const event of revoked) {
        expect(event.target.type).toBe("api_key");
        expect(event.actor).toEqual(actor);
      }
      const instanceDeleted = events.filter((event) => event.action === "instance.deleted");
      expect(instanceDeleted).toHaveLength(1);
      expect(instanceDeleted[0]!.target).toEqual({ type: "instance", id: instance.id });
      expect(instanceDeleted[0]!.actor).toEqual(actor);
      expect(events).toHaveLength(3);
    });

    it("revokes nothing when the delete is refused", async () => {
      const globex = await createTestCustomer(app, "Globex");
      const theirs = await createInstance(app, globex.secret, "theirs");
      const theirBound = await issueKey(app, globex.secret, { name: "bound", instance_id: theirs.id });
      expectError(await del(`/v1/instances/${theirs.id}`, acme.secret), 404, "instance_not_found");
      expect((await get(`/v1/instances/${theirs.id}`, theirBound.secret)).statusCode).toBe(200);
    });
  });
});

describe("instance-bound keys", () => {
  async function boundSetup() {
    const own = await createInstance(app, acme.secret, "own");
    const sibling = await createInstance(app, acme.secret, "sibling");
    const bound = await issueKey(app, acme.secret, { name: "bound", instance_id: own.id });
    return { own, sibling, bound };
  }

  it("may read their own instance", async () => {
    const { own, bound } = await boundSetup();
    const response = await get(`/v1/instances/${own.id}`, bound.secret);
    expect(response.statusCode, response.body).toBe(200);
    expect(response.json()).toEqual(own);
  });

  it("get 403 instance_access_denied on another instance of the same customer", async () => {
    const { sibling, bound } = await boundSetup();
    const body = expectError(await get(`/v1/instances/${sibling.id}`, bound.secret), 403, "instance_access_denied");
    expect(JSON.stringify(body)).not.toContain('"name":"sibling"');
  });

  it("get 404 instance_not_found on another customer's instance and on an unknown one", async () => {
    const { bound } = await boundSetup();
    const globex = await createTestCustomer(app, "Globex");
    const theirs = await createInstance(app, globex.secret, "theirs");
    expectError(await get(`/v1/instances/${theirs.id}`, bound.secret), 404, "instance_not_found");
    expectError(await get(`/v1/instances/${randomUUID()}`, bound.secret), 404, "instance_not_found");
  });

  it("get 400 validation_failed for an id that is not a UUID", async () => {
    const { bound } = await boundSetup();
    expectFieldRefused(await get("/v1/instances/not-a-uuid", bound.secret), "params.id");
  });

  it("change nothing when refused: no instance created, none deleted, no key issued or revoked", async () => {
    const { own, sibling, bound } = await boundSetup();
    await post("/v1/instances", bound.secret, { name: "sneaky" });
    await del(`/v1/instances/${own.id}`, bound.secret);
    await post("/v1/api-keys", bound.secret, { name: "sneaky" });
    await del(`/v1/api-keys/${bound.id}`, bound.secret);

    const instances = (await get("/v1/instances", acme.secret)).json() as Page<Instance>;
    expect(instances.data.map((instance) => instance.id)).toEqual([sibling.id, own.id]);
    const keys = (await get("/v1/api-keys", acme.secret)).json() as ApiKey[];
    expect(keys.map((key) => key.id).sort()).toEqual([acme.key.id, bound.id].sort());
  });

  it("may read GET /v1/limits", async () => {
    const { bound } = await boundSetup();
    const response = await get("/v1/limits", bound.secret);
    expect(response.statusCode, response.body).toBe(200);
    const body = response.json() as Limits;
    expect(Object.keys(body)).toEqual(["per_key", "per_customer"]);
    expect(Object.keys(body.per_key).sort()).toEqual(["limit", "remaining", "reset_at"]);
    expect(body.per_key.limit).toBe(10_000);
    expect(body.per_key.reset_at).toMatch(TIMESTAMP);
  });
});

describe("scopes on the instance routes", () => {
  it("a key without instances:write changes nothing: the refused create and delete leave the instances as they were", async () => {
    const instance = await createInstance(app, acme.secret, "main");
    const reader = await issueKey(app, acme.secret, { name: "reader", scopes: ["instances:read"] });
    expectError(await post("/v1/instances", reader.secret, { name: "x" }), 403, "insufficient_scope");
    expectError(await del(`/v1/instances/${instance.id}`, reader.secret), 403, "insufficient_scope");
    const instances = (await get("/v1/instances", acme.secret)).json() as Page<Instance>;
    expect(instances.data.map((listed) => listed.id)).toEqual([instance.id]);
  });
});
