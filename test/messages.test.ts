import { randomUUID } from "node:crypto";
import type { LightMyRequestResponse } from "fastify";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import type { App } from "../src/http/app-types.js";
import {
  bearer,
  buildTestApp,
  createInstance,
  createTestCustomer,
  expectError,
  issueKey,
  type TestCustomer,
  TIMESTAMP,
  UUID,
} from "./helpers/test-app.js";
import type { AcceptedMessage } from "@whatisup/client";

const ACCEPTED_FIELDS = ["client_ref", "created_at", "direction", "id", "instance_id", "status", "to", "type"];
const HELLO = { type: "text", to: "+15551234567", text: "hello" };
/** A character outside the Basic Multilingual Plane: one code point, two UTF-16 units. */
const EMOJI = "😀";

let app: App;
let acme: TestCustomer;

/** The messages stored before the test began: `storedMessages` leaves them out. */
let earlier: Set<string>;

// One app for the whole file (on PostgreSQL each app is a new schema, migrated), and a new
// customer for each test; what a test stored is what appeared in the table after it began.
beforeAll(async () => {
  app = await buildTestApp({ sandboxStepMs: 20, workerPollMs: 10, rateLimit: { burst: 10_000, refillPerSecond: 1 } });
});
afterAll(() => app.close());
beforeEach(async () => {
  earlier = new Set((await app.db.selectFrom("messages").select("id").execute()).map((row) => row.id));
  acme = await createTestCustomer(app, "Acme");
});

function send(instanceId: string, secret: string, payload: unknown): Promise<LightMyRequestResponse> {
  return app.inject({
    method: "POST",
    url: `/v1/instances/${instanceId}/messages`,
    headers: bearer(secret),
    payload: payload as object,
  });
}

/** Every message stored since the test began, whoever's it is. */
async function storedMessages() {
  const rows = await app.db.selectFrom("messages").selectAll().orderBy("id").execute();
  return rows.filter((row) => !earlier.has(row.id));
}

function expectFieldRefused(response: LightMyRequestResponse, field: string): void {
  const body = expectError(response, 400, "validation_failed");
  const fields = (body.error.details?.fields ?? []) as { field: string }[];
  expect(fields.map((problem) => problem.field)).toContain(field);
}

/** Puts an instance in another state, as a transport would (no API changes a status today). */
async function setStatus(instanceId: string, status: string): Promise<void> {
  await app.db.updateTable("instances").set({ status }).where("id", "=", instanceId).execute();
}

