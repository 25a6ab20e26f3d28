import { Writable } from "node:stream";
import type { InjectOptions, LightMyRequestResponse } from "fastify";
import { sql } from "kysely";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { EventEnvelope, Instance } from "@whatisup/client";
import type { Config } from "../src/config.js";
import type { App } from "../src/http/app-types.js";
import { MessagePump } from "../src/workers/message-pump.js";
import {
  FAKE_ACCESS_TOKEN,
  FAKE_APP_SECRET,
  FAKE_VERIFY_TOKEN,
  FakeCloudApi,
  graphError,
  hubSignature,
  messagesCallback,
  statusCallback,
} from "./helpers/fake-cloud-api.js";
import {
  bearer,
  buildTestApp,
  createTestCustomer,
  expectError,
  TEST_PEPPER,
  type TestCustomer,
  writerOn,
} from "./helpers/test-app.js";
import { tableNames } from "./helpers/test-database.js";
import { insertEndpoint } from "./helpers/webhook-fixtures.js";

const NUMBER_ID = "106540352242922";
const ENDPOINT_URL = "https://hooks.example.com/whatisup";
const INSTANCE_FIELDS = ["created_at", "customer_id", "id", "name", "phone_number", "status", "transport", "updated_at"];
const POLL = { timeout: 10_000, interval: 10 };

type Envelope = Omit<EventEnvelope, "data"> & { data: { message: Record<string, unknown> } };

let fake: FakeCloudApi;
let app: App;
let acme: TestCustomer;
/** Every answer the API gave in a test, to prove no secret is ever in one. */
let answers: string[];
let logLines: string[];

beforeEach(async () => {
  fake = await new FakeCloudApi().start();
  answers = [];
  logLines = [];
});
afterEach(async () => {
  await app?.close();
  await fake.close();
});

async function start(overrides: Partial<Config> = {}): Promise<void> {
  const stream = new Writable({
    write(chunk, _encoding, done) {
      logLines.push(String(chunk));
      done();
    },
  });
  app = await buildTestApp(
    {
      sandboxStepMs: 20,
      workerPollMs: 10,
      rateLimit: { burst: 10_000, refillPerSecond: 1 },
      cloudApi: fake.config(),
      logLevel: "debug",
      ...overrides,
    },
    { logger: { stream } },
  );
  acme = await createTestCustomer(app, "Acme");
}

async function inject(options: InjectOptions): Promise<LightMyRequestResponse> {
  const response = await app.inject(options);
  answers.push(JSON.stringify(response.headers) + response.body);
  return response;
}

function createCloudInstance(body: Record<string, unknown> = {}): Promise<LightMyRequestResponse> {
  return inject({
    method: "POST",
    url: "/v1/instances",
    headers: bearer(acme.secret),
    payload: { name: "cloud", transport: "cloud_api", phone_number_id: NUMBER_ID, ...body },
  });
}

async function connectedInstance(): Promise<Instance> {
  const response = await createCloudInstance();
  expect(response.statusCode, response.body).toBe(201);
  return response.json();
}

async function send(instanceId: string, payload: Record<string, unknown> = {}): Promise<string> {
  const response = await inject({
    method: "POST",
    url: `/v1/instances/${instanceId}/messages`,
    headers: bearer(acme.secret),
    payload: { type: "text", to: "+15551234567", text: "hello from the cloud", ...payload },
  });
  expect(response.statusCode, response.body).toBe(202);
  return (response.json() as { id: string }).id;
}

function messageRow(id: string) {
  return app.db.selectFrom("messages").selectAll().where("id", "=", id).executeTakeFirstOrThrow();
}

async function messageEvents(messageId: string): Promise<Envelope[]> {
  const rows = await app.db
    .selectFrom("webhook_deliveries")
    .select("payload")
    .where("event", "like", "message.%")
    .orderBy("created_at")
    .orderBy("id")
    .execute();
  // message.received carries the message itself as data, the other message events {"message": …}.
  return rows.map((row) => JSON.parse(row.payload) as Envelope).filter((event) => event.data.message?.id === messageId);
}

