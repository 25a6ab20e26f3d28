import { Writable } from "node:stream";
import type { InjectOptions, LightMyRequestResponse } from "fastify";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { Instance } from "@whatisup/client";
import type { Message } from "../src/contract/message.js";
import type { EventEnvelope } from "../src/contract/webhook-event.js";
import { verifyWebhookSignature } from "../src/crypto/webhook-signature.js";
import type { App } from "../src/http/app-types.js";
import { FAKE_APP_SECRET, FakeCloudApi, hubSignature, messagesCallback, statusCallback } from "./helpers/fake-cloud-api.js";
import { bearer, buildTestApp, createTestCustomer, expectError, TIMESTAMP, UUID, type TestCustomer } from "./helpers/test-app.js";
import { FAST_WEBHOOKS, insertEndpoint, waitFor } from "./helpers/webhook-fixtures.js";
import { WebhookReceiver } from "./helpers/webhook-receiver.js";
import { MESSAGE_FIELDS } from "./helpers/message-fields.js";

const NUMBER_ID = "106540352242922";
/** What the fake answers for NUMBER_ID, in E.164: the instance's number, the inbound `to`. */
const BUSINESS_NUMBER = "+15550100199";
const SENDER = "+16505551234";
/** `timestamp: "1749416383"`, as messagesCallback writes it. */
const SENT_AT = "2025-06-08T20:59:43.000Z";
const POLL = { timeout: 10_000, interval: 10 };

type Received = Omit<EventEnvelope, "data"> & { data: Message };

let fake: FakeCloudApi;
let app: App;
let acme: TestCustomer;
let logLines: string[];

beforeEach(async () => {
  fake = await new FakeCloudApi().start();
  logLines = [];
  const stream = new Writable({
    write(chunk, _encoding, done) {
      logLines.push(String(chunk));
      done();
    },
  });
  app = await buildTestApp(
    {
      workerPollMs: 10,
      webhooks: FAST_WEBHOOKS,
      rateLimit: { burst: 10_000, refillPerSecond: 1 },
      cloudApi: fake.config(),
      logLevel: "debug",
    },
    { logger: { stream } },
  );
  acme = await createTestCustomer(app, "Acme");
});
afterEach(async () => {
  await app?.close();
  await fake.close();
});

function inject(options: InjectOptions): Promise<LightMyRequestResponse> {
  return app.inject(options);
}

async function cloudInstance(customer: TestCustomer = acme): Promise<Instance> {
  const response = await inject({
    method: "POST",
    url: "/v1/instances",
    headers: bearer(customer.secret),
    payload: { name: "cloud", transport: "cloud_api", phone_number_id: NUMBER_ID },
  });
  expect(response.statusCode, response.body).toBe(201);
  return response.json();
}

/** Posts a callback signed over exactly the bytes sent (unless a signature is given; null: none). */
function callback(body: unknown, signature?: string | null): Promise<LightMyRequestResponse> {
  const raw = JSON.stringify(body);
  const headers: Record<string, string> = { "content-type": "application/json" };
  if (signature !== null) headers["x-hub-signature-256"] = signature ?? hubSignature(raw);
  return inject({ method: "POST", url: "/webhooks/whatsapp", headers, payload: raw });
}

async function expectAnswer(response: LightMyRequestResponse, received: number, messages: number): Promise<void> {
  expect(response.statusCode, response.body).toBe(200);
  expect(response.json()).toEqual({ received, messages });
}

async function receivedEvents(): Promise<Received[]> {
  const rows = await app.db
    .selectFrom("webhook_deliveries")
    .select("payload")
    .where("event", "=", "message.received")
    .orderBy("created_at")
    .orderBy("id")
    .execute();
  return rows.map((row) => JSON.parse(row.payload) as Received);
}

async function listed(instanceId: string, query = ""): Promise<Message[]> {
  const response = await inject({ method: "GET", url: `/v1/instances/${instanceId}/messages${query}`, headers: bearer(acme.secret) });
  expect(response.statusCode, response.body).toBe(200);
  return (response.json() as { data: Message[] }).data;
}

async function inboundRows() {
  return app.db.selectFrom("messages").selectAll().where("direction", "=", "inbound").orderBy("created_at").orderBy("id").execute();
}