describe("POST /v1/instances/:id/messages", () => {
  it("answers 202 with exactly the accepted message, stored queued before the answer", async () => {
    const instance = await createInstance(app, acme.secret, "main");
    const response = await send(instance.id, acme.secret, { ...HELLO, client_ref: "order-42" });
    expect(response.statusCode, response.body).toBe(202);
    expect(response.headers["content-type"]).toMatch(/^application\/json/);
    expect(response.headers["x-request-id"]).toMatch(/^req_/);
    const message = response.json() as AcceptedMessage;
    expect(Object.keys(message).sort()).toEqual(ACCEPTED_FIELDS);
    expect(message).toMatchObject({
      instance_id: instance.id,
      direction: "outbound",
      to: "+15551234567",
      type: "text",
      status: "queued",
      client_ref: "order-42",
    });
    expect(message.id).toMatch(UUID);
    expect(message.created_at).toMatch(TIMESTAMP);

    const rows = await storedMessages();
    expect(rows).toHaveLength(1);
    const row = rows[0]!;
    expect(row).toMatchObject({
      id: message.id,
      customer_id: acme.customer.id,
      instance_id: instance.id,
      to: "+15551234567",
      type: "text",
      text: "hello",
      client_ref: "order-42",
      created_at: message.created_at,
      provider_message_id: null,
    });
    // The sandbox clock may already have moved it on; it never goes back.
    expect(["queued", "sent", "delivered", "read"]).toContain(row.status);
  });

  it("answers client_ref null when none was sent", async () => {
    const instance = await createInstance(app, acme.secret, "main");
    const response = await send(instance.id, acme.secret, HELLO);
    expect(response.statusCode, response.body).toBe(202);
    expect((response.json() as AcceptedMessage).client_ref).toBeNull();
  });

  it("never answers the text back", async () => {
    const instance = await createInstance(app, acme.secret, "main");
    const response = await send(instance.id, acme.secret, { ...HELLO, text: "the secret plan" });
    expect(response.statusCode).toBe(202);
    expect(response.body).not.toContain("the secret plan");
  });

  it.each([
    ["a to without +", { ...HELLO, to: "15551234567" }, "body.to"],
    ["a to of 7 digits", { ...HELLO, to: "+1234567" }, "body.to"],
    ["a to of 16 digits", { ...HELLO, to: "+1234567890123456" }, "body.to"],
    ["a to whose first digit is 0", { ...HELLO, to: "+05551234567" }, "body.to"],
    ["a to with spaces", { ...HELLO, to: "+1 555 123 4567" }, "body.to"],
    ["a to that is a number", { ...HELLO, to: 15551234567 }, "body.to"],
    ["a missing to", { type: "text", text: "hello" }, "body.to"],
    ["an empty text", { ...HELLO, text: "" }, "body.text"],
    ["a text of 4097 code points", { ...HELLO, text: EMOJI.repeat(4097) }, "body.text"],
    ["a text of 4097 ASCII characters", { ...HELLO, text: "a".repeat(4097) }, "body.text"],
    ["a missing text", { type: "text", to: "+15551234567" }, "body.text"],
    ["a client_ref of 101 characters", { ...HELLO, client_ref: "r".repeat(101) }, "body.client_ref"],
    ["a client_ref that is not a string", { ...HELLO, client_ref: 42 }, "body.client_ref"],
    ["an unknown field", { ...HELLO, priority: "high" }, "body.priority"],
    ["an unknown type", { ...HELLO, type: "sticker" }, "body.type"],
    ["a missing type", { to: "+15551234567", text: "hello" }, "body.type"],
  ])("refuses %s: 400 validation_failed naming the field, nothing stored", async (_label, payload, field) => {
    const instance = await createInstance(app, acme.secret, "main");
    expectFieldRefused(await send(instance.id, acme.secret, payload), field);
    expect(await storedMessages()).toEqual([]);
  });

  it("lists the allowed types when the type is unknown", async () => {
    const instance = await createInstance(app, acme.secret, "main");
    const body = expectError(await send(instance.id, acme.secret, { ...HELLO, type: "sticker" }), 400, "validation_failed");
    expect(body.error.details?.fields).toEqual([
      { field: "body.type", message: expect.any(String), allowed: ["text", "image", "document", "audio", "video", "template"] },
    ]);
  });

  it.each([
    ["a text of 4096 emoji (4096 code points, 8192 UTF-16 units)", { ...HELLO, text: EMOJI.repeat(4096) }],
    ["a text of one character", { ...HELLO, text: "x" }],
    ["a to of 8 digits", { ...HELLO, to: "+12345678" }],
    ["a to of 15 digits", { ...HELLO, to: "+123456789012345" }],
    ["a client_ref of 100 characters", { ...HELLO, client_ref: "r".repeat(100) }],
  ])("accepts %s", async (_label, payload) => {
    const instance = await createInstance(app, acme.secret, "main");
    const response = await send(instance.id, acme.secret, payload);
    expect(response.statusCode, response.body).toBe(202);
    const rows = await storedMessages();
    expect(rows).toHaveLength(1);
    expect(rows[0]!.text).toBe(payload.text);
  });

  it("refuses a body that is not JSON: 415", async () => {
    const instance = await createInstance(app, acme.secret, "main");
    const response = await app.inject({
      method: "POST",
      url: `/v1/instances/${instance.id}/messages`,
      headers: { ...bearer(acme.secret), "content-type": "text/plain" },
      payload: "hello",
    });
    expectError(response, 415, "unsupported_media_type");
  });

  it("refuses an id that is not a UUID: 400 naming params.id", async () => {
    expectFieldRefused(await send("not-a-uuid", acme.secret, HELLO), "params.id");
  });
});

