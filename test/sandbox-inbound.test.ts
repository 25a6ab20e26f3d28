import { randomUUID } from "node:crypto";
import type { LightMyRequestResponse } from "fastify";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import type { Message } from "../src/contract/message.js";
import type { EventEnvelope } from "../src/contract/webhook-event.js";
import { verifyWebhookSignature } from "../src/crypto/webhook-signature.js";
import type { App } from "../src/http/app-types.js";
import { FakeCloudApi } from "./helpers/fake-cloud-api.js";
import {
  bearer,
  buildTestApp,
  createInstance,
  createTestCustomer,
  expectError,
  issueKey,
  TIMESTAMP,
  type TestCustomer,
  UUID,
} from "./helpers/test-app.js";
import { rowCounts } from "./helpers/test-database.js";
import { FAST_WEBHOOKS, insertEndpoint, waitFor } from "./helpers/webhook-fixtures.js";
import { WebhookReceiver } from "./helpers/webhook-receiver.js";
import { MESSAGE_FIELDS } from "./helpers/message-fields.js";

const SENDER = "+15557654321";
const WRITTEN_TABLES = ["messages", "webhook_deliveries", "audit_events"];

let fake: FakeCloudApi;
let app: App;
let acme: TestCustomer;

// One app for the file, with the fake Cloud API for a cloud_api instance, loopback allowed for
// the local webhook receiver, and a fast sandbox clock; a new customer for each test.
beforeAll(async () => {
  fake = await new FakeCloudApi().start();
  app = await buildTestApp({
    cloudApi: fake.config(),
    webhooks: FAST_WEBHOOKS,
    workerPollMs: 10,
    sandboxStepMs: 20,
    rateLimit: { burst: 100_000, refillPerSecond: 1 },
  });
});
afterAll(async () => {
  await app.close();
  await fake.close();
});
beforeEach(async () => {
  acme = await createTestCustomer(app, "Acme");
});

function inbound(instanceId: string, payload: unknown, secret = acme.secret): Promise<LightMyRequestResponse> {
  return app.inject({
    method: "POST",
    url: `/v1/instances/${instanceId}/sandbox/inbound`,
    headers: bearer(secret),
    payload: payload as object,
  });
}

async function received(instanceId: string, payload: Record<string, unknown>): Promise<Message> {
  const response = await inbound(instanceId, payload);
  expect(response.statusCode, response.body).toBe(201);
  return response.json();
}

async function send(instanceId: string): Promise<string> {
  const response = await app.inject({
    method: "POST",
    url: `/v1/instances/${instanceId}/messages`,
    headers: bearer(acme.secret),
    payload: { type: "text", to: SENDER, text: "Your order has shipped." },
  });
  expect(response.statusCode, response.body).toBe(202);
  return (response.json() as { id: string }).id;
}

async function readBack(instanceId: string, path: string): Promise<LightMyRequestResponse> {
  return app.inject({ method: "GET", url: `/v1/instances/${instanceId}/messages${path}`, headers: bearer(acme.secret) });
}

function expectFieldRefused(response: LightMyRequestResponse, field: string): void {
  const body = expectError(response, 400, "validation_failed");
  const fields = (body.error.details?.fields ?? []) as { field: string }[];
  expect(fields.map((problem) => problem.field), response.body).toContain(field);
}

async function cloudInstance(): Promise<{ id: string }> {
  const response = await app.inject({
    method: "POST",
    url: "/v1/instances",
    headers: bearer(acme.secret),
    payload: { name: "cloud", transport: "cloud_api", phone_number_id: "106540352242922" },
  });
  expect(response.statusCode, response.body).toBe(201);
  return response.json();
}

