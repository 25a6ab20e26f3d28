import { randomUUID } from "node:crypto";
import type { LightMyRequestResponse } from "fastify";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import type { Message } from "../src/contract/message.js";
import type { App } from "../src/http/app-types.js";
import {
  bearer,
  buildTestApp,
  createInstance,
  createTestCustomer,
  expectError,
  issueKey,
  TIMESTAMP,
  type TestCustomer,
} from "./helpers/test-app.js";
import { MESSAGE_FIELDS } from "./helpers/message-fields.js";

const FAILING_NUMBER = "+15550000000";
const POLL = { timeout: 10_000, interval: 10 };
type Page = { data: Message[]; next_cursor: string | null };

let app: App;
let acme: TestCustomer;

// One app for the file, its sandbox clock fast; a new customer for each test.
beforeAll(async () => {
  app = await buildTestApp({ sandboxStepMs: 20, workerPollMs: 10, rateLimit: { burst: 100_000, refillPerSecond: 1 } });
});
afterAll(() => app.close());
beforeEach(async () => {
  acme = await createTestCustomer(app, "Acme");
});

async function send(instanceId: string, to = "+15551234567", text = "hello", secret = acme.secret): Promise<string> {
  const response = await app.inject({
    method: "POST",
    url: `/v1/instances/${instanceId}/messages`,
    headers: bearer(secret),
    payload: { type: "text", to, text, client_ref: `ref-${text}` },
  });
  expect(response.statusCode, response.body).toBe(202);
  return (response.json() as { id: string }).id;
}

async function receive(instanceId: string, text: string): Promise<Message> {
  const response = await app.inject({
    method: "POST",
    url: `/v1/instances/${instanceId}/sandbox/inbound`,
    headers: bearer(acme.secret),
    payload: { from: "+15557654321", text },
  });
  expect(response.statusCode, response.body).toBe(201);
  return response.json();
}

function list(instanceId: string, query = "", secret = acme.secret): Promise<LightMyRequestResponse> {
  return app.inject({ method: "GET", url: `/v1/instances/${instanceId}/messages${query}`, headers: bearer(secret) });
}

async function listed(instanceId: string, query = ""): Promise<Page> {
  const response = await list(instanceId, query);
  expect(response.statusCode, response.body).toBe(200);
  const page = response.json() as Page;
  expect(Object.keys(page).sort()).toEqual(["data", "next_cursor"]);
  return page;
}

function getOne(instanceId: string, messageId: string, secret = acme.secret): Promise<LightMyRequestResponse> {
  return app.inject({ method: "GET", url: `/v1/instances/${instanceId}/messages/${messageId}`, headers: bearer(secret) });
}

async function got(instanceId: string, messageId: string): Promise<Message> {
  const response = await getOne(instanceId, messageId);
  expect(response.statusCode, response.body).toBe(200);
  return response.json();
}

/** Waits until none of the instance's outbound messages is still moving. */
async function settled(instanceId: string): Promise<void> {
  await expect
    .poll(async () => (await listed(instanceId, "?direction=outbound&limit=100")).data.filter((m) => !["read", "failed"].includes(m.status)).length, POLL)
    .toBe(0);
}

function expectFieldRefused(response: LightMyRequestResponse, field: string): void {
  const body = expectError(response, 400, "validation_failed");
  const fields = (body.error.details?.fields ?? []) as { field: string }[];
  expect(fields.map((problem) => problem.field)).toContain(field);
}

