import type { LightMyRequestResponse } from "fastify";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { Instance } from "@whatisup/client";
import type { App } from "../src/http/app-types.js";
import { cloudApiContent } from "../src/transports/cloud-api-client.js";
import { fakeDnsZone } from "./helpers/fake-dns.js";
import { FAKE_ACCESS_TOKEN, FakeCloudApi, graphError, hubSignature, statusCallback } from "./helpers/fake-cloud-api.js";
import { bearer, buildTestApp, createTestCustomer, expectError, type TestCustomer } from "./helpers/test-app.js";

/** Hosts under .media.test resolve to these addresses; every other name resolves as usual. */
fakeDnsZone(
  new Map([
    ["cdn.media.test", "93.184.215.14"],
    ["intranet.media.test", "10.0.0.7"],
  ]),
);

const NUMBER_ID = "106540352242922";
const RECIPIENT = "+15551234567";
const POLL = { timeout: 10_000, interval: 10 };
const ENVELOPE = { messaging_product: "whatsapp", recipient_type: "individual", to: "15551234567" };

let fake: FakeCloudApi;
let app: App;
let acme: TestCustomer;

beforeEach(async () => {
  fake = await new FakeCloudApi().start();
  app = await buildTestApp({ workerPollMs: 10, rateLimit: { burst: 10_000, refillPerSecond: 1 }, cloudApi: fake.config() });
  acme = await createTestCustomer(app, "Acme");
});
afterEach(async () => {
  await app?.close();
  await fake.close();
});

async function cloudInstance(): Promise<Instance> {
  const response = await app.inject({
    method: "POST",
    url: "/v1/instances",
    headers: bearer(acme.secret),
    payload: { name: "cloud", transport: "cloud_api", phone_number_id: NUMBER_ID },
  });
  expect(response.statusCode, response.body).toBe(201);
  return response.json();
}

function send(instanceId: string, payload: Record<string, unknown>): Promise<LightMyRequestResponse> {
  return app.inject({
    method: "POST",
    url: `/v1/instances/${instanceId}/messages`,
    headers: bearer(acme.secret),
    payload: { to: RECIPIENT, ...payload },
  });
}

function row(id: string) {
  return app.db.selectFrom("messages").selectAll().where("id", "=", id).executeTakeFirstOrThrow();
}

/** Sends through the API and waits until the pump handed it to the fake: what the fake received. */
async function sentPayload(instanceId: string, payload: Record<string, unknown>): Promise<{ id: string; body: unknown }> {
  const before = fake.sendRequests().length;
  const response = await send(instanceId, payload);
  expect(response.statusCode, response.body).toBe(202);
  const id = (response.json() as { id: string }).id;
  await expect.poll(async () => (await row(id)).provider_message_id, POLL).not.toBeNull();
  const requests = fake.sendRequests();
  expect(requests).toHaveLength(before + 1);
  const request = requests[before]!;
  expect(request.path).toBe(`/v21.0/${NUMBER_ID}/messages`);
  expect(request.headers.authorization).toBe(`Bearer ${FAKE_ACCESS_TOKEN}`);
  expect(request.headers["content-type"]).toBe("application/json");
  return { id, body: request.body };
}

const SENDS = [
  [
    "an image with a caption",
    { type: "image", media: { url: "https://cdn.media.test/succulents/aloe.png", caption: "The best succulent ever?" } },
    { type: "image", image: { link: "https://cdn.media.test/succulents/aloe.png", caption: "The best succulent ever?" } },
  ],
  [
    "an image without a caption",
    { type: "image", media: { url: "https://cdn.media.test/succulents/aloe.png" } },
    { type: "image", image: { link: "https://cdn.media.test/succulents/aloe.png" } },
  ],
  [
    "a document with a caption and a filename",
    { type: "document", media: { url: "https://cdn.media.test/invoices/4821.pdf", caption: "Your invoice", filename: "invoice-4821.pdf" } },
    {
      type: "document",
      document: { link: "https://cdn.media.test/invoices/4821.pdf", caption: "Your invoice", filename: "invoice-4821.pdf" },
    },
  ],
  [
    "an audio file (no caption: WhatsApp has none for audio)",
    { type: "audio", media: { url: "https://cdn.media.test/voice/welcome.ogg" } },
    { type: "audio", audio: { link: "https://cdn.media.test/voice/welcome.ogg" } },
  ],
  [
    "a video with a caption",
    { type: "video", media: { url: "https://cdn.media.test/video/unboxing.mp4", caption: "Unboxing" } },
    { type: "video", video: { link: "https://cdn.media.test/video/unboxing.mp4", caption: "Unboxing" } },
  ],
  [
    "a template without components",
    { type: "template", template: { name: "hello_world", language: "en_US" } },
    { type: "template", template: { name: "hello_world", language: { code: "en_US" } } },
  ],
  [
    "a template with header, body and button components, passed through as given",
    {
      type: "template",
      template: {
        name: "order_shipped",
        language: "pt_BR",
        components: [
          { type: "header", parameters: [{ type: "image", image: { link: "https://cdn.media.test/banner.png" } }] },
          {
            type: "body",
            parameters: [
              { type: "text", text: "Sheena" },
              { type: "currency", currency: { fallback_value: "$100.99", code: "USD", amount_1000: 100990 } },
            ],
          },
          { type: "button", sub_type: "url", index: "0", parameters: [{ type: "text", text: "4821" }] },
        ],
      },
    },
    {
      type: "template",
      template: {
        name: "order_shipped",
        language: { code: "pt_BR" },
        components: [
          { type: "header", parameters: [{ type: "image", image: { link: "https://cdn.media.test/banner.png" } }] },
          {
            type: "body",
            parameters: [
              { type: "text", text: "Sheena" },
              { type: "currency", currency: { fallback_value: "$100.99", code: "USD", amount_1000: 100990 } },
            ],
          },
          { type: "button", sub_type: "url", index: "0", parameters: [{ type: "text", text: "4821" }] },
        ],
      },
    },
  ],
  [
    "a text (as before)",
    { type: "text", text: "Your order has shipped." },
    { type: "text", text: { body: "Your order has shipped.", preview_url: false } },
  ],
] as const;