/** Posts a callback signed over exactly the bytes sent (unless a signature is given). */
function callback(body: unknown, signature?: string | null, contentType = "application/json"): Promise<LightMyRequestResponse> {
  const raw = typeof body === "string" ? body : JSON.stringify(body);
  const headers: Record<string, string> = { "content-type": contentType };
  if (signature !== null) headers["x-hub-signature-256"] = signature ?? hubSignature(raw);
  return inject({ method: "POST", url: "/webhooks/whatsapp", headers, payload: raw });
}

/** A sent message whose wamid is stored: what the callbacks act on. */
async function sentMessage(): Promise<{ instance: Instance; id: string; wamid: string }> {
  const instance = await connectedInstance();
  const id = await send(instance.id);
  await expect.poll(async () => (await messageRow(id)).provider_message_id, POLL).not.toBeNull();
  const wamid = (await messageRow(id)).provider_message_id!;
  return { instance, id, wamid };
}

/** What a pump driven by the test itself uses, on the app's database. */
function pumpDependencies() {
  return { db: app.db, write: writerOn(app.db, TEST_PEPPER, app.dialect), cloudApi: fake.config() };
}

describe("creating a cloud_api instance", () => {
  beforeEach(() => start());

  it("verifies the number with the Cloud API and is connected with its E.164 number", async () => {
    const response = await createCloudInstance();
    expect(response.statusCode, response.body).toBe(201);
    const instance = response.json() as Instance;
    expect(Object.keys(instance).sort()).toEqual(INSTANCE_FIELDS);
    expect(instance).toMatchObject({ transport: "cloud_api", status: "connected", phone_number: "+15550100199" });
    expect(response.body).not.toContain(NUMBER_ID);

    expect(fake.requests).toHaveLength(1);
    const lookup = fake.requests[0]!;
    expect(lookup.method).toBe("GET");
    expect(lookup.path).toBe(`/v21.0/${NUMBER_ID}`);
    expect(lookup.query).toEqual({ fields: "display_phone_number,verified_name" });
    expect(lookup.headers.authorization).toBe(`Bearer ${FAKE_ACCESS_TOKEN}`);

    const row = await app.db.selectFrom("instances").selectAll().where("id", "=", instance.id).executeTakeFirstOrThrow();
    expect(row).toMatchObject({ transport: "cloud_api", provider_phone_number_id: NUMBER_ID, status: "connected" });
  });

  it("writes instance.created in the transaction of the insert", async () => {
    await insertEndpoint(app.db, acme.customer.id, { url: ENDPOINT_URL });
    const instance = await connectedInstance();
    const rows = await app.db.selectFrom("webhook_deliveries").selectAll().where("event", "=", "instance.created").execute();
    expect(rows).toHaveLength(1);
    const payload = JSON.parse(rows[0]!.payload) as { data: { instance: Record<string, unknown> } };
    expect(payload.data.instance).toMatchObject({ id: instance.id, transport: "cloud_api", status: "connected" });
    expect(rows[0]!.payload).not.toContain(FAKE_ACCESS_TOKEN);
  });

  it.each([
    ["without phone_number_id", { phone_number_id: undefined }, "body.phone_number_id"],
    ["with a phone_number_id that is not digits", { phone_number_id: "1065/../me" }, "body.phone_number_id"],
    ["with a number the Cloud API does not know", { phone_number_id: "999" }, "body.phone_number_id"],
  ])("refuses it %s: 400 naming the field, nothing created", async (_label, body, field) => {
    const response = await createCloudInstance(body);
    const error = expectError(response, 400, "validation_failed");
    expect((error.error.details?.fields as { field: string }[]).map((problem) => problem.field)).toContain(field);
    expect(await app.db.selectFrom("instances").selectAll().execute()).toEqual([]);
  });

  it("says what the Cloud API answered when it refuses the number", async () => {
    const error = expectError(await createCloudInstance({ phone_number_id: "999" }), 400, "validation_failed");
    expect(JSON.stringify(error.error.details)).toMatch(/does not exist/);
  });

  it("refuses a number already connected to another live instance, of any customer", async () => {
    await connectedInstance();
    const globex = await createTestCustomer(app, "Globex");
    const theirs = await inject({
      method: "POST",
      url: "/v1/instances",
      headers: bearer(globex.secret),
      payload: { name: "stolen", transport: "cloud_api", phone_number_id: NUMBER_ID },
    });
    const error = expectError(theirs, 400, "validation_failed");
    expect(error.error.details).toEqual({
      fields: [{ field: "body.phone_number_id", message: "is already connected to another instance" }],
    });
  });

  it("creates the instance failed when the Cloud API is down; sending from it is 409", async () => {
    fake.answerLookupsWith(graphError(503, 2, "Service temporarily unavailable"));
    const response = await createCloudInstance();
    expect(response.statusCode, response.body).toBe(201);
    const instance = response.json() as Instance;
    expect(instance).toMatchObject({ status: "failed", phone_number: null, transport: "cloud_api" });
    const refused = await inject({
      method: "POST",
      url: `/v1/instances/${instance.id}/messages`,
      headers: bearer(acme.secret),
      payload: { type: "text", to: "+15551234567", text: "hi" },
    });
    expectError(refused, 409, "instance_unavailable");
  });

  it("creates the instance failed when the Cloud API cannot be reached", async () => {
    await fake.close();
    const response = await createCloudInstance();
    expect(response.statusCode, response.body).toBe(201);
    expect((response.json() as Instance).status).toBe("failed");
  });
});

