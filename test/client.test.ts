import {
  createClient,
  type AcceptedMessage,
  type ApiKey,
  type ApiKeyUsage,
  type AuditEvent,
  type components,
  type CreatedWebhookEndpoint,
  type EventEnvelope,
  type ErrorEnvelope,
  type Instance,
  type IssuedApiKey,
  type Limits,
  type Message,
  type MessageMedia,
  type MessageReceivedEvent,
  type MessageTemplate,
  type SendMessageBody,
  type WebhookEvent,
  type WebhookDelivery,
  type WebhookEndpoint,
  type WhatIsUpClient,
} from "@whatisup/client";
import { afterAll, beforeAll, describe, expect, expectTypeOf, it } from "vitest";
import type { App } from "../src/http/app-types.js";
import { buildTestApp, createTestCustomer, FULL_KEY, type TestCustomer } from "./helpers/test-app.js";

/**
 * The package's typed client, imported as a consumer would ("@whatisup/client", through the
 * package's exports: the compiled dist/, which `npm test` builds first), against a server on a
 * real socket.
 */

type Result = { error?: unknown; response: Response };

/** The error envelope, as the client hands it over, with its status and headers. */
function expectRefusal(result: Result, status: number, code: ErrorEnvelope["error"]["code"]): ErrorEnvelope {
  expect(result.response.status).toBe(status);
  expect(result.response.headers.get("content-type")).toMatch(/^application\/json/);
  const envelope = result.error as ErrorEnvelope;
  expect(Object.keys(envelope).sort()).toEqual(["error", "request_id"]);
  expect(envelope.error.code).toBe(code);
  expect(envelope.error.message.length).toBeGreaterThan(0);
  expect(envelope.request_id).toMatch(/^req_/);
  expect(result.response.headers.get("x-request-id")).toBe(envelope.request_id);
  return envelope;
}

it("names the API's resources as types (none of them empty)", () => {
  expectTypeOf<ApiKey>().toHaveProperty("prefix").toEqualTypeOf<string>();
  expectTypeOf<ApiKey>().not.toHaveProperty("secret");
  expectTypeOf<IssuedApiKey>().toExtend<ApiKey>();
  expectTypeOf<Instance>().toHaveProperty("status");
  expectTypeOf<AuditEvent>().toHaveProperty("action");
  expectTypeOf<WebhookEndpoint>().toHaveProperty("url");
  expectTypeOf<WebhookDelivery>().toHaveProperty("attempt_count");
  expectTypeOf<ErrorEnvelope>().toHaveProperty("request_id");
  expectTypeOf<Message>().toHaveProperty("direction").toEqualTypeOf<"outbound" | "inbound">();
  expectTypeOf<Message>().toHaveProperty("read_at").toEqualTypeOf<string | null>();
  expectTypeOf<MessageReceivedEvent>().toHaveProperty("data").toEqualTypeOf<Message>();
  expectTypeOf<SendMessageBody>().toHaveProperty("type").toEqualTypeOf<"text" | "image" | "document" | "audio" | "video" | "template">();
});

it("takes those names from the document's component schemas, so that every generator agrees on them", () => {
  type Schemas = components["schemas"];
  expectTypeOf<ApiKey>().toEqualTypeOf<Schemas["ApiKey"]>();
  expectTypeOf<IssuedApiKey>().toEqualTypeOf<Schemas["IssuedApiKey"]>();
  expectTypeOf<Instance>().toEqualTypeOf<Schemas["Instance"]>();
  expectTypeOf<AuditEvent>().toEqualTypeOf<Schemas["AuditEvent"]>();
  expectTypeOf<WebhookEndpoint>().toEqualTypeOf<Schemas["WebhookEndpoint"]>();
  expectTypeOf<CreatedWebhookEndpoint>().toEqualTypeOf<Schemas["CreatedWebhookEndpoint"]>();
  expectTypeOf<WebhookDelivery>().toEqualTypeOf<Schemas["WebhookDelivery"]>();
  expectTypeOf<EventEnvelope>().toEqualTypeOf<Schemas["EventEnvelope"]>();
  expectTypeOf<AcceptedMessage>().toEqualTypeOf<Schemas["AcceptedMessage"]>();
  expectTypeOf<Message>().toEqualTypeOf<Schemas["Message"]>();
  expectTypeOf<MessageMedia>().toEqualTypeOf<Schemas["MessageMedia"]>();
  expectTypeOf<MessageTemplate>().toEqualTypeOf<Schemas["MessageTemplate"]>();
  expectTypeOf<MessageReceivedEvent>().toEqualTypeOf<Schemas["MessageReceivedEvent"]>();
  // The event narrowed by its name is that same type: what verifyWebhookSignature resolves to.
  expectTypeOf<Extract<WebhookEvent, { event: "message.received" }>>().toEqualTypeOf<MessageReceivedEvent>();
  expectTypeOf<Limits>().toEqualTypeOf<Schemas["Limits"]>();
  expectTypeOf<ApiKeyUsage>().toEqualTypeOf<Schemas["ApiKeyUsage"]>();
  expectTypeOf<ErrorEnvelope>().toEqualTypeOf<Schemas["Error"]>();
});