describe("sending media and templates through the Cloud API", () => {
  it.each(SENDS)("%s: the pump posts exactly Meta's payload", async (_label, payload, expected) => {
    const instance = await cloudInstance();
    const { id, body } = await sentPayload(instance.id, payload);
    expect(body).toEqual({ ...ENVELOPE, ...expected });
    const stored = await row(id);
    expect(stored).toMatchObject({ status: "queued", type: payload.type, provider_message_id: "wamid.FAKE000001" });
  });

  it("a sent media message moves on with Meta's statuses and reads back with its media and their times", async () => {
    const instance = await cloudInstance();
    const { id, body } = await sentPayload(instance.id, SENDS[2][1]);
    expect(body).toEqual({ ...ENVELOPE, ...SENDS[2][2] });
    const wamid = (await row(id)).provider_message_id!;
    for (const status of ["sent", "delivered", "read"]) {
      const raw = JSON.stringify(statusCallback(NUMBER_ID, [{ id: wamid, status }]));
      const answer = await app.inject({
        method: "POST",
        url: "/webhooks/whatsapp",
        headers: { "content-type": "application/json", "x-hub-signature-256": hubSignature(raw) },
        payload: raw,
      });
      expect(answer.statusCode, answer.body).toBe(200);
    }
    const read = await app.inject({ method: "GET", url: `/v1/instances/${instance.id}/messages/${id}`, headers: bearer(acme.secret) });
    expect(read.statusCode, read.body).toBe(200);
    const message = read.json() as Record<string, unknown>;
    expect(message).toMatchObject({
      direction: "outbound",
      from: "+15550100199",
      to: RECIPIENT,
      type: "document",
      text: null,
      template: null,
      status: "read",
      media: {
        url: "https://cdn.media.test/invoices/4821.pdf",
        caption: "Your invoice",
        filename: "invoice-4821.pdf",
        mime_type: null,
        provider_media_id: null,
      },
    });
    for (const field of ["sent_at", "delivered_at", "read_at"]) expect(message[field]).toEqual(expect.any(String));
    expect(message.failed_at).toBeNull();
  });

  it("Meta refusing a media message (e.g. a file it cannot fetch) fails it with Meta's error", async () => {
    const instance = await cloudInstance();
    fake.failNextSends(graphError(400, 131053, "Media upload error"));
    const response = await send(instance.id, { type: "video", media: { url: "https://cdn.media.test/video/missing.mp4" } });
    expect(response.statusCode, response.body).toBe(202);
    const id = (response.json() as { id: string }).id;
    await expect.poll(async () => (await row(id)).status, POLL).toBe("failed");
    expect((await row(id)).error).toBe("Cloud API error 131053 (HTTP 400): Media upload error");
    expect(fake.sendRequests().map((request) => request.body)).toEqual([
      { ...ENVELOPE, type: "video", video: { link: "https://cdn.media.test/video/missing.mp4" } },
    ]);
  });

  it.each([
    ["a media URL that resolves inside our network", { type: "image", media: { url: "https://intranet.media.test/x.png" } }, "body.media.url"],
    ["a caption on audio", { type: "audio", media: { url: "https://cdn.media.test/a.ogg", caption: "hi" } }, "body.media.caption"],
    ["a filename on an image", { type: "image", media: { url: "https://cdn.media.test/a.png", filename: "a.png" } }, "body.media.filename"],
    ["a template name with capitals", { type: "template", template: { name: "Order_Shipped", language: "en_US" } }, "body.template.name"],
  ] as const)("refuses %s: 400 naming the field, and nothing reaches the Cloud API", async (_label, payload, field) => {
    const instance = await cloudInstance();
    const body = expectError(await send(instance.id, payload), 400, "validation_failed");
    expect(((body.error.details?.fields ?? []) as { field: string }[]).map((problem) => problem.field)).toContain(field);
    expect(await app.db.selectFrom("messages").select("id").execute()).toEqual([]);
    expect(fake.sendRequests()).toEqual([]);
  });
});

describe("cloudApiContent, the Cloud API object of each message type", () => {
  const media = (overrides: Record<string, string | null>) => ({
    url: "https://cdn.media.test/f",
    caption: null,
    filename: null,
    mime_type: null,
    provider_media_id: null,
    ...overrides,
  });

  it("sends a caption only where WhatsApp shows one, and a filename only for documents", () => {
    const everything = media({ caption: "c", filename: "f.pdf", mime_type: "application/pdf" });
    expect(cloudApiContent({ type: "image", media: everything })).toEqual({ type: "image", image: { link: everything.url, caption: "c" } });
    expect(cloudApiContent({ type: "video", media: everything })).toEqual({ type: "video", video: { link: everything.url, caption: "c" } });
    expect(cloudApiContent({ type: "audio", media: everything })).toEqual({ type: "audio", audio: { link: everything.url } });
    expect(cloudApiContent({ type: "document", media: everything })).toEqual({
      type: "document",
      document: { link: everything.url, caption: "c", filename: "f.pdf" },
    });
  });
});