describe("sending through the Cloud API", () => {
  beforeEach(() => start());

  it("posts the Cloud API's wire shape with the bearer token and stores the wamid; the message stays queued", async () => {
    const instance = await connectedInstance();
    const id = await send(instance.id, { client_ref: "c-1" });
    await expect.poll(() => fake.sendRequests().length, POLL).toBe(1);
    const request = fake.sendRequests()[0]!;
    expect(request.path).toBe(`/v21.0/${NUMBER_ID}/messages`);
    expect(request.headers.authorization).toBe(`Bearer ${FAKE_ACCESS_TOKEN}`);
    expect(request.headers["content-type"]).toMatch(/^application\/json/);
    expect(request.body).toEqual({
      messaging_product: "whatsapp",
      recipient_type: "individual",
      to: "15551234567",
      type: "text",
      text: { body: "hello from the cloud", preview_url: false },
    });

    await expect.poll(async () => (await messageRow(id)).provider_message_id, POLL).toBe("wamid.FAKE000001");
    const row = await messageRow(id);
    expect(row.status).toBe("queued");
    expect(row.claimed_until).toBeNull();
    // Sent once: later runs of the pump leave a message with a wamid alone.
    expect(await new MessagePump(pumpDependencies()).runOnce()).toBe(0);
    expect(fake.sendRequests()).toHaveLength(1);
  });

  it("a 4xx from the Cloud API fails the message with the API's error and message.failed", async () => {
    await insertEndpoint(app.db, acme.customer.id, { url: ENDPOINT_URL });
    fake.failNextSends(graphError(400, 131030, "(#131030) Recipient phone number not in allowed list"));
    const instance = await connectedInstance();
    const id = await send(instance.id);
    await expect.poll(async () => (await messageRow(id)).status, POLL).toBe("failed");
    const row = await messageRow(id);
    expect(row.error).toMatch(/Recipient phone number not in allowed list/);
    expect(row.provider_message_id).toBeNull();
    const events = await messageEvents(id);
    expect(events.map((event) => event.event)).toEqual(["message.failed"]);
    expect(events[0]!.data.message).toMatchObject({ id, status: "failed", error: row.error, instance_id: instance.id });
    expect(fake.sendRequests()).toHaveLength(1);
  });

  it("never stores the access token, even when the Cloud API echoes it in an error", async () => {
    fake.failNextSends(graphError(400, 100, `Invalid parameter near ${FAKE_ACCESS_TOKEN}`));
    const instance = await connectedInstance();
    const id = await send(instance.id);
    await expect.poll(async () => (await messageRow(id)).status, POLL).toBe("failed");
    const row = await messageRow(id);
    expect(row.error).toContain("[redacted]");
    expect(row.error).not.toContain(FAKE_ACCESS_TOKEN);
  });

  it("stores the Cloud API's error with U+FFFD for text PostgreSQL cannot store, rather than retrying the failing write for ever", async () => {
    fake.failNextSends(graphError(400, 100, "Invalid \u0000 parameter \ud800"));
    const instance = await connectedInstance();
    const id = await send(instance.id);
    await expect.poll(async () => (await messageRow(id)).status, POLL).toBe("failed");
    expect((await messageRow(id)).error).toBe("Cloud API error 100 (HTTP 400): Invalid \uFFFD parameter \uFFFD");
  });

  it("does not send messages of sandbox instances", async () => {
    const sandbox = await inject({ method: "POST", url: "/v1/instances", headers: bearer(acme.secret), payload: { name: "s" } });
    const id = await send((sandbox.json() as Instance).id);
    await expect.poll(async () => (await messageRow(id)).status, POLL).toBe("read");
    expect(fake.sendRequests()).toEqual([]);
  });
});