describe("the order of checks: authentication, instance, body, instance state", () => {
  const BAD_BODY = { type: "sticker", to: "5551234567", text: "" };

  it("an unknown instance with a bad body: 404 instance_not_found, not 400", async () => {
    expectError(await send(randomUUID(), acme.secret, BAD_BODY), 404, "instance_not_found");
  });

  it("an unknown instance with a body that is not even JSON: 404 instance_not_found", async () => {
    const response = await app.inject({
      method: "POST",
      url: `/v1/instances/${randomUUID()}/messages`,
      headers: { ...bearer(acme.secret), "content-type": "application/json" },
      payload: "{not json",
    });
    expectError(response, 404, "instance_not_found");
  });

  it("another customer's instance with a bad body or a good one: 404 instance_not_found, nothing stored", async () => {
    const globex = await createTestCustomer(app, "Globex");
    const theirs = await createInstance(app, globex.secret, "theirs");
    expectError(await send(theirs.id, acme.secret, BAD_BODY), 404, "instance_not_found");
    expectError(await send(theirs.id, acme.secret, HELLO), 404, "instance_not_found");
    expect(await storedMessages()).toEqual([]);
  });

  it("a deleted instance: 404 instance_not_found", async () => {
    const instance = await createInstance(app, acme.secret, "doomed");
    const deleted = await app.inject({ method: "DELETE", url: `/v1/instances/${instance.id}`, headers: bearer(acme.secret) });
    expect(deleted.statusCode).toBe(204);
    expectError(await send(instance.id, acme.secret, HELLO), 404, "instance_not_found");
    expectError(await send(instance.id, acme.secret, BAD_BODY), 404, "instance_not_found");
  });

  it("a bound key on another instance of its customer with a bad body: 403 instance_access_denied", async () => {
    const own = await createInstance(app, acme.secret, "own");
    const sibling = await createInstance(app, acme.secret, "sibling");
    const bound = await issueKey(app, acme.secret, { name: "bound", instance_id: own.id });
    const body = expectError(await send(sibling.id, bound.secret, BAD_BODY), 403, "instance_access_denied");
    expect(body.error.details).toEqual({ instance_id: own.id });
    expectError(await send(sibling.id, bound.secret, HELLO), 403, "instance_access_denied");
    expect(await storedMessages()).toEqual([]);
  });

  it("a bound key on another customer's instance or an unknown one: 404 instance_not_found", async () => {
    const own = await createInstance(app, acme.secret, "own");
    const bound = await issueKey(app, acme.secret, { name: "bound", instance_id: own.id });
    const globex = await createTestCustomer(app, "Globex");
    const theirs = await createInstance(app, globex.secret, "theirs");
    expectError(await send(theirs.id, bound.secret, BAD_BODY), 404, "instance_not_found");
    expectError(await send(randomUUID(), bound.secret, BAD_BODY), 404, "instance_not_found");
  });

  it.each(["pending", "qr", "connecting", "disconnected", "failed"])(
    "a %s instance: 400 for a bad body, then 409 instance_unavailable for a good one, nothing stored",
    async (status) => {
      const instance = await createInstance(app, acme.secret, "main");
      await setStatus(instance.id, status);
      expectFieldRefused(await send(instance.id, acme.secret, BAD_BODY), "body.type");
      const body = expectError(await send(instance.id, acme.secret, HELLO), 409, "instance_unavailable");
      expect(body.error.details).toEqual({ instance_id: instance.id, status });
      expect(await storedMessages()).toEqual([]);
    },
  );
});

describe("keys and scopes", () => {
  it("needs messages:send: a key without it is 403 insufficient_scope, even with every other scope", async () => {
    const instance = await createInstance(app, acme.secret, "main");
    const others = await issueKey(app, acme.secret, {
      name: "no-send",
      scopes: ["instances:read", "instances:write", "api_keys:read", "webhooks:write", "deliveries:read"],
    });
    const body = expectError(await send(instance.id, others.secret, HELLO), 403, "insufficient_scope");
    expect(body.error.details).toEqual({ required: "messages:send" });
    expect(await storedMessages()).toEqual([]);
  });

  it("a key bound to an instance sends from that instance: 202", async () => {
    const own = await createInstance(app, acme.secret, "own");
    const bound = await issueKey(app, acme.secret, { name: "bound", instance_id: own.id, scopes: ["messages:send"] });
    const response = await send(own.id, bound.secret, HELLO);
    expect(response.statusCode, response.body).toBe(202);
    expect((response.json() as AcceptedMessage).instance_id).toBe(own.id);
    const rows = await storedMessages();
    expect(rows.map((row) => row.instance_id)).toEqual([own.id]);
  });

  it("an unbound key sends from any instance of its customer", async () => {
    const first = await createInstance(app, acme.secret, "first");
    const second = await createInstance(app, acme.secret, "second");
    expect((await send(first.id, acme.secret, HELLO)).statusCode).toBe(202);
    expect((await send(second.id, acme.secret, HELLO)).statusCode).toBe(202);
    const rows = await storedMessages();
    expect(rows.map((row) => row.instance_id).sort()).toEqual([first.id, second.id].sort());
  });
});
