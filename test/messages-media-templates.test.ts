import { createServer, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { LightMyRequestResponse } from "fastify";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Message } from "../src/contract/message.js";
import type { App } from "../src/http/app-types.js";
import { probeMedia } from "../src/transports/sandbox-media-probe.js";
import { SandboxClock } from "../src/workers/sandbox-clock.js";
import {
  bearer,
  buildTestApp,
  createInstance,
  createTestCustomer,
  expectError,
  TEST_PEPPER,
  TIMESTAMP,
  type TestCustomer,
  writerOn,
} from "./helpers/test-app.js";
import { rowCounts } from "./helpers/test-database.js";
import { FAST_WEBHOOKS, insertEndpoint } from "./helpers/webhook-fixtures.js";

/** A public address, as a literal: the destination guard needs no DNS to let it through. */
const PUBLIC = "https://93.184.215.14";
const TO = "+15551234567";
const ALL_TYPES = ["text", "image", "document", "audio", "video", "template"];
const POLL = { timeout: 10_000, interval: 10 };
const TEMPLATE = {
  name: "order_shipped",
  language: "en_US",
  components: [{ type: "body", parameters: [{ type: "text", text: "4821" }] }],
};

/**
 * What a media host answers, by path: the sandbox fetches a media message's URL before it sends
 * it. `/endless.png` streams a body that never ends, to show that only the headers are read.
 */
class MediaHost {
  readonly requests: { method: string; path: string }[] = [];
  /** Connections of /endless.png that the client closed. */
  endlessClosed = 0;
  private readonly server: Server;

  constructor() {
    this.server = createServer((request, response) => {
      const path = request.url ?? "";
      this.requests.push({ method: request.method ?? "", path });
      this.answer(path, response);
    });
  }

  async start(): Promise<this> {
    await new Promise<void>((resolve) => this.server.listen(0, "127.0.0.1", resolve));
    return this;
  }