describe("whatisup/client against a running server", () => {
  let app: App;
  let owner: TestCustomer;
  let baseUrl: string;
  let client: WhatIsUpClient;

  beforeAll(async () => {
    app = await buildTestApp();
    owner = await createTestCustomer(app);
    baseUrl = await app.listen({ port: 0, host: "127.0.0.1" });
    client = createClient({ baseUrl, apiKey: owner.secret });
  });

  afterAll(() => app?.close());

  it("lists, issues, gets and revokes a key; the revoked key is then refused with auth_expired", async () => {
    const listed = await client.GET("/v1/api-keys");
    expect(listed.response.status).toBe(200);
    expect(listed.error).toBeUndefined();
    expect(listed.data?.map((key) => key.id)).toEqual([owner.key.id]);

    const issued = await client.POST("/v1/api-keys", { body: { name: "sdk", scopes: ["api_keys:read"] } });
    expect(issued.response.status).toBe(201);
    expect(issued.error).toBeUndefined();
    const key = issued.data!;
    expectTypeOf(key).toEqualTypeOf<IssuedApiKey>();
    expectTypeOf(key.secret).toEqualTypeOf<string>();
    expect(key.secret).toMatch(FULL_KEY);
    expect(key).toMatchObject({ name: "sdk", scopes: ["api_keys:read"], revoked_at: null });

    const own = createClient({ baseUrl, apiKey: key.secret });
    expect((await own.GET("/v1/api-keys")).response.status).toBe(200);

    const got = await client.GET("/v1/api-keys/{id}", { params: { path: { id: key.id } } });
    expect(got.response.status).toBe(200);
    expect(got.data).toMatchObject({ id: key.id, prefix: key.prefix, name: "sdk" });
    expect(got.data).not.toHaveProperty("secret");
    // @ts-expect-error: only the 201 of POST carries the secret
    void got.data?.secret;

    const revoked = await client.DELETE("/v1/api-keys/{id}", { params: { path: { id: key.id } } });
    expect(revoked.response.status).toBe(204);
    expect(revoked.error).toBeUndefined();

    const refused = await own.GET("/v1/api-keys");
    expect(refused.data).toBeUndefined();
    expectTypeOf(refused.error).toEqualTypeOf<ErrorEnvelope | undefined>();
    expectRefusal(refused, 401, "auth_expired");
    expect(refused.response.headers.get("www-authenticate")).toMatch(/^Bearer/);
  });

  it("sends a message, reads it back, and makes a sandbox instance receive one that quotes it", async () => {
    const instance = await client.POST("/v1/instances", { body: { name: "client" } });
    expect(instance.response.status).toBe(201);
    const instanceId = instance.data!.id;

    const sent = await client.POST("/v1/instances/{id}/messages", {
      params: { path: { id: instanceId } },
      body: { type: "text", to: "+15551234567", text: "hello", client_ref: "sdk-1" },
    });
    expect(sent.response.status).toBe(202);
    expect(sent.data).toMatchObject({ direction: "outbound", type: "text", status: "queued", client_ref: "sdk-1" });
    const messageId = sent.data!.id;

    const read = await client.GET("/v1/instances/{id}/messages/{message_id}", { params: { path: { id: instanceId, message_id: messageId } } });
    expect(read.response.status).toBe(200);
    const message: Message | undefined = read.data;
    expect(message).toMatchObject({ id: messageId, direction: "outbound", to: "+15551234567", text: "hello", media: null, template: null });

    const received = await client.POST("/v1/instances/{id}/sandbox/inbound", {
      params: { path: { id: instanceId } },
      body: { from: "+15557654321", text: "thanks", reply_to: messageId },
    });
    expect(received.response.status).toBe(201);
    expect(received.data).toMatchObject({ direction: "inbound", status: "received", from: "+15557654321", reply_to: messageId });
    expect(received.data!.received_at).toEqual(expect.any(String));

    const inbound = await client.GET("/v1/instances/{id}/messages", { params: { path: { id: instanceId }, query: { direction: "inbound" } } });
    expect(inbound.data?.data.map((message) => message.id)).toEqual([received.data!.id]);
    const all = await client.GET("/v1/instances/{id}/messages", { params: { path: { id: instanceId }, query: { limit: 1 } } });
    expect(all.data?.data.map((message) => message.id)).toEqual([received.data!.id]);
    expect(all.data?.next_cursor).toEqual(expect.any(String));

    const elsewhere = await client.GET("/v1/instances/{id}/messages/{message_id}", {
      params: { path: { id: instanceId, message_id: "01936b2e-0000-7000-8000-000000000000" } },
    });
    expectRefusal(elsewhere, 404, "message_not_found");
  });

  it("hands over a 400 validation_failed for a bad body, as the envelope", async () => {
    const empty = await client.POST("/v1/api-keys", { body: { name: "" } });
    expectRefusal(empty, 400, "validation_failed");

    // @ts-expect-error: `nme` is no field of the body, and `name` is required
    const misspelt = await client.POST("/v1/api-keys", { body: { nme: "sdk" } });
    expectRefusal(misspelt, 400, "validation_failed");
  });

  it("hands over a 404 for a key that does not exist, and for a path the API does not have", async () => {
    const missing = await client.GET("/v1/api-keys/{id}", { params: { path: { id: "01936b2e-0000-7000-8000-000000000000" } } });
    expect(missing.data).toBeUndefined();
    expectRefusal(missing, 404, "api_key_not_found");

    // @ts-expect-error: no such path in the document
    const nowhere = await client.GET("/v1/nowhere", {});
    expectRefusal(nowhere, 404, "not_found");
  });
});