describe("POST /v1/instances/:id/sandbox/inbound", () => {
  it("answers 201 with the inbound Message, delivers message.received with it as data, and reads it back", async () => {
    const instance = await createInstance(app, acme.secret, "main");
    const hooks = await WebhookReceiver.start([200]);
    try {
      const endpoint = await insertEndpoint(app.db, acme.customer.id, { url: hooks.url(), events: ["message.received"] });
      const response = await inbound(instance.id, { from: SENDER, text: "Where is my order?" });
      expect(response.statusCode, response.body).toBe(201);
      expect(response.headers["content-type"]).toMatch(/^application\/json/);
      const message = response.json() as Message;
      expect(Object.keys(message).sort()).toEqual(MESSAGE_FIELDS);
      expect(message).toEqual({
        id: expect.stringMatching(UUID),
        instance_id: instance.id,
        direction: "inbound",
        from: SENDER,
        // A sandbox instance has no number of its own.
        to: null,
        type: "text",
        text: "Where is my order?",
        media: null,
        template: null,
        status: "received",
        client_ref: null,
        error: null,
        reply_to: null,
        sent_at: null,
        delivered_at: null,
        read_at: null,
        failed_at: null,
        received_at: expect.stringMatching(TIMESTAMP),
        created_at: expect.stringMatching(TIMESTAMP),
        updated_at: message.created_at,
      });
      // Received as it was posted, and stored at once.
      expect(Date.parse(message.created_at) - Date.parse(message.received_at!)).toBeGreaterThanOrEqual(0);
      expect(Date.parse(message.created_at) - Date.parse(message.received_at!)).toBeLessThan(5_000);

      const delivery = await waitFor(() => hooks.requests[0], "the delivery of message.received");
      expect(verifyWebhookSignature(endpoint.secret, delivery.headers["x-whatisup-signature"] as string, delivery.rawBody)).toBe(true);
      const envelope = JSON.parse(delivery.rawBody) as Omit<EventEnvelope, "data"> & { data: Message };
      expect(envelope).toMatchObject({ event: "message.received", instance_id: instance.id });
      // data is the message itself, not wrapped in {"message": …}.
      expect(envelope.data).toEqual(message);

      const listed = await readBack(instance.id, "?direction=inbound");
      expect(listed.statusCode, listed.body).toBe(200);
      expect(listed.json()).toEqual({ data: [message], next_cursor: null });
      expect((await readBack(instance.id, "?direction=outbound")).json()).toEqual({ data: [], next_cursor: null });
      const one = await readBack(instance.id, `/${message.id}`);
      expect(one.statusCode, one.body).toBe(200);
      expect(one.json()).toEqual(message);
    } finally {
      await hooks.close();
    }
  });

  it("never moves an inbound message: the sandbox clock leaves it received", async () => {
    const instance = await createInstance(app, acme.secret, "main");
    const message = await received(instance.id, { from: SENDER, text: "hello" });
    const outbound = await send(instance.id);
    await expect.poll(async () => ((await readBack(instance.id, `/${outbound}`)).json() as Message).status, { timeout: 10_000 }).toBe("read");
    expect((await readBack(instance.id, `/${message.id}`)).json()).toEqual(message);
  });

  it("receives media: the message carries it, and the sandbox fetches nothing", async () => {
    const instance = await createInstance(app, acme.secret, "main");
    const media = { url: "https://93.184.215.14/aloe.jpg", caption: "The aloe, as it arrived", mime_type: "image/jpeg" };
    const message = await received(instance.id, { from: SENDER, type: "image", media });
    expect(message).toMatchObject({
      type: "image",
      text: null,
      status: "received",
      media: { ...media, filename: null, provider_media_id: null },
    });
    const document = await received(instance.id, {
      from: SENDER,
      type: "document",
      media: { url: "https://93.184.215.14/r.pdf", filename: "receipt.pdf" },
    });
    expect(document.media).toEqual({ url: "https://93.184.215.14/r.pdf", caption: null, filename: "receipt.pdf", mime_type: null, provider_media_id: null });
  });

  it("quotes an outbound message of the instance with reply_to, carried in message.received", async () => {
    const instance = await createInstance(app, acme.secret, "main");
    const outbound = await send(instance.id);
    const reply = await received(instance.id, { from: SENDER, text: "Thanks!", reply_to: outbound });
    expect(reply.reply_to).toBe(outbound);
    const upper = await received(instance.id, { from: SENDER, text: "Again", reply_to: outbound.toUpperCase() });
    expect(upper.reply_to).toBe(outbound);
    const row = await app.db
      .selectFrom("webhook_deliveries")
      .select("payload")
      .where("customer_id", "=", acme.customer.id)
      .where("event", "=", "message.received")
      .execute();
    // No endpoint, no delivery: the event is written only for endpoints that subscribe.
    expect(row).toEqual([]);
    expect(((await readBack(instance.id, `/${reply.id}`)).json() as Message).reply_to).toBe(outbound);
  });

  it.each([
    ["an outbound message of another instance", "sibling"],
    ["an inbound message of this instance", "inbound"],
    ["a message that does not exist", "unknown"],
    ["another customer's message", "globex"],
  ])("refuses reply_to naming %s: 400 body.reply_to, nothing stored", async (_label, which) => {
    const instance = await createInstance(app, acme.secret, "main");
    let quoted: string;
    if (which === "sibling") quoted = await send((await createInstance(app, acme.secret, "sibling")).id);
    else if (which === "inbound") quoted = (await received(instance.id, { from: SENDER, text: "first" })).id;
    else if (which === "unknown") quoted = randomUUID();
    else {
      const globex = await createTestCustomer(app, "Globex");
      const theirs = await createInstance(app, globex.secret, "globex");
      const response = await app.inject({
        method: "POST",
        url: `/v1/instances/${theirs.id}/messages`,
        headers: bearer(globex.secret),
        payload: { type: "text", to: SENDER, text: "hi" },
      });
      quoted = (response.json() as { id: string }).id;
    }
    const before = await rowCounts(app.db, WRITTEN_TABLES, acme.customer.id);
    expectFieldRefused(await inbound(instance.id, { from: SENDER, text: "hi", reply_to: quoted }), "body.reply_to");
    expect(await rowCounts(app.db, WRITTEN_TABLES, acme.customer.id)).toEqual(before);
  });

  it.each([
    ["a from that is not E.164", { from: "15557654321", text: "hi" }, "body.from"],
    ["a from with spaces", { from: "+1 555 765 4321", text: "hi" }, "body.from"],
    ["a missing from", { text: "hi" }, "body.from"],
    ["a missing text", { from: SENDER }, "body.text"],
    ["an empty text", { from: SENDER, text: "" }, "body.text"],
    ["a text of 4097 characters", { from: SENDER, text: "a".repeat(4097) }, "body.text"],
    ["media on a text", { from: SENDER, text: "hi", media: { url: "https://93.184.215.14/a.jpg" } }, "body.media"],
    ["an image without media", { from: SENDER, type: "image" }, "body.media"],
    ["an image with text", { from: SENDER, type: "image", text: "hi", media: { url: "https://93.184.215.14/a.jpg" } }, "body.text"],
    ["type template", { from: SENDER, type: "template", text: "hi" }, "body.type"],
    ["an unknown type", { from: SENDER, type: "sticker", text: "hi" }, "body.type"],
    ["a media url that is not http(s)", { from: SENDER, type: "image", media: { url: "ftp://93.184.215.14/a.jpg" } }, "body.media.url"],
    ["a malformed mime_type", { from: SENDER, type: "image", media: { url: "https://93.184.215.14/a.jpg", mime_type: "jpeg" } }, "body.media.mime_type"],
    ["a reply_to that is not a UUID", { from: SENDER, text: "hi", reply_to: "msg-1" }, "body.reply_to"],
    ["an unknown field", { from: SENDER, text: "hi", client_ref: "x" }, "body.client_ref"],
  ])("refuses %s: 400 naming the field, nothing stored", async (_label, payload, field) => {
    const instance = await createInstance(app, acme.secret, "main");
    const before = await rowCounts(app.db, WRITTEN_TABLES, acme.customer.id);
    expectFieldRefused(await inbound(instance.id, payload), field);
    expect(await rowCounts(app.db, WRITTEN_TABLES, acme.customer.id)).toEqual(before);
  });
});