describe("the message pump's retries and leases (driven by the test)", () => {
  // The app's own workers run once at start, then sleep for an hour. On a loaded machine that
  // first run can come after a test has sent, and take its messages: the tests drive their own
  // pumps only once it is over.
  beforeEach(async () => {
    const runs = vi.spyOn(MessagePump.prototype, "runOnce");
    try {
      await start({ workerPollMs: 3_600_000 });
      await expect.poll(() => runs.mock.results.length).toBeGreaterThan(0);
      await runs.mock.results[0]!.value;
    } finally {
      runs.mockRestore();
    }
  });

  it("a 5xx, a 429 or no answer releases the claim; a later run sends it", async () => {
    const instance = await connectedInstance();
    const id = await send(instance.id);
    const pump = new MessagePump(pumpDependencies(), { retryDelayMs: 0 });
    fake.failNextSends(graphError(500, 1, "An unknown error occurred"), graphError(429, 130429, "Rate limit hit"));

    expect(await pump.runOnce()).toBe(1);
    let row = await messageRow(id);
    expect(row).toMatchObject({ status: "queued", provider_message_id: null, error: null });
    expect(await pump.runOnce()).toBe(1);
    expect((await messageRow(id)).provider_message_id).toBeNull();
    expect(await pump.runOnce()).toBe(1);
    row = await messageRow(id);
    expect(row).toMatchObject({ status: "queued", provider_message_id: "wamid.FAKE000001" });
    expect(fake.sendRequests()).toHaveLength(3);
  });

  it("waits retryDelayMs before trying again", async () => {
    const instance = await connectedInstance();
    const id = await send(instance.id);
    fake.failNextSends(graphError(503, 2, "Service unavailable"));
    const pump = new MessagePump(pumpDependencies(), { retryDelayMs: 3_600_000 });
    expect(await pump.runOnce()).toBe(1);
    expect(await pump.runOnce()).toBe(0);
    const row = await messageRow(id);
    expect(Date.parse(row.claimed_until!)).toBeGreaterThan(Date.now() + 3_000_000);
    expect(fake.sendRequests()).toHaveLength(1);
  });

  it("gives up when the message is older than giveUpAfterMs: failed with the last error", async () => {
    await insertEndpoint(app.db, acme.customer.id, { url: ENDPOINT_URL });
    const instance = await connectedInstance();
    const id = await send(instance.id);
    await fake.close();
    const pump = new MessagePump(pumpDependencies(), { retryDelayMs: 0, giveUpAfterMs: 0 });
    expect(await pump.runOnce()).toBe(1);
    const row = await messageRow(id);
    expect(row.status).toBe("failed");
    expect(row.error).toMatch(/could not be reached/);
    expect((await messageEvents(id)).map((event) => event.event)).toEqual(["message.failed"]);
  });

  it("two pumps running at once send each message exactly once", async () => {
    const instance = await connectedInstance();
    const ids: string[] = [];
    for (let n = 0; n < 6; n++) ids.push(await send(instance.id, { text: `message ${n}` }));
    const pumps = [new MessagePump(pumpDependencies()), new MessagePump(pumpDependencies())];
    const handled = await Promise.all(pumps.map((pump) => pump.runOnce()));
    expect(handled[0]! + handled[1]!).toBe(6);
    expect(await Promise.all(pumps.map((pump) => pump.runOnce()))).toEqual([0, 0]);
    const texts = fake.sendRequests().map((request) => (request.body as { text: { body: string } }).text.body);
    expect(texts.sort()).toEqual(ids.map((_id, n) => `message ${n}`).sort());
    const rows = await app.db.selectFrom("messages").select("provider_message_id").execute();
    expect(new Set(rows.map((row) => row.provider_message_id)).size).toBe(6);
  });

  it("a claim held by another node is left alone until its lease expires", async () => {
    const instance = await connectedInstance();
    const id = await send(instance.id);
    const future = new Date(Date.now() + 60_000).toISOString();
    await app.db.updateTable("messages").set({ claimed_until: future }).where("id", "=", id).execute();
    expect(await new MessagePump(pumpDependencies()).runOnce()).toBe(0);
    const past = new Date(Date.now() - 1).toISOString();
    await app.db.updateTable("messages").set({ claimed_until: past }).where("id", "=", id).execute();
    expect(await new MessagePump(pumpDependencies()).runOnce()).toBe(1);
    expect((await messageRow(id)).provider_message_id).toBe("wamid.FAKE000001");
  });
});