describe("GET /v1/instances/:id/messages", () => {
  it("answers an instance without messages with an empty page", async () => {
    const instance = await createInstance(app, acme.secret, "main");
    expect(await listed(instance.id)).toEqual({ data: [], next_cursor: null });
  });

  it("lists both directions newest first, each a whole Message, and only this instance's", async () => {
    const instance = await createInstance(app, acme.secret, "main");
    const sibling = await createInstance(app, acme.secret, "sibling");
    const first = await send(instance.id, "+15551234567", "first");
    const inbound = await receive(instance.id, "a reply");
    const last = await send(instance.id, "+15551234568", "last");
    await send(sibling.id, "+15551234567", "elsewhere");

    const page = await listed(instance.id);
    expect(page.next_cursor).toBeNull();
    expect(page.data.map((message) => message.id)).toEqual([last, inbound.id, first]);
    for (const message of page.data) {
      expect(Object.keys(message).sort()).toEqual(MESSAGE_FIELDS);
      expect(message.instance_id).toBe(instance.id);
    }
    expect(page.data[0]).toMatchObject({ direction: "outbound", to: "+15551234568", text: "last", type: "text", client_ref: "ref-last" });
    expect(page.data[1]).toEqual(inbound);
  });

  it("filters by direction and by status, alone and together", async () => {
    const instance = await createInstance(app, acme.secret, "main");
    const read = [await send(instance.id, "+15551234567", "one"), await send(instance.id, "+15551234568", "two")];
    const failed = await send(instance.id, FAILING_NUMBER, "doomed");
    const inbound = await receive(instance.id, "hi there");
    await settled(instance.id);

    const ids = async (query: string) => (await listed(instance.id, query)).data.map((message) => message.id);
    expect(await ids("?direction=outbound")).toEqual([failed, ...read.slice().reverse()]);
    expect(await ids("?direction=inbound")).toEqual([inbound.id]);
    expect(await ids("?status=read")).toEqual(read.slice().reverse());
    expect(await ids("?status=failed")).toEqual([failed]);
    expect(await ids("?status=received")).toEqual([inbound.id]);
    expect(await ids("?status=queued")).toEqual([]);
    expect(await ids("?direction=outbound&status=failed")).toEqual([failed]);
    expect(await ids("?direction=outbound&status=received")).toEqual([]);
    expect(await ids("?direction=inbound&status=read")).toEqual([]);
  });

  it("pages with next_cursor until it is null, every message once, and a cursor keeps its filters' order", async () => {
    const instance = await createInstance(app, acme.secret, "main");
    const sent: string[] = [];
    for (let n = 0; n < 7; n++) sent.push(await send(instance.id, `+1555123456${n}`, `m${n}`));
    const newestFirst = sent.slice().reverse();

    const seen: string[] = [];
    const sizes: number[] = [];
    let cursor: string | null = null;
    do {
      const page: Page = await listed(instance.id, `?limit=3${cursor ? `&cursor=${cursor}` : ""}`);
      sizes.push(page.data.length);
      seen.push(...page.data.map((message) => message.id));
      cursor = page.next_cursor;
    } while (cursor !== null);
    expect(sizes).toEqual([3, 3, 1]);
    expect(seen).toEqual(newestFirst);

    // A page that ends exactly at the last message says so: no next cursor, no empty page after.
    const whole = await listed(instance.id, "?limit=7");
    expect(whole.data.map((message) => message.id)).toEqual(newestFirst);
    expect(whole.next_cursor).toBeNull();
    const firstPage = await listed(instance.id, "?direction=outbound&limit=6");
    const rest = await listed(instance.id, `?direction=outbound&limit=6&cursor=${firstPage.next_cursor}`);
    expect(rest).toEqual({ data: [expect.objectContaining({ id: sent[0] })], next_cursor: null });
  });

  it.each([
    ["a cursor that is not base64 of one", "?cursor=not-a-cursor", "querystring.cursor"],
    ["a cursor carrying something else", `?cursor=${Buffer.from(JSON.stringify(["2026-01-01T00:00:00.000Z", "x"])).toString("base64url")}`, "querystring.cursor"],
    ["a cursor with a timestamp in another format", `?cursor=${Buffer.from(JSON.stringify(["2026-01-01 00:00:00", randomUUID()])).toString("base64url")}`, "querystring.cursor"],
    ["an empty cursor", "?cursor=", "querystring.cursor"],
    ["limit 0", "?limit=0", "querystring.limit"],
    ["limit 101", "?limit=101", "querystring.limit"],
    ["a limit that is not a number", "?limit=ten", "querystring.limit"],
    ["an unknown direction", "?direction=sideways", "querystring.direction"],
    ["an unknown status", "?status=sending", "querystring.status"],
    ["an unknown parameter", "?instance_id=x", "querystring.instance_id"],
  ])("refuses %s: 400 validation_failed naming it", async (_label, query, field) => {
    const instance = await createInstance(app, acme.secret, "main");
    await send(instance.id);
    expectFieldRefused(await list(instance.id, query), field);
  });

  it("takes limit 1 and limit 100", async () => {
    const instance = await createInstance(app, acme.secret, "main");
    const first = await send(instance.id, "+15551234567", "a");
    const second = await send(instance.id, "+15551234568", "b");
    const one = await listed(instance.id, "?limit=1");
    expect(one.data.map((message) => message.id)).toEqual([second]);
    expect(one.next_cursor).toEqual(expect.any(String));
    expect((await listed(instance.id, "?limit=100")).data.map((message) => message.id)).toEqual([second, first]);
  });

  it("a deleted instance: 404 instance_not_found", async () => {
    const instance = await createInstance(app, acme.secret, "doomed");
    await send(instance.id);
    const deleted = await app.inject({ method: "DELETE", url: `/v1/instances/${instance.id}`, headers: bearer(acme.secret) });
    expect(deleted.statusCode).toBe(204);
    expectError(await list(instance.id), 404, "instance_not_found");
  });
});