describe("which instances, keys and scopes", () => {
  it("a cloud_api instance: 409 instance_not_sandbox, nothing stored, nothing sent to the Cloud API", async () => {
    const cloud = await cloudInstance();
    const requests = fake.requests.length;
    const before = await rowCounts(app.db, WRITTEN_TABLES, acme.customer.id);
    const body = expectError(await inbound(cloud.id, { from: SENDER, text: "hi" }), 409, "instance_not_sandbox");
    expect(body.error.details).toEqual({ instance_id: cloud.id, transport: "cloud_api" });
    expect(await rowCounts(app.db, WRITTEN_TABLES, acme.customer.id)).toEqual(before);
    expect(fake.requests.length).toBe(requests);
  });

  it("an unknown, deleted or other customer's instance: 404 instance_not_found, even with a bad body", async () => {
    const doomed = await createInstance(app, acme.secret, "doomed");
    expect((await app.inject({ method: "DELETE", url: `/v1/instances/${doomed.id}`, headers: bearer(acme.secret) })).statusCode).toBe(204);
    const globex = await createTestCustomer(app, "Globex");
    const theirs = await createInstance(app, globex.secret, "globex");
    for (const id of [randomUUID(), doomed.id, theirs.id]) {
      expectError(await inbound(id, { from: SENDER, text: "hi" }), 404, "instance_not_found");
      expectError(await inbound(id, { from: "nope" }), 404, "instance_not_found");
    }
    expect(await rowCounts(app.db, ["messages"], globex.customer.id)).toEqual({ messages: 0 });
  });

  it("needs messages:send: a key holding only messages:read is 403 insufficient_scope; one holding messages:send is 201", async () => {
    const instance = await createInstance(app, acme.secret, "main");
    const reader = await issueKey(app, acme.secret, { name: "reader", scopes: ["messages:read"] });
    const refused = expectError(await inbound(instance.id, { from: SENDER, text: "hi" }, reader.secret), 403, "insufficient_scope");
    expect(refused.error.details).toEqual({ required: "messages:send" });
    const sender = await issueKey(app, acme.secret, { name: "sender", scopes: ["messages:send"] });
    expect((await inbound(instance.id, { from: SENDER, text: "hi" }, sender.secret)).statusCode).toBe(201);
  });

  it("a bound key plays its own instance's other side; another instance's: 403 instance_access_denied, nothing stored", async () => {
    const own = await createInstance(app, acme.secret, "own");
    const sibling = await createInstance(app, acme.secret, "sibling");
    const bound = await issueKey(app, acme.secret, { name: "bound", instance_id: own.id, scopes: ["messages:send"] });
    const ok = await inbound(own.id, { from: SENDER, text: "hi" }, bound.secret);
    expect(ok.statusCode, ok.body).toBe(201);
    expect((ok.json() as Message).instance_id).toBe(own.id);
    const before = await rowCounts(app.db, WRITTEN_TABLES, acme.customer.id);
    const denied = expectError(await inbound(sibling.id, { from: SENDER, text: "hi" }, bound.secret), 403, "instance_access_denied");
    expect(denied.error.details).toEqual({ instance_id: own.id });
    expect(await rowCounts(app.db, WRITTEN_TABLES, acme.customer.id)).toEqual(before);
  });

  it("a message.received reaches only endpoints subscribed to it and to that instance", async () => {
    const instance = await createInstance(app, acme.secret, "main");
    const sibling = await createInstance(app, acme.secret, "sibling");
    const everything = await insertEndpoint(app.db, acme.customer.id, { url: "https://hooks.example.com/all", events: ["*"] });
    const received_ = await insertEndpoint(app.db, acme.customer.id, { url: "https://hooks.example.com/received", events: ["message.received"] });
    await insertEndpoint(app.db, acme.customer.id, { url: "https://hooks.example.com/sent", events: ["message.sent"] });
    await insertEndpoint(app.db, acme.customer.id, { url: "https://hooks.example.com/sibling", events: ["*"], instanceId: sibling.id });
    const message = await received(instance.id, { from: SENDER, text: "hi" });
    const rows = await app.db
      .selectFrom("webhook_deliveries")
      .select(["endpoint_id", "payload"])
      .where("customer_id", "=", acme.customer.id)
      .where("event", "=", "message.received")
      .execute();
    expect(rows.map((row) => row.endpoint_id).sort()).toEqual([everything.id, received_.id].sort());
    for (const row of rows) expect((JSON.parse(row.payload) as { data: Message }).data).toEqual(message);
  });
});