describe("status callbacks: POST /webhooks/whatsapp", () => {
  beforeEach(() => start());

  it("signed sent, delivered and read callbacks move the message and emit each event", async () => {
    await insertEndpoint(app.db, acme.customer.id, { url: ENDPOINT_URL });
    const { instance, id, wamid } = await sentMessage();
    for (const status of ["sent", "delivered", "read"]) {
      const response = await callback(statusCallback(NUMBER_ID, [{ id: wamid, status }]));
      expect(response.statusCode, response.body).toBe(200);
      expect(response.json()).toEqual({ received: 1, messages: 0 });
      expect((await messageRow(id)).status).toBe(status);
    }
    const events = await messageEvents(id);
    expect(events.map((event) => event.event)).toEqual(["message.sent", "message.delivered", "message.read"]);
    expect(events[2]!.data.message).toMatchObject({
      status: "read",
      sent_at: events[0]!.data.message.sent_at,
      delivered_at: events[1]!.data.message.delivered_at,
      read_at: expect.any(String),
      failed_at: null,
    });
    for (const event of events) {
      expect(event.instance_id).toBe(instance.id);
      expect(event.data.message).toMatchObject({ id, instance_id: instance.id, to: "+15551234567", type: "text", error: null });
    }
  });

  it("never moves a message backwards, and a repeated status changes nothing", async () => {
    await insertEndpoint(app.db, acme.customer.id, { url: ENDPOINT_URL });
    const { id, wamid } = await sentMessage();
    // Out of order: delivered first (sent is skipped), then a late sent, then delivered again.
    const batch = statusCallback(NUMBER_ID, [
      { id: wamid, status: "delivered" },
      { id: wamid, status: "sent" },
      { id: wamid, status: "delivered" },
    ]);
    expect((await callback(batch)).statusCode).toBe(200);
    expect((await messageRow(id)).status).toBe("delivered");
    expect((await callback(statusCallback(NUMBER_ID, [{ id: wamid, status: "read" }]))).statusCode).toBe(200);
    expect((await callback(statusCallback(NUMBER_ID, [{ id: wamid, status: "failed" }]))).statusCode).toBe(200);
    expect((await messageRow(id)).status).toBe("read");
    expect((await messageEvents(id)).map((event) => event.event)).toEqual(["message.delivered", "message.read"]);
  });

  it("a failed status fails the message with WhatsApp's error and message.failed", async () => {
    await insertEndpoint(app.db, acme.customer.id, { url: ENDPOINT_URL });
    const { id, wamid } = await sentMessage();
    expect((await callback(statusCallback(NUMBER_ID, [{ id: wamid, status: "sent" }]))).statusCode).toBe(200);
    const errors = [{ code: 131047, title: "Re-engagement message", error_data: { details: "More than 24 hours have passed" } }];
    expect((await callback(statusCallback(NUMBER_ID, [{ id: wamid, status: "failed", errors }]))).statusCode).toBe(200);
    const row = await messageRow(id);
    expect(row.status).toBe("failed");
    expect(row.error).toBe("WhatsApp error 131047: More than 24 hours have passed");
    const events = await messageEvents(id);
    expect(events.map((event) => event.event)).toEqual(["message.sent", "message.failed"]);
    expect(events[1]!.data.message).toMatchObject({ status: "failed", error: row.error });
  });

  it("answers 200 to statuses it does not know (another app's wamid, other fields) and changes nothing", async () => {
    const { id } = await sentMessage();
    const response = await callback(statusCallback(NUMBER_ID, [{ id: "wamid.SOMEONE_ELSE", status: "read" }]));
    expect(response.statusCode).toBe(200);
    const inbound = { object: "whatsapp_business_account", entry: [{ changes: [{ value: { messages: [{ id: "x" }] } }] }] };
    const answer = await callback(inbound);
    expect(answer.statusCode).toBe(200);
    expect(answer.json()).toEqual({ received: 0, messages: 1 });
    expect((await messageRow(id)).status).toBe("queued");
  });

  it.each([
    ["a wrong signature", hubSignature("something else"), 401, "auth_invalid"],
    ["a signature under another secret", "", 401, "auth_invalid"],
    ["a malformed signature header", "sha1=abc", 401, "auth_malformed"],
    ["no signature header", null, 401, "auth_missing"],
  ] as const)("refuses %s: 401 in the envelope, and changes nothing", async (_label, header, status, code) => {
    await insertEndpoint(app.db, acme.customer.id, { url: ENDPOINT_URL });
    const { id, wamid } = await sentMessage();
    const body = statusCallback(NUMBER_ID, [{ id: wamid, status: "read" }]);
    const signature = header === "" ? hubSignature(JSON.stringify(body), "another-app-secret") : header;
    expectError(await callback(body, signature), status, code);
    expect((await messageRow(id)).status).toBe("queued");
    expect(await messageEvents(id)).toEqual([]);
  });

  it("verifies the raw bytes: a signature of the same JSON serialized differently is refused", async () => {
    const { id, wamid } = await sentMessage();
    const body = statusCallback(NUMBER_ID, [{ id: wamid, status: "sent" }]);
    const pretty = JSON.stringify(body, null, 2);
    expectError(await callback(pretty, hubSignature(JSON.stringify(body))), 401, "auth_invalid");
    expect((await messageRow(id)).status).toBe("queued");
    // The same pretty bytes, signed as sent, are fine.
    expect((await callback(pretty, hubSignature(pretty))).statusCode).toBe(200);
    expect((await messageRow(id)).status).toBe("sent");
  });

  it("checks the signature before the content type or the JSON", async () => {
    expectError(await callback("not json", "sha256=" + "0".repeat(64), "text/plain"), 401, "auth_invalid");
    const signedGarbage = await callback("not json", hubSignature("not json"));
    expectError(signedGarbage, 400, "validation_failed");
  });
});