  url(path: string): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}${path}`;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private answer(path: string, response: ServerResponse): void {
    const typed: Record<string, string> = {
      "/cat.jpg": "image/jpeg",
      "/report.pdf": "application/pdf",
      "/notes.txt": "text/plain; charset=utf-8",
      "/voice.ogg": "audio/ogg; codecs=opus",
      "/clip.mp4": "video/mp4",
      "/page.html": "text/html; charset=utf-8",
    };
    if (path === "/missing.jpg") {
      response.writeHead(404, { "content-type": "text/plain" }).end("not found");
    } else if (path === "/moved.jpg") {
      response.writeHead(302, { location: "/cat.jpg" }).end();
    } else if (path === "/long-type") {
      response.writeHead(200, { "content-type": `application/x-${"long".repeat(50)}\tpart` }).end("bytes");
    } else if (path === "/hang") {
      // Never answers: the connection stays open until the host closes.
    } else if (path === "/untyped") {
      response.writeHead(200).end("bytes");
    } else if (path === "/endless.png") {
      response.writeHead(200, { "content-type": "image/png" });
      const chunk = Buffer.alloc(64 * 1024, 1);
      const timer = setInterval(() => response.write(chunk), 5);
      response.on("close", () => {
        clearInterval(timer);
        this.endlessClosed += 1;
      });
    } else if (typed[path]) {
      response.writeHead(200, { "content-type": typed[path] }).end("bytes");
    } else {
      response.writeHead(404).end();
    }
  }
}

function sendOn(app: App, secret: string, instanceId: string, payload: unknown): Promise<LightMyRequestResponse> {
  return app.inject({ method: "POST", url: `/v1/instances/${instanceId}/messages`, headers: bearer(secret), payload: payload as object });
}

async function readBack(app: App, secret: string, instanceId: string, id: string): Promise<Message> {
  const response = await app.inject({ method: "GET", url: `/v1/instances/${instanceId}/messages/${id}`, headers: bearer(secret) });
  expect(response.statusCode, response.body).toBe(200);
  return response.json();
}

function expectFieldsRefused(response: LightMyRequestResponse, fields: string[]): void {
  const body = expectError(response, 400, "validation_failed");
  const named = ((body.error.details?.fields ?? []) as { field: string }[]).map((problem) => problem.field);
  for (const field of fields) expect(named, response.body).toContain(field);
}

/** The message events written for a message, in the order they were written. */
async function eventsOf(app: App, messageId: string): Promise<{ event: string; message: Message }[]> {
  const rows = await app.db
    .selectFrom("webhook_deliveries")
    .select(["event", "payload"])
    .where("event", "like", "message.%")
    .orderBy("id")
    .execute();
  return rows
    .map((row) => ({ event: row.event, message: (JSON.parse(row.payload) as { data: { message: Message } }).data.message }))
    .filter((entry) => entry.message.id === messageId);
}

// The server as deployed: media URLs must not reach loopback. Its sandbox clock is held still
// (a step of an hour), so what is read back is what was accepted.
describe("sending media and templates (loopback refused, clock held)", () => {
  let app: App;
  let acme: TestCustomer;
  let instanceId: string;

  beforeAll(async () => {
    app = await buildTestApp({ sandboxStepMs: 3_600_000, rateLimit: { burst: 100_000, refillPerSecond: 1 } });
    acme = await createTestCustomer(app, "Acme");
    instanceId = (await createInstance(app, acme.secret, "main")).id;
  });
  afterAll(() => app.close());

  const send = (payload: unknown) => sendOn(app, acme.secret, instanceId, payload);

  it.each<[string, { url: string; caption?: string; filename?: string }]>([
    ["image", { url: `${PUBLIC}/cat.jpg`, caption: "The aloe, as it arrived" }],
    ["document", { url: `${PUBLIC}/receipt.pdf`, caption: "Your receipt", filename: "receipt-4821.pdf" }],
    ["audio", { url: `${PUBLIC}/voice.ogg` }],
    ["video", { url: `${PUBLIC}/clip.mp4`, caption: "Unboxing" }],
  ])("accepts %s: 202, read back with its media and no text or template", async (type, media) => {
    const response = await send({ type, to: TO, media, client_ref: `ref-${type}` });
    expect(response.statusCode, response.body).toBe(202);
    const accepted = response.json() as { id: string };
    expect(accepted).toMatchObject({ direction: "outbound", type, status: "queued", to: TO, client_ref: `ref-${type}` });
    const message = await readBack(app, acme.secret, instanceId, accepted.id);
    expect(message).toMatchObject({
      id: accepted.id,
      direction: "outbound",
      type,
      text: null,
      template: null,
      status: "queued",
      media: {
        url: media.url,
        caption: media.caption ?? null,
        filename: media.filename ?? null,
        mime_type: null,
        provider_media_id: null,
      },
    });
  });

  it("accepts a template: 202, read back with its name, language and components", async () => {
    const response = await send({ type: "template", to: TO, template: TEMPLATE });
    expect(response.statusCode, response.body).toBe(202);
    const accepted = response.json() as { id: string; type: string };
    expect(accepted.type).toBe("template");
    const message = await readBack(app, acme.secret, instanceId, accepted.id);
    expect(message).toMatchObject({ type: "template", text: null, media: null, template: TEMPLATE, status: "queued" });
  });

  it("accepts a template without components, and a two-letter language", async () => {
    const response = await send({ type: "template", to: TO, template: { name: "hello_world", language: "de" } });
    expect(response.statusCode, response.body).toBe(202);
    const message = await readBack(app, acme.secret, instanceId, (response.json() as { id: string }).id);
    expect(message.template).toEqual({ name: "hello_world", language: "de" });
  });

  const IMAGE = { url: `${PUBLIC}/cat.jpg` };
  it.each([
    ["an image without media", { type: "image", to: TO }, ["body.media"]],
    ["a document without media", { type: "document", to: TO }, ["body.media"]],
    ["an image with text", { type: "image", to: TO, media: IMAGE, text: "look" }, ["body.text"]],
    ["an image with a template", { type: "image", to: TO, media: IMAGE, template: TEMPLATE }, ["body.template"]],
    ["a text with media", { type: "text", to: TO, text: "hi", media: IMAGE }, ["body.media"]],
    ["a text with a template", { type: "text", to: TO, text: "hi", template: TEMPLATE }, ["body.template"]],
    ["audio with a caption", { type: "audio", to: TO, media: { url: `${PUBLIC}/v.ogg`, caption: "listen" } }, ["body.media.caption"]],
    ["an image with a filename", { type: "image", to: TO, media: { ...IMAGE, filename: "cat.jpg" } }, ["body.media.filename"]],
    ["a video with a filename", { type: "video", to: TO, media: { url: `${PUBLIC}/c.mp4`, filename: "c.mp4" } }, ["body.media.filename"]],
    ["audio with a filename", { type: "audio", to: TO, media: { url: `${PUBLIC}/v.ogg`, filename: "v.ogg" } }, ["body.media.filename"]],
    ["media without a url", { type: "image", to: TO, media: { caption: "no file" } }, ["body.media.url"]],
    ["a media url that is ftp", { type: "image", to: TO, media: { url: "ftp://93.184.215.14/cat.jpg" } }, ["body.media.url"]],
    ["a media url that is not a URL", { type: "image", to: TO, media: { url: "cat.jpg" } }, ["body.media.url"]],
    ["a media url over 2048 characters", { type: "image", to: TO, media: { url: `${PUBLIC}/${"a".repeat(2040)}` } }, ["body.media.url"]],
    ["an empty caption", { type: "image", to: TO, media: { ...IMAGE, caption: "" } }, ["body.media.caption"]],
    ["a caption over 1024 characters", { type: "image", to: TO, media: { ...IMAGE, caption: "c".repeat(1025) } }, ["body.media.caption"]],
    ["a filename over 240 characters", { type: "document", to: TO, media: { url: `${PUBLIC}/r.pdf`, filename: `${"f".repeat(237)}.pdf` } }, ["body.media.filename"]],
    ["an unknown media field", { type: "image", to: TO, media: { ...IMAGE, mime_type: "image/jpeg" } }, ["body.media.mime_type"]],
    ["a template without template", { type: "template", to: TO }, ["body.template"]],
    ["a template with text", { type: "template", to: TO, template: TEMPLATE, text: "hi" }, ["body.text"]],
    ["a template with media", { type: "template", to: TO, template: TEMPLATE, media: IMAGE }, ["body.media"]],
    ["a template name in capitals", { type: "template", to: TO, template: { ...TEMPLATE, name: "Order_Shipped" } }, ["body.template.name"]],
    ["a template name with a dash", { type: "template", to: TO, template: { ...TEMPLATE, name: "order-shipped" } }, ["body.template.name"]],
    ["an empty template name", { type: "template", to: TO, template: { ...TEMPLATE, name: "" } }, ["body.template.name"]],
    ["a missing template name", { type: "template", to: TO, template: { language: "en_US" } }, ["body.template.name"]],
    ["a template language with a dash", { type: "template", to: TO, template: { ...TEMPLATE, language: "en-US" } }, ["body.template.language"]],
    ["a template language spelled out", { type: "template", to: TO, template: { ...TEMPLATE, language: "english" } }, ["body.template.language"]],
    ["a template region in lower case", { type: "template", to: TO, template: { ...TEMPLATE, language: "en_us" } }, ["body.template.language"]],
    ["a missing template language", { type: "template", to: TO, template: { name: "order_shipped" } }, ["body.template.language"]],
    ["21 template components", { type: "template", to: TO, template: { ...TEMPLATE, components: Array(21).fill({ type: "body" }) } }, ["body.template.components"]],
    ["a template component without a type", { type: "template", to: TO, template: { ...TEMPLATE, components: [{ parameters: [] }] } }, ["body.template.components.0.type"]],
    ["an unknown template field", { type: "template", to: TO, template: { ...TEMPLATE, namespace: "x" } }, ["body.template.namespace"]],
  ])("refuses %s: 400 validation_failed naming the field, nothing stored", async (_label, payload, fields) => {
    const before = await rowCounts(app.db, ["messages", "webhook_deliveries"], acme.customer.id);
    expectFieldsRefused(await send(payload), fields);
    expect(await rowCounts(app.db, ["messages", "webhook_deliveries"], acme.customer.id)).toEqual(before);
  });

  it("names every type in allowed when the type is unknown", async () => {
    const body = expectError(await send({ type: "sticker", to: TO, media: IMAGE }), 400, "validation_failed");
    expect(body.error.details?.fields).toEqual([{ field: "body.type", message: expect.any(String), allowed: ALL_TYPES }]);
  });

  it.each([
    ["loopback", "http://127.0.0.1:8080/cat.jpg"],
    ["IPv6 loopback", "http://[::1]/cat.jpg"],
    ["a private address", "https://10.0.0.7/cat.jpg"],
    ["another private range", "https://192.168.1.20/cat.jpg"],
    ["the cloud metadata service", "http://169.254.169.254/latest/meta-data"],
    ["an IPv4-mapped loopback", "http://[::ffff:127.0.0.1]/cat.jpg"],
    ["localhost", "http://localhost/cat.jpg"],
    ["a host that does not resolve", "https://media.invalid/cat.jpg"],
    ["a URL with credentials", "https://user:pass@93.184.215.14/cat.jpg"],
  ])("refuses a media URL pointing at %s: 400 body.media.url, nothing stored", async (_label, url) => {
    const before = await rowCounts(app.db, ["messages"], acme.customer.id);
    const body = expectError(await send({ type: "image", to: TO, media: { url } }), 400, "validation_failed");
    expect(body.error.details?.fields).toEqual([{ field: "body.media.url", message: expect.any(String) }]);
    expect(await rowCounts(app.db, ["messages"], acme.customer.id)).toEqual(before);
  });

  it("checks the content before the URL: a refused URL on audio with a caption names the caption", async () => {
    const response = await send({ type: "audio", to: TO, media: { url: "http://127.0.0.1/v.ogg", caption: "listen" } });
    expectFieldsRefused(response, ["body.media.caption"]);
  });
});

// Loopback allowed (WEBHOOK_ALLOW_LOOPBACK=true, as in local development), so the sandbox can
// fetch from a media host on 127.0.0.1; the clock steps every 20 ms.
describe("the sandbox fetching media URLs", () => {
  let app: App;
  let host: MediaHost;
  let acme: TestCustomer;
  let instanceId: string;

  beforeAll(async () => {
    host = await new MediaHost().start();
    app = await buildTestApp({
      sandboxStepMs: 20,
      workerPollMs: 10,
      webhooks: FAST_WEBHOOKS,
      rateLimit: { burst: 100_000, refillPerSecond: 1 },
    });
    acme = await createTestCustomer(app, "Acme");
    await insertEndpoint(app.db, acme.customer.id, { url: "https://hooks.example.com/whatisup", events: ["message.failed"] });
    instanceId = (await createInstance(app, acme.secret, "main")).id;
  });
  afterAll(async () => {
    await app.close();
    await host.close();
  });

  async function sent(payload: Record<string, unknown>): Promise<string> {
    const response = await sendOn(app, acme.secret, instanceId, { to: TO, ...payload });
    expect(response.statusCode, response.body).toBe(202);
    return (response.json() as { id: string }).id;
  }

  async function finalState(id: string): Promise<Message> {
    await expect.poll(async () => (await readBack(app, acme.secret, instanceId, id)).status, POLL).toMatch(/^(read|failed)$/);
    return readBack(app, acme.secret, instanceId, id);
  }

  it.each([
    ["an image", "image", "/cat.jpg"],
    ["a PDF document", "document", "/report.pdf"],
    ["a text document", "document", "/notes.txt"],
    ["audio", "audio", "/voice.ogg"],
    ["a video", "video", "/clip.mp4"],
  ])("moves %s whose URL answers 200 with its kind of content through sent → delivered → read", async (_label, type, path) => {
    const id = await sent({ type, media: { url: host.url(path) } });
    const message = await finalState(id);
    expect(message).toMatchObject({ status: "read", error: null, failed_at: null });
    for (const field of ["sent_at", "delivered_at", "read_at"] as const) expect(message[field]).toMatch(TIMESTAMP);
    // Fetched once, with GET, when it left queued: not again at each step.
    expect(host.requests.filter((request) => request.path === path)).toContainEqual({ method: "GET", path });
  });

  it("moves a template through sent → delivered → read without fetching anything", async () => {
    const before = host.requests.length;
    const message = await finalState(await sent({ type: "template", template: TEMPLATE }));
    expect(message).toMatchObject({ status: "read", template: TEMPLATE, error: null });
    expect(host.requests.length).toBe(before);
  });

  it.each([
    ["answers 404", "image", "/missing.jpg", "The sandbox fetched the media URL: HTTP 404"],
    ["redirects (never followed)", "image", "/moved.jpg", "The sandbox fetched the media URL: HTTP 302 (redirects are not followed)"],
    ["serves HTML for an image", "image", "/page.html", "The sandbox fetched the media URL: content type text/html is not an image"],
    ["serves an image for a video", "video", "/cat.jpg", "The sandbox fetched the media URL: content type image/jpeg is not a video"],
    ["serves a video for audio", "audio", "/clip.mp4", "The sandbox fetched the media URL: content type video/mp4 is not an audio file"],
    ["serves an image for a document", "document", "/cat.jpg", "The sandbox fetched the media URL: content type image/jpeg is not a document"],
    ["names no content type", "image", "/untyped", "The sandbox fetched the media URL: no content type, not an image"],
  ])("fails a media message whose URL %s: message.failed with the reason, and nothing after", async (_label, type, path, error) => {
    const id = await sent({ type, media: { url: host.url(path) } });
    const message = await finalState(id);
    expect(message).toMatchObject({ status: "failed", error, sent_at: null, delivered_at: null, read_at: null });
    expect(message.failed_at).toMatch(TIMESTAMP);
    const events = await eventsOf(app, id);
    expect(events.map((entry) => entry.event)).toEqual(["message.failed"]);
    expect(events[0]!.message).toMatchObject({ id, status: "failed", error, media: expect.objectContaining({ url: host.url(path) }) });
  });

  it("does not follow a redirect: the target is never fetched for it", async () => {
    const before = host.requests.filter((request) => request.path === "/cat.jpg").length;
    await finalState(await sent({ type: "document", media: { url: host.url("/moved.jpg") } }));
    expect(host.requests.filter((request) => request.path === "/cat.jpg").length).toBe(before);
  });

  it("reads only the headers of a body that never ends, and sends the message", async () => {
    const message = await finalState(await sent({ type: "image", media: { url: host.url("/endless.png") } }));
    expect(message.status).toBe("read");
    await expect.poll(() => host.endlessClosed, POLL).toBe(1);
  });

  it("still fails a message to +15550000000 without fetching its media", async () => {
    const before = host.requests.length;
    const message = await finalState(await sent({ type: "image", to: "+15550000000", media: { url: host.url("/cat.jpg") } }));
    expect(message.status).toBe("failed");
    expect(message.error).toMatch(/\+15550000000/);
    expect(host.requests.length).toBe(before);
  });
});

// The URL passed the guard when it was sent; the sandbox checks it again when it fetches it, as
// DNS may have changed. Here the server accepted loopback at send time and a clock run with
// loopback refused plays the change. The app's own clock is held still.
describe("the destination guard at fetch time", () => {
  let app: App;
  let host: MediaHost;

  beforeAll(async () => {
    host = await new MediaHost().start();
    app = await buildTestApp({ sandboxStepMs: 3_600_000, webhooks: FAST_WEBHOOKS, rateLimit: { burst: 100_000, refillPerSecond: 1 } });
  });
  afterAll(async () => {
    await app.close();
    await host.close();
  });

  it("fails the message with destination refused, and nothing is fetched", async () => {
    const acme = await createTestCustomer(app, "Acme");
    const instance = await createInstance(app, acme.secret, "main");
    const response = await sendOn(app, acme.secret, instance.id, { type: "image", to: TO, media: { url: host.url("/cat.jpg") } });
    expect(response.statusCode, response.body).toBe(202);
    const id = (response.json() as { id: string }).id;

    const write = writerOn(app.db, TEST_PEPPER, app.dialect);
    const refusing = new SandboxClock({ db: app.db, write, stepMs: 0, destinations: { allowLoopback: false } });
    expect(await refusing.runOnce()).toBe(1);
    const message = await readBack(app, acme.secret, instance.id, id);
    expect(message.status).toBe("failed");
    expect(message.error).toMatch(/^The sandbox could not fetch the media URL: destination refused: 127\.0\.0\.1 is a loopback address$/);
    expect(host.requests).toEqual([]);

    // With loopback allowed, the same kind of message goes on to sent.
    const again = await sendOn(app, acme.secret, instance.id, { type: "image", to: TO, media: { url: host.url("/cat.jpg") } });
    const allowing = new SandboxClock({ db: app.db, write, stepMs: 0, destinations: { allowLoopback: true } });
    expect(await allowing.runOnce()).toBe(1);
    expect((await readBack(app, acme.secret, instance.id, (again.json() as { id: string }).id)).status).toBe("sent");
    expect(host.requests).toEqual([{ method: "GET", path: "/cat.jpg" }]);
  });
});

describe("probeMedia", () => {
  let host: MediaHost;
  beforeAll(async () => {
    host = await new MediaHost().start();
  });
  afterAll(() => host.close());

  it("gives up on a URL that sends no headers within its timeout", async () => {
    const started = Date.now();
    const error = await probeMedia("image", host.url("/hang"), { allowLoopback: true }, 200);
    expect(error).toBe("The sandbox could not fetch the media URL: no response within 200 ms");
    expect(Date.now() - started).toBeLessThan(2_000);
  });

  it("says a connection was refused, and never names the URL (it may carry a token)", async () => {
    const closed = new MediaHost();
    await closed.start();
    const url = `${closed.url("/cat.jpg")}?token=s3cret`;
    await closed.close();
    const error = await probeMedia("image", url, { allowLoopback: true });
    expect(error).toBe("The sandbox could not fetch the media URL: connection refused");
  });

  it("quotes another server's content type only as printable ASCII, cut short", async () => {
    const error = await probeMedia("image", host.url("/long-type"), { allowLoopback: true });
    expect(error).toBe(`The sandbox fetched the media URL: content type ${`application/x-${"long".repeat(50)}?part`.slice(0, 100)}… is not an image`);
  });
});