describe("GET /v1/instances/:id/messages/:message_id", () => {
  it("shows each state's time as the sandbox moves the message: sent_at, delivered_at, read_at", async () => {
    const instance = await createInstance(app, acme.secret, "main");
    const id = await send(instance.id, "+15551234567", "hello");
    const seen = new Set<string>();
    let message = await got(instance.id, id);
    expect(Object.keys(message).sort()).toEqual(MESSAGE_FIELDS);
    expect(message).toMatchObject({
      id,
      instance_id: instance.id,
      direction: "outbound",
      // A sandbox instance has no number of its own.
      from: null,
      to: "+15551234567",
      type: "text",
      text: "hello",
      media: null,
      template: null,
      client_ref: "ref-hello",
      error: null,
      reply_to: null,
      failed_at: null,
      received_at: null,
      created_at: expect.stringMatching(TIMESTAMP),
      updated_at: expect.stringMatching(TIMESTAMP),
    });
    // Every read, whichever state it catches, shows the times of the states reached, and no other.
    const reached = { queued: 0, sent: 1, delivered: 2, read: 3 } as Record<string, number>;
    const times = ["sent_at", "delivered_at", "read_at"] as const;
    while (message.status !== "read") {
      seen.add(message.status);
      for (const [index, field] of times.entries()) {
        if (index < reached[message.status]!) expect(message[field], field).toMatch(TIMESTAMP);
        else expect(message[field], field).toBeNull();
      }
      await new Promise((resolve) => setTimeout(resolve, 5));
      message = await got(instance.id, id);
    }
    expect([...seen].every((status) => ["queued", "sent", "delivered"].includes(status))).toBe(true);
    const moments = [message.created_at, message.sent_at!, message.delivered_at!, message.read_at!].map(Date.parse);
    for (let index = 1; index < moments.length; index++) expect(moments[index]!).toBeGreaterThan(moments[index - 1]!);
    expect(message.updated_at).toBe(message.read_at);
    expect(message).toMatchObject({ error: null, failed_at: null, received_at: null });
  });

  it("shows failed_at and the error of a message to +15550000000, and no other state's time", async () => {
    const instance = await createInstance(app, acme.secret, "main");
    const id = await send(instance.id, FAILING_NUMBER, "doomed");
    await expect.poll(async () => (await got(instance.id, id)).status, POLL).toBe("failed");
    const message = await got(instance.id, id);
    expect(message.failed_at).toMatch(TIMESTAMP);
    expect(message.error).toMatch(/\+15550000000/);
    expect(message).toMatchObject({ sent_at: null, delivered_at: null, read_at: null, received_at: null, updated_at: message.failed_at });
  });

  it("reads an id in upper case as the same message", async () => {
    const instance = await createInstance(app, acme.secret, "main");
    const id = await send(instance.id);
    expect((await got(instance.id, id.toUpperCase())).id).toBe(id);
  });

  it("an unknown message: 404 message_not_found; a malformed id: 400 naming params.message_id", async () => {
    const instance = await createInstance(app, acme.secret, "main");
    expectError(await getOne(instance.id, randomUUID()), 404, "message_not_found");
    expectFieldRefused(await getOne(instance.id, "not-a-uuid"), "params.message_id");
  });

  it("a message of another instance of the same customer, named under this one: 404 message_not_found", async () => {
    const instance = await createInstance(app, acme.secret, "main");
    const sibling = await createInstance(app, acme.secret, "sibling");
    const theirs = await send(sibling.id);
    const body = expectError(await getOne(instance.id, theirs), 404, "message_not_found");
    expect(JSON.stringify(body)).not.toContain(theirs);
    expect((await got(sibling.id, theirs)).id).toBe(theirs);
  });
});