describe("the subscription handshake: GET /webhooks/whatsapp", () => {
  beforeEach(() => start());

  it("answers hub.challenge as text when hub.verify_token matches", async () => {
    const response = await inject({
      method: "GET",
      url: `/webhooks/whatsapp?hub.mode=subscribe&hub.verify_token=${FAKE_VERIFY_TOKEN}&hub.challenge=1158201444`,
    });
    expect(response.statusCode).toBe(200);
    expect(response.headers["content-type"]).toMatch(/^text\/plain/);
    expect(response.body).toBe("1158201444");
  });

  it.each([
    ["a wrong verify token", "hub.mode=subscribe&hub.verify_token=nope&hub.challenge=1"],
    ["no verify token", "hub.mode=subscribe&hub.challenge=1"],
    ["another mode", `hub.mode=unsubscribe&hub.verify_token=${FAKE_VERIFY_TOKEN}&hub.challenge=1`],
    ["no challenge", `hub.mode=subscribe&hub.verify_token=${FAKE_VERIFY_TOKEN}`],
  ])("refuses %s: 403 in the envelope, without the challenge", async (_label, query) => {
    const response = await inject({ method: "GET", url: `/webhooks/whatsapp?${query}` });
    expect(response.statusCode).toBe(403);
    const body = response.json() as { error: { code: string; message: string }; request_id: string };
    expect(body.error.code).toBe("verification_failed");
    expect(body.request_id).toBe(response.headers["x-request-id"]);
    expect(response.body).not.toContain(FAKE_VERIFY_TOKEN);
  });
});