/** One outbound message sent through the fake, with the wamid the fake gave it. */
async function sentMessage(instanceId: string): Promise<{ id: string; wamid: string }> {
  const response = await inject({
    method: "POST",
    url: `/v1/instances/${instanceId}/messages`,
    headers: bearer(acme.secret),
    payload: { type: "text", to: SENDER, text: "Your order has shipped." },
  });
  expect(response.statusCode, response.body).toBe(202);
  const id = (response.json() as { id: string }).id;
  const row = () => app.db.selectFrom("messages").select("provider_message_id").where("id", "=", id).executeTakeFirstOrThrow();
  await expect.poll(async () => (await row()).provider_message_id, POLL).not.toBeNull();
  return { id, wamid: (await row()).provider_message_id! };
}

const TEXT = {
  id: "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQUQ0N0VFMDA2MTQ0RkJFNkNDNAA=",
  type: "text",
  text: { body: "Hi! Has my order shipped yet?" },
};

describe("inbound messages through signed Cloud API callbacks", () => {
  it("a text message reaches a subscribed endpoint as message.received and reads back through the API", async () => {
    const instance = await cloudInstance();
    const hooks = await WebhookReceiver.start([200]);
    try {
      const endpoint = await insertEndpoint(app.db, acme.customer.id, {
        url: hooks.url(),
        events: ["message.received"],
        instanceId: instance.id,
      });
      await expectAnswer(await callback(messagesCallback(NUMBER_ID, [TEXT])), 0, 1);

      const delivery = await waitFor(() => hooks.requests[0], "the delivery of message.received");
      const header = delivery.headers["x-whatisup-signature"];
      expect(typeof header).toBe("string");
      expect(verifyWebhookSignature(endpoint.secret, header as string, delivery.rawBody)).toBe(true);
      const envelope = JSON.parse(delivery.rawBody) as Received;
      expect(envelope).toMatchObject({ event: "message.received", instance_id: instance.id });
      // data is the message itself, not wrapped in {"message": …}.
      expect(Object.keys(envelope.data).sort()).toEqual(MESSAGE_FIELDS);
      const message = envelope.data;
      expect(message).toEqual({
        id: expect.stringMatching(UUID),
        instance_id: instance.id,
        direction: "inbound",
        from: SENDER,
        to: BUSINESS_NUMBER,
        type: "text",
        text: "Hi! Has my order shipped yet?",
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
        received_at: SENT_AT,
        created_at: expect.stringMatching(TIMESTAMP),
        updated_at: expect.stringMatching(TIMESTAMP),
      });
      // The wamid is how the callback is deduplicated, never part of the API's shape.
      expect(delivery.rawBody).not.toContain(TEXT.id);

      expect(await listed(instance.id)).toEqual([message]);
      expect(await listed(instance.id, "?direction=inbound&status=received")).toEqual([message]);
      expect(await listed(instance.id, "?direction=outbound")).toEqual([]);
      const one = await inject({
        method: "GET",
        url: `/v1/instances/${instance.id}/messages/${message.id}`,
        headers: bearer(acme.secret),
      });
      expect(one.statusCode, one.body).toBe(200);
      expect(one.json()).toEqual(message);

      const [row] = await inboundRows();
      expect(row).toMatchObject({ id: message.id, customer_id: acme.customer.id, transport: "cloud_api", provider_message_id: TEXT.id });
    } finally {
      await hooks.close();
    }
  });

  const MEDIA_CASES = [
    [
      "an image with a caption",
      {
        id: "wamid.IMAGE",
        type: "image",
        image: {
          caption: "The aloe, as it arrived",
          mime_type: "image/jpeg",
          sha256: "81d3bd8a8db4868c9520ed47186e8b7c5789e61ff79f7f834be6950b808a90d3",
          id: "2754859441498128",
        },
      },
      { url: null, caption: "The aloe, as it arrived", filename: null, mime_type: "image/jpeg", provider_media_id: "2754859441498128" },
    ],
    [
      "a document with a filename",
      {
        id: "wamid.DOCUMENT",
        type: "document",
        document: {
          caption: "My receipt",
          filename: "receipt-4821.pdf",
          mime_type: "application/pdf",
          sha256: "3b2c1f4a9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b3a2f1e0d9c8b7a6f5e4d3c2b",
          id: "1003383421387256",
        },
      },
      { url: null, caption: "My receipt", filename: "receipt-4821.pdf", mime_type: "application/pdf", provider_media_id: "1003383421387256" },
    ],
    [
      "a voice note (audio)",
      {
        id: "wamid.AUDIO",
        type: "audio",
        audio: {
          mime_type: "audio/ogg; codecs=opus",
          sha256: "d39c5a0f1e2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5",
          id: "1146196880543587",
          voice: true,
        },
      },
      { url: null, caption: null, filename: null, mime_type: "audio/ogg; codecs=opus", provider_media_id: "1146196880543587" },
    ],
    [
      "a video with a caption",
      {
        id: "wamid.VIDEO",
        type: "video",
        video: {
          caption: "Unboxing",
          mime_type: "video/mp4",
          sha256: "a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90",
          id: "1300145767891234",
        },
      },
      { url: null, caption: "Unboxing", filename: null, mime_type: "video/mp4", provider_media_id: "1300145767891234" },
    ],
  ] as const;

  it.each(MEDIA_CASES)("%s is stored by its Cloud API media id, without a URL", async (_label, entry, media) => {
    const instance = await cloudInstance();
    await insertEndpoint(app.db, acme.customer.id, { url: "https://hooks.example.com/whatisup" });
    await expectAnswer(await callback(messagesCallback(NUMBER_ID, [entry])), 0, 1);

    const [message] = await listed(instance.id);
    expect(message).toMatchObject({ direction: "inbound", type: entry.type, text: null, from: SENDER, received_at: SENT_AT });
    expect(message!.media).toEqual(media);
    const events = await receivedEvents();
    expect(events.map((event) => event.data)).toEqual([message]);
  });

  it("a reply quoting one of our messages names it in reply_to; a quote of a message we do not know leaves it null", async () => {
    const instance = await cloudInstance();
    await insertEndpoint(app.db, acme.customer.id, { url: "https://hooks.example.com/whatisup" });
    const ours = await sentMessage(instance.id);
    const reply = { ...TEXT, id: "wamid.REPLY", text: { body: "Thanks!" }, context: { from: "15550100199", id: ours.wamid } };
    const stranger = { ...TEXT, id: "wamid.OTHER", text: { body: "And this?" }, context: { from: "15550100199", id: "wamid.NOT_OURS" } };
    await expectAnswer(await callback(messagesCallback(NUMBER_ID, [reply, stranger])), 0, 2);

    const inbound = await listed(instance.id, "?direction=inbound");
    const byText = new Map(inbound.map((message) => [message.text, message]));
    expect(byText.get("Thanks!")!.reply_to).toBe(ours.id);
    expect(byText.get("And this?")!.reply_to).toBeNull();
    const events = await receivedEvents();
    expect(events.map((event) => [event.data.text, event.data.reply_to])).toEqual([
      ["Thanks!", ours.id],
      ["And this?", null],
    ]);
  });

  it("Meta repeating a callback (one after the other, or at once) stores and emits the message once", async () => {
    const instance = await cloudInstance();
    await insertEndpoint(app.db, acme.customer.id, { url: "https://hooks.example.com/whatisup" });
    const body = messagesCallback(NUMBER_ID, [TEXT]);
    await expectAnswer(await callback(body), 0, 1);
    await expectAnswer(await callback(body), 0, 1);
    const twice = messagesCallback(NUMBER_ID, [{ ...TEXT, id: "wamid.AT_ONCE" }]);
    const answers = await Promise.all([callback(twice), callback(twice), callback(twice)]);
    for (const answer of answers) await expectAnswer(answer, 0, 1);

    const rows = await inboundRows();
    expect(rows.map((row) => row.provider_message_id).sort()).toEqual(["wamid.AT_ONCE", TEXT.id].sort());
    expect(await listed(instance.id)).toHaveLength(2);
    expect(await receivedEvents()).toHaveLength(2);
  });

  it("a number no live instance holds (another app's, a deleted instance's) is acknowledged and nothing is stored", async () => {
    await insertEndpoint(app.db, acme.customer.id, { url: "https://hooks.example.com/whatisup" });
    await expectAnswer(await callback(messagesCallback("999000111222", [TEXT])), 0, 1);
    expect(await inboundRows()).toEqual([]);
    const instance = await cloudInstance();
    await expectAnswer(await callback(messagesCallback(NUMBER_ID, [{ ...TEXT, id: "wamid.BEFORE_DELETE" }])), 0, 1);
    const deleted = await inject({ method: "DELETE", url: `/v1/instances/${instance.id}`, headers: bearer(acme.secret) });
    expect(deleted.statusCode, deleted.body).toBe(204);
    await expectAnswer(await callback(messagesCallback(NUMBER_ID, [{ ...TEXT, id: "wamid.AFTER_DELETE" }])), 0, 1);

    expect((await inboundRows()).map((row) => row.provider_message_id)).toEqual(["wamid.BEFORE_DELETE"]);
    expect(await receivedEvents()).toHaveLength(1);
  });

  it("the number's instance of another customer receives it, not anyone else", async () => {
    const globex = await createTestCustomer(app, "Globex");
    const theirs = await cloudInstance(globex);
    await insertEndpoint(app.db, acme.customer.id, { url: "https://hooks.example.com/acme" });
    await insertEndpoint(app.db, globex.customer.id, { url: "https://hooks.example.com/globex" });
    await expectAnswer(await callback(messagesCallback(NUMBER_ID, [TEXT])), 0, 1);

    const deliveries = await app.db.selectFrom("webhook_deliveries").select(["customer_id", "event"]).where("event", "=", "message.received").execute();
    expect(deliveries).toEqual([{ customer_id: globex.customer.id, event: "message.received" }]);
    const [row] = await inboundRows();
    expect(row).toMatchObject({ customer_id: globex.customer.id, instance_id: theirs.id });
  });

  it("types other than text and media are acknowledged and ignored, without their content in the logs", async () => {
    const instance = await cloudInstance();
    await insertEndpoint(app.db, acme.customer.id, { url: "https://hooks.example.com/whatisup" });
    const ignored = [
      {
        id: "wamid.STICKER",
        type: "sticker",
        sticker: { mime_type: "image/webp", sha256: "5a6b7c8d9e0f", id: "6613480318702394", animated: false },
      },
      {
        id: "wamid.LOCATION",
        type: "location",
        location: { address: "1 Secret Garden Lane", latitude: 37.483307, longitude: -122.148981, name: "Home sweet home" },
      },
      { id: "wamid.REACTION", type: "reaction", reaction: { message_id: "wamid.SOMETHING", emoji: "\uD83D\uDE00" } },
      {
        id: "wamid.INTERACTIVE",
        type: "interactive",
        interactive: { type: "button_reply", button_reply: { id: "confirm-secret-choice", title: "Yes, cancel it" } },
      },
      { id: "wamid.BUTTON", type: "button", button: { payload: "STOP_PROMOTIONS_payload", text: "Stop promotions" } },
      {
        id: "wamid.UNSUPPORTED",
        type: "unsupported",
        errors: [{ code: 131051, title: "Message type unknown", error_data: { details: "Message type is currently not supported." } }],
      },
    ];
    const wanted = { ...TEXT, id: "wamid.TEXT_AMONG_THEM" };
    await expectAnswer(await callback(messagesCallback(NUMBER_ID, [...ignored, wanted])), 0, ignored.length + 1);

    expect((await listed(instance.id)).map((message) => message.text)).toEqual([TEXT.text.body]);
    expect(await receivedEvents()).toHaveLength(1);
    const logs = logLines.join("");
    expect(logs).toMatch(/message not stored/);
    for (const secret of ["Secret Garden", "confirm-secret-choice", "STOP_PROMOTIONS", TEXT.text.body, "16505551234", FAKE_APP_SECRET]) {
      expect(logs).not.toContain(secret);
    }
  });

  it("a message whose sender has no phone number, or that lacks its id or its content, is skipped", async () => {
    const instance = await cloudInstance();
    const broken = [
      { ...TEXT, id: "wamid.NO_FROM", from: undefined },
      { ...TEXT, id: "wamid.USERNAME", from: "sheena.nelson" },
      { ...TEXT, id: "wamid.SHORT", from: "123" },
      { ...TEXT, id: undefined },
      { id: "wamid.NO_BODY", type: "text", text: {} },
      { id: "wamid.NO_MEDIA_ID", type: "image", image: { mime_type: "image/jpeg", sha256: "00" } },
    ];
    const fine = { ...TEXT, id: "wamid.FINE", text: { body: "This one is fine" } };
    await expectAnswer(await callback(messagesCallback(NUMBER_ID, [...broken, fine])), 0, broken.length + 1);
    expect((await listed(instance.id)).map((message) => message.text)).toEqual(["This one is fine"]);
  });

  it("a timestamp that is not unix seconds makes received_at the time the callback arrived", async () => {
    const instance = await cloudInstance();
    const before = Date.now();
    await expectAnswer(await callback(messagesCallback(NUMBER_ID, [{ ...TEXT, timestamp: "yesterday" }])), 0, 1);
    const [message] = await listed(instance.id);
    expect(message!.received_at).toMatch(TIMESTAMP);
    expect(Date.parse(message!.received_at!)).toBeGreaterThanOrEqual(before - 1);
    expect(Date.parse(message!.received_at!)).toBeLessThanOrEqual(Date.now());
  });

  it("text PostgreSQL cannot store (U+0000, lone surrogates) is stored with U+FFFD in its place, not answered with a 500 Meta would repeat", async () => {
    const instance = await cloudInstance();
    await insertEndpoint(app.db, acme.customer.id, { url: "https://hooks.example.com/whatisup" });
    const ours = await sentMessage(instance.id);
    const text = { ...TEXT, id: "wamid.NUL\u0000", text: { body: "Hi\u0000there \ud83d and \udc00!" } };
    const image = { id: "wamid.IMAGE", type: "image", image: { id: "media-1", mime_type: "image/jpeg", caption: "caption \ud800" } };
    const body = messagesCallback(NUMBER_ID, [text, image]);
    const statuses = statusCallback(NUMBER_ID, [
      { id: ours.wamid, status: "failed", errors: [{ code: 131026, title: "Undeliverable", error_data: { details: "bad\u0000 \udfff" } }] },
    ]);
    const value = (body.entry as { changes: { value: Record<string, unknown> }[] }[])[0]!.changes[0]!.value;
    value.statuses = (statuses.entry as { changes: { value: { statuses: unknown } }[] }[])[0]!.changes[0]!.value.statuses;
    await expectAnswer(await callback(body), 1, 2);

    const rows = await inboundRows();
    expect(rows.map((row) => row.provider_message_id).sort()).toEqual(["wamid.IMAGE", "wamid.NUL\uFFFD"]);
    const inbound = await listed(instance.id, "?direction=inbound");
    expect(inbound.map((message) => message.text ?? message.media?.caption).sort()).toEqual([
      "Hi\uFFFDthere \uFFFD and \uFFFD!",
      "caption \uFFFD",
    ]);
    const failed = (await listed(instance.id, "?direction=outbound"))[0]!;
    expect(failed.status).toBe("failed");
    expect(failed.error).toContain("bad\uFFFD \uFFFD");
    expect((await receivedEvents()).map((event) => event.data.text ?? event.data.media?.caption).sort()).toEqual([
      "Hi\uFFFDthere \uFFFD and \uFFFD!",
      "caption \uFFFD",
    ]);
  });

  it("a callback with statuses and messages applies both and counts each", async () => {
    const instance = await cloudInstance();
    const ours = await sentMessage(instance.id);
    const body = messagesCallback(NUMBER_ID, [TEXT]);
    const statuses = statusCallback(NUMBER_ID, [{ id: ours.wamid, status: "delivered" }]);
    const value = (body.entry as { changes: { value: Record<string, unknown> }[] }[])[0]!.changes[0]!.value;
    value.statuses = (statuses.entry as { changes: { value: { statuses: unknown } }[] }[])[0]!.changes[0]!.value.statuses;
    await expectAnswer(await callback(body), 1, 1);

    const messages = await listed(instance.id);
    expect(messages.map((message) => [message.direction, message.status])).toEqual(
      expect.arrayContaining([
        ["inbound", "received"],
        ["outbound", "delivered"],
      ]),
    );
    expect(messages).toHaveLength(2);
  });

  it.each([
    ["a wrong signature", hubSignature("something else"), "auth_invalid"],
    ["a signature under another app secret", "other-secret", "auth_invalid"],
    ["no signature", null, "auth_missing"],
  ] as const)("refuses %s: 401, nothing stored or emitted", async (_label, header, code) => {
    const instance = await cloudInstance();
    await insertEndpoint(app.db, acme.customer.id, { url: "https://hooks.example.com/whatisup" });
    const body = messagesCallback(NUMBER_ID, [TEXT]);
    const signature = header === "other-secret" ? hubSignature(JSON.stringify(body), "another-app-secret") : header;
    expectError(await callback(body, signature), 401, code);
    expect(await listed(instance.id)).toEqual([]);
    expect(await receivedEvents()).toEqual([]);
    // The same body, signed as Meta signs it, is received.
    await expectAnswer(await callback(body), 0, 1);
    expect(await listed(instance.id)).toHaveLength(1);
  });
});