describe("keys and scopes", () => {
  it("needs messages:read: a key holding only messages:send is 403 insufficient_scope on both routes", async () => {
    const instance = await createInstance(app, acme.secret, "main");
    const sender = await issueKey(app, acme.secret, { name: "sender", scopes: ["messages:send"] });
    const id = await send(instance.id, "+15551234567", "hello", sender.secret);
    const listing = expectError(await list(instance.id, "", sender.secret), 403, "insufficient_scope");
    expect(listing.error.details).toEqual({ required: "messages:read" });
    const one = expectError(await getOne(instance.id, id, sender.secret), 403, "insufficient_scope");
    expect(one.error.details).toEqual({ required: "messages:read" });
  });

  it("a key holding messages:read reads, and cannot send; * holds messages:read", async () => {
    const instance = await createInstance(app, acme.secret, "main");
    const id = await send(instance.id);
    const reader = await issueKey(app, acme.secret, { name: "reader", scopes: ["messages:read"] });
    const listing = await list(instance.id, "", reader.secret);
    expect(listing.statusCode, listing.body).toBe(200);
    expect((listing.json() as Page).data.map((message) => message.id)).toEqual([id]);
    expect((await getOne(instance.id, id, reader.secret)).statusCode).toBe(200);
    const sending = await app.inject({
      method: "POST",
      url: `/v1/instances/${instance.id}/messages`,
      headers: bearer(reader.secret),
      payload: { type: "text", to: "+15551234567", text: "hello" },
    });
    expect(expectError(sending, 403, "insufficient_scope").error.details).toEqual({ required: "messages:send" });
    expect(acme.key.scopes).toEqual(["*"]);
    expect((await list(instance.id)).statusCode).toBe(200);
  });

  it("a bound key reads its own instance's messages; another instance's: 403 instance_access_denied", async () => {
    const own = await createInstance(app, acme.secret, "own");
    const sibling = await createInstance(app, acme.secret, "sibling");
    const mine = await send(own.id);
    const theirs = await send(sibling.id);
    const bound = await issueKey(app, acme.secret, { name: "bound", instance_id: own.id, scopes: ["messages:read"] });

    const listing = await list(own.id, "", bound.secret);
    expect(listing.statusCode, listing.body).toBe(200);
    expect((listing.json() as Page).data.map((message) => message.id)).toEqual([mine]);
    expect((await getOne(own.id, mine, bound.secret)).statusCode).toBe(200);

    const denied = expectError(await list(sibling.id, "", bound.secret), 403, "instance_access_denied");
    expect(denied.error.details).toEqual({ instance_id: own.id });
    expectError(await getOne(sibling.id, theirs, bound.secret), 403, "instance_access_denied");
    // Named under its own instance, the sibling's message does not exist for it.
    expectError(await getOne(own.id, theirs, bound.secret), 404, "message_not_found");
  });

  it("another customer's instance: 404 instance_not_found; its message under one of ours: 404 message_not_found", async () => {
    const instance = await createInstance(app, acme.secret, "main");
    const globex = await createTestCustomer(app, "Globex");
    const theirInstance = await createInstance(app, globex.secret, "globex");
    const theirs = await send(theirInstance.id, "+15551234567", "globex secret", globex.secret);

    const listing = expectError(await list(theirInstance.id), 404, "instance_not_found");
    const unknown = expectError(await list(randomUUID()), 404, "instance_not_found");
    expect(listing.error.message).toBe(unknown.error.message);
    expectError(await getOne(theirInstance.id, theirs), 404, "instance_not_found");
    const crossed = expectError(await getOne(instance.id, theirs), 404, "message_not_found");
    expect(crossed.error.message).toBe(expectError(await getOne(instance.id, randomUUID()), 404, "message_not_found").error.message);
    for (const response of [await list(theirInstance.id), await getOne(instance.id, theirs)]) {
      expect(response.body).not.toContain("globex secret");
      expect(response.body).not.toContain(globex.customer.id);
    }
    expect((await listed(instance.id)).data).toEqual([]);
  });
});