describe("a server without a Cloud API configuration", () => {
  beforeEach(() => start({ cloudApi: null }));

  it("refuses cloud_api instances: 400 naming body.transport", async () => {
    const error = expectError(await createCloudInstance(), 400, "validation_failed");
    expect(error.error.details).toEqual({
      fields: [{ field: "body.transport", message: "cloud_api is not configured on this server" }],
    });
    expect(fake.requests).toEqual([]);
  });

  it("has no callback routes: 404 not_found for GET and POST /webhooks/whatsapp", async () => {
    expectError(
      await inject({ method: "GET", url: `/webhooks/whatsapp?hub.mode=subscribe&hub.verify_token=x&hub.challenge=1` }),
      404,
      "not_found",
    );
    expectError(await callback({ entry: [] }), 404, "not_found");
  });
});

describe("secrets", () => {
  beforeEach(() => start());

  it("the access token and the app secret appear in no answer, no log line and no database row", async () => {
    await insertEndpoint(app.db, acme.customer.id, { url: ENDPOINT_URL });
    const { wamid } = await sentMessage();
    await callback(statusCallback(NUMBER_ID, [{ id: wamid, status: "sent" }]));
    await callback(statusCallback(NUMBER_ID, [{ id: wamid, status: "read" }]), hubSignature("x"));
    const inbound = messagesCallback(NUMBER_ID, [{ id: "wamid.INBOUND", type: "text", text: { body: "hi" } }]);
    expect((await callback(inbound)).json()).toEqual({ received: 0, messages: 1 });
    fake.failNextSends(graphError(401, 190, `Invalid OAuth access token ${FAKE_ACCESS_TOKEN}`));
    const instance = (await inject({ method: "GET", url: "/v1/instances", headers: bearer(acme.secret) })).json() as {
      data: Instance[];
    };
    const failing = await send(instance.data[0]!.id);
    await expect.poll(async () => (await messageRow(failing)).status, POLL).toBe("failed");
    await createCloudInstance({ phone_number_id: "999" });
    await inject({ method: "GET", url: "/webhooks/whatsapp?hub.mode=subscribe&hub.verify_token=nope&hub.challenge=1" });

    const tables = await tableNames(app.db, app.dialect);
    expect(tables).toEqual(expect.arrayContaining(["messages", "instances", "webhook_deliveries", "audit_events"]));
    let dump = "";
    for (const name of tables) {
      const rows = await sql`select * from ${sql.table(name)}`.execute(app.db);
      dump += JSON.stringify(rows.rows);
    }
    expect(dump).toContain(wamid);
    expect(dump).toContain("wamid.INBOUND");
    expect(logLines.length).toBeGreaterThan(0);
    for (const text of [dump, ...answers, ...logLines]) {
      expect(text).not.toContain(FAKE_ACCESS_TOKEN);
      expect(text).not.toContain(FAKE_APP_SECRET);
    }
  });
});
