import { randomUUID } from "node:crypto";
import type { LightMyRequestResponse } from "fastify";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import type { FieldProblem } from "../src/errors/app-error.js";
import type { App } from "../src/http/app-types.js";
import { bearer, buildTestApp, createInstance, createTestCustomer, expectError, issueKey, type TestCustomer } from "./helpers/test-app.js";
import { rowCounts } from "./helpers/test-database.js";

/**
 * Idempotency-Key on the message routes (issue 15): the case the issue starts from, a client
 * that retries a timed-out send, sends once. The key's general rules: test/idempotency.test.ts.
 */

const TABLES = ["messages", "audit_events", "webhook_deliveries", "idempotency_keys"];
const SEND = { type: "text", to: "+15551234567", text: "Your order has shipped", client_ref: "order-42" };

let app: App;
let acme: TestCustomer;
let instanceId: string;

beforeAll(async () => {
  // The sandbox clock stays still: the rows counted are the requests' own.
  app = await buildTestApp({ sandboxStepMs: 3_600_000, rateLimit: { burst: 100_000, refillPerSecond: 100_000 } });
});
afterAll(() => app.close());
beforeEach(async () => {
  acme = await createTestCustomer(app, "Acme");
  instanceId = (await createInstance(app, acme.secret)).id;
  // A subscribed endpoint, so that a second send would show as a second delivery too.
  const endpoint = await app.inject({
    method: "POST",
    url: "/v1/webhook-endpoints",
    headers: bearer(acme.secret),
    payload: { url: "https://example.com/hooks", events: ["*"] },
  });
  if (endpoint.statusCode !== 201) {
    // The destination guard resolves example.com: without DNS, the deliveries are not counted.
    expectError(endpoint, 400, "validation_failed");
  }
});

function send(payload: unknown, key: string | undefined, secret = acme.secret, instance = instanceId): Promise<LightMyRequestResponse> {
  const headers: Record<string, string> = bearer(secret);
  if (key !== undefined) headers["idempotency-key"] = key;
  return app.inject({ method: "POST", url: `/v1/instances/${instance}/messages`, headers, payload: payload as object });
}

function inbound(payload: unknown, key: string | undefined): Promise<LightMyRequestResponse> {
  const headers: Record<string, string> = bearer(acme.secret);
  if (key !== undefined) headers["idempotency-key"] = key;
  return app.inject({ method: "POST", url: `/v1/instances/${instanceId}/sandbox/inbound`, headers, payload: payload as object });
}

function counts(): Promise<Record<string, number>> {
  return rowCounts(app.db, TABLES, acme.customer.id);
}

describe("POST /v1/instances/:id/messages with an Idempotency-Key", () => {
  it("a retried send sends once: the retry gets the same 202 and body, Idempotent-Replayed, and nothing more is queued", async () => {
    const key = randomUUID();
    const first = await send(SEND, key);
    expect(first.statusCode, first.body).toBe(202);
    expect(first.headers["idempotent-replayed"]).toBeUndefined();
    const after = await counts();
    expect(after).toMatchObject({ messages: 1, idempotency_keys: 1 });

    for (let retry = 0; retry < 3; retry += 1) {
      const again = await send(SEND, key);
      expect(again.statusCode).toBe(202);
      expect(again.headers["idempotent-replayed"]).toBe("true");
      expect(again.json()).toEqual(first.json());
    }
    expect(await counts()).toEqual(after);
    const messages = await app.db.selectFrom("messages").select("id").where("customer_id", "=", acme.customer.id).execute();
    expect(messages.map((message) => message.id)).toEqual([first.json().id]);
  });

  it("two sends with two keys, or none, are two messages", async () => {
    expect((await send(SEND, randomUUID())).statusCode).toBe(202);
    expect((await send(SEND, randomUUID())).statusCode).toBe(202);
    expect((await send(SEND, undefined)).statusCode).toBe(202);
    expect((await counts()).messages).toBe(3);
  });

  it("the same key with another text, recipient or instance is 422 idempotency_key_reused, and nothing is sent", async () => {
    const key = randomUUID();
    expect((await send(SEND, key)).statusCode).toBe(202);
    const other = (await createInstance(app, acme.secret, "second")).id;
    const before = await counts();
    expectError(await send({ ...SEND, text: "Your order has NOT shipped" }, key), 422, "idempotency_key_reused");
    expectError(await send({ ...SEND, to: "+15557654321" }, key), 422, "idempotency_key_reused");
    expectError(await send(SEND, key, acme.secret, other), 422, "idempotency_key_reused");
    expect(await counts()).toEqual(before);
  });

  it("a send refused at first (a refused media URL) leaves the key free for the corrected send", async () => {
    const key = randomUUID();
    const refused = await send({ type: "image", to: "+15551234567", media: { url: "https://127.0.0.1/cat.png" } }, key);
    const problems = (expectError(refused, 400, "validation_failed").error.details as { fields: FieldProblem[] }).fields;
    expect(problems.map((problem) => problem.field)).toEqual(["body.media.url"]);
    expect(await counts()).toMatchObject({ messages: 0, idempotency_keys: 0 });

    const corrected = await send(SEND, key);
    expect(corrected.statusCode, corrected.body).toBe(202);
    expect(corrected.headers["idempotent-replayed"]).toBeUndefined();
    expect((await send(SEND, key)).headers["idempotent-replayed"]).toBe("true");
    expect((await counts()).messages).toBe(1);
  });

  it("an unknown instance is 404 with or without the key, and claims nothing", async () => {
    expectError(await send(SEND, "k-1", acme.secret, randomUUID()), 404, "instance_not_found");
    expect((await counts()).idempotency_keys).toBe(0);
  });

  it("a retry through another key of the customer is the same send", async () => {
    const bound = await issueKey(app, acme.secret, { name: "bound", instance_id: instanceId, scopes: ["messages:send"] });
    const key = randomUUID();
    const first = await send(SEND, key, bound.secret);
    const again = await send(SEND, key);
    expect(first.statusCode).toBe(202);
    expect(again.headers["idempotent-replayed"]).toBe("true");
    expect(again.json()).toEqual(first.json());
  });
});

describe("POST /v1/instances/:id/sandbox/inbound with an Idempotency-Key", () => {
  it("a retry receives the message once: same 201 and body, Idempotent-Replayed", async () => {
    const key = randomUUID();
    const body = { from: "+15557654321", text: "Where is my order?" };
    const first = await inbound(body, key);
    expect(first.statusCode, first.body).toBe(201);
    const after = await counts();
    const again = await inbound(body, key);
    expect(again.statusCode).toBe(201);
    expect(again.headers["idempotent-replayed"]).toBe("true");
    expect(again.json()).toEqual(first.json());
    expect(await counts()).toEqual(after);
    expectError(await inbound({ ...body, text: "Hello?" }, key), 422, "idempotency_key_reused");
  });
});
