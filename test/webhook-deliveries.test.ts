import { randomUUID } from "node:crypto";
import type { LightMyRequestResponse } from "fastify";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import type { WebhookDelivery, WebhookDeliveryDetail } from "@whatisup/client";
import type { EventType } from "../src/contract/webhook-event.js";
import type { App } from "../src/http/app-types.js";
import {
  bearer,
  buildTestApp,
  createInstance,
  createTestCustomer,
  expectError,
  issueKey,
  type Page,
  TIMESTAMP,
  type TestCustomer,
  UUID,
} from "./helpers/test-app.js";
import { deliveriesOf, emitEvent, FAST_DISPATCH, insertEndpoint, waitFor } from "./helpers/webhook-fixtures.js";
import { WebhookReceiver } from "./helpers/webhook-receiver.js";

const DELIVERY_FIELDS = [
  "attempt_count",
  "created_at",
  "customer_id",
  "delivered_at",
  "endpoint_id",
  "event",
  "event_id",
  "id",
  "instance_id",
  "last_error",
  "last_response_status",
  "next_attempt_at",
  "payload",
  "status",
  "updated_at",
];

/** Deliveries here stay as the tests set them: the first attempt is an hour away. */
const HOUR = 3_600_000;
const QUIET = { webhooks: { allowLoopback: false, retryDelaysMs: [HOUR, HOUR], attemptTimeoutMs: 500 } };
/** Never called: every delivery of these tests is due in an hour. */
const UNUSED_URL = "https://hooks.example.com/whatisup";

let app: App;
let acme: TestCustomer;

// One app for the whole file (on PostgreSQL each app is a new schema, migrated), and a new
// customer for each test: customers see nothing of each other's deliveries.
beforeAll(async () => {
  app = await buildTestApp({ ...QUIET, rateLimit: { burst: 10_000, refillPerSecond: 1 } });
});
afterAll(() => app.close());
beforeEach(async () => {
  acme = await createTestCustomer(app, "Acme");
});

function get(url: string, secret: string): Promise<LightMyRequestResponse> {
  return app.inject({ method: "GET", url, headers: bearer(secret) });
}

async function list(query: string, secret = acme.secret): Promise<Page<WebhookDelivery>> {
  const response = await get(`/v1/webhook-deliveries${query}`, secret);
  expect(response.statusCode, response.body).toBe(200);
  return response.json() as Page<WebhookDelivery>;
}

async function getOne(id: string, secret = acme.secret): Promise<WebhookDelivery> {
  const response = await get(`/v1/webhook-deliveries/${id}`, secret);
  expect(response.statusCode, response.body).toBe(200);
  return response.json() as WebhookDelivery;
}

/** Emits an event and returns the id of its one delivery (the customer has one endpoint). */
async function deliver(customerId: string, event: EventType, instanceId: string | null): Promise<string> {
  const envelope = await emitEvent(app.db, customerId, { event, instanceId, data: { note: event, nested: { list: [1, "two", { three: null }], flag: true } } }, HOUR);
  const rows = await deliveriesOf(app.db, envelope.event_id);
  expect(rows).toHaveLength(1);
  return rows[0]!.id;
}

function expectFieldRefused(response: LightMyRequestResponse, field: string): Record<string, unknown> {
  const body = expectError(response, 400, "validation_failed");
  const fields = (body.error.details?.fields ?? []) as { field: string }[];
  const problem = fields.find((candidate) => candidate.field === field);
  expect(problem, JSON.stringify(fields)).toBeDefined();
  return problem as Record<string, unknown>;
}

/**
 * Acme's world: instances A and B, one endpoint for the events used here, and four deliveries: two on A,
 * one on B, one of no instance. Statuses are set directly where a test needs others than pending.
 */
async function seed() {
  const instanceA = (await createInstance(app, acme.secret, "a")).id;
  const instanceB = (await createInstance(app, acme.secret, "b")).id;
  // Not subscribed to api_key.issued, so issuing keys in a test adds no delivery.
  const endpoint = await insertEndpoint(app.db, acme.customer.id, {
    url: UNUSED_URL,
    events: ["message.sent", "message.delivered", "api_key.revoked"],
  });
  const sentA = await deliver(acme.customer.id, "message.sent", instanceA);
  const deliveredA = await deliver(acme.customer.id, "message.delivered", instanceA);
  const sentB = await deliver(acme.customer.id, "message.sent", instanceB);
  const keyRevoked = await deliver(acme.customer.id, "api_key.revoked", null);
  return { instanceA, instanceB, endpoint, sentA, deliveredA, sentB, keyRevoked };
}

async function setStatus(id: string, status: string, extra: Record<string, unknown> = {}): Promise<void> {
  await app.db.updateTable("webhook_deliveries").set({ status, ...extra }).where("id", "=", id).execute();
}

describe("GET /v1/webhook-deliveries", () => {
  it("lists the customer's deliveries newest first, with exactly the fields of the contract (docs/api.md)", async () => {
    const world = await seed();
    const page = await list("");
    expect(page.next_cursor).toBeNull();
    expect(page.data.map((delivery) => delivery.id)).toEqual([world.keyRevoked, world.sentB, world.deliveredA, world.sentA]);

    const stored = await app.db.selectFrom("webhook_deliveries").selectAll().where("id", "=", world.sentA).executeTakeFirstOrThrow();
    const delivery = page.data[3]!;
    expect(Object.keys(delivery).sort()).toEqual(DELIVERY_FIELDS);
    expect(delivery).toEqual({
      id: world.sentA,
      endpoint_id: world.endpoint.id,
      customer_id: acme.customer.id,
      instance_id: world.instanceA,
      event: "message.sent",
      event_id: stored.event_id,
      payload: JSON.parse(stored.payload),
      status: "pending",
      attempt_count: 0,
      last_error: null,
      last_response_status: null,
      next_attempt_at: stored.next_attempt_at,
      delivered_at: null,
      created_at: stored.created_at,
      updated_at: stored.updated_at,
    });
    expect(delivery.id).toMatch(UUID);
    expect(delivery.created_at).toMatch(TIMESTAMP);
    expect(delivery.next_attempt_at).toMatch(TIMESTAMP);
    expect(delivery.payload).toEqual({
      event: "message.sent",
      event_id: stored.event_id,
      api_version: "2026-04",
      instance_id: world.instanceA,
      occurred_at: stored.created_at,
      data: { note: "message.sent", nested: { list: [1, "two", { three: null }], flag: true } },
    });
    expect(page.data[0]!.instance_id).toBeNull();
  });

  it("answers an empty page for a customer without deliveries", async () => {
    expect(await list("")).toEqual({ data: [], next_cursor: null });
  });

  it("filters by status, event and instance_id, alone and together", async () => {
    const world = await seed();
    await setStatus(world.sentA, "success", { attempt_count: 1, last_response_status: 200 });
    await setStatus(world.sentB, "failed", { attempt_count: 6, last_error: "HTTP 500", last_response_status: 500 });
    await setStatus(world.deliveredA, "retrying", { attempt_count: 2, last_error: "connection refused" });
    const ids = async (query: string) => (await list(query)).data.map((delivery) => delivery.id);

    expect(await ids("?status=success")).toEqual([world.sentA]);
    expect(await ids("?status=failed")).toEqual([world.sentB]);
    expect(await ids("?status=retrying")).toEqual([world.deliveredA]);
    expect(await ids("?status=pending")).toEqual([world.keyRevoked]);
    expect(await ids("?event=message.sent")).toEqual([world.sentB, world.sentA]);
    expect(await ids("?event=message.read")).toEqual([]);
    expect(await ids(`?instance_id=${world.instanceA}`)).toEqual([world.deliveredA, world.sentA]);
    expect(await ids(`?instance_id=${world.instanceA.toUpperCase()}`)).toEqual([world.deliveredA, world.sentA]);
    expect(await ids(`?event=message.sent&instance_id=${world.instanceA}`)).toEqual([world.sentA]);
    expect(await ids(`?status=success&event=message.delivered`)).toEqual([]);
    // An instance that is not the customer's simply matches nothing.
    expect(await ids(`?instance_id=${randomUUID()}`)).toEqual([]);
  });

  it("pages with a cursor: every delivery once, in order, the last page without a cursor", async () => {
    await insertEndpoint(app.db, acme.customer.id, { url: UNUSED_URL });
    const made: string[] = [];
    for (let i = 0; i < 7; i++) made.push(await deliver(acme.customer.id, "message.sent", null));
    const newestFirst = [...made].reverse();

    const seen: string[] = [];
    const sizes: number[] = [];
    let cursor: string | null = null;
    do {
      const query: string = cursor === null ? "?limit=3" : `?limit=3&cursor=${encodeURIComponent(cursor)}`;
      const page = await list(query);
      sizes.push(page.data.length);
      seen.push(...page.data.map((delivery) => delivery.id));
      cursor = page.next_cursor;
    } while (cursor !== null);
    expect(sizes).toEqual([3, 3, 1]);
    expect(seen).toEqual(newestFirst);
  });

  it("keeps filters across pages", async () => {
    await insertEndpoint(app.db, acme.customer.id, { url: UNUSED_URL });
    const sent: string[] = [];
    for (let i = 0; i < 5; i++) {
      sent.push(await deliver(acme.customer.id, "message.sent", null));
      await deliver(acme.customer.id, "message.read", null);
    }
    const first = await list("?event=message.sent&limit=3");
    const second = await list(`?event=message.sent&limit=3&cursor=${encodeURIComponent(first.next_cursor!)}`);
    expect(second.next_cursor).toBeNull();
    expect([...first.data, ...second.data].map((delivery) => delivery.id)).toEqual([...sent].reverse());
  });

  it("answers 50 by default and at most 100", async () => {
    await insertEndpoint(app.db, acme.customer.id, { url: UNUSED_URL });
    for (let i = 0; i < 101; i++) await emitEvent(app.db, acme.customer.id, { event: "message.sent" }, HOUR);
    const byDefault = await list("");
    expect(byDefault.data).toHaveLength(50);
    expect(byDefault.next_cursor).not.toBeNull();
    const most = await list("?limit=100");
    expect(most.data).toHaveLength(100);
    expect(most.next_cursor).not.toBeNull();
  });

  it.each([
    ["an unknown status", "?status=done", "querystring.status"],
    ["an unknown event", "?event=message.bounced", "querystring.event"],
    ["an instance_id that is not a UUID", "?instance_id=main", "querystring.instance_id"],
    ["a limit of 0", "?limit=0", "querystring.limit"],
    ["a limit of 101", "?limit=101", "querystring.limit"],
    ["a cursor this API did not return", "?cursor=bm90LWEtY3Vyc29y", "querystring.cursor"],
    ["an unknown parameter", "?colour=blue", "querystring.colour"],
  ])("refuses %s: 400 validation_failed naming the field", async (_label, query, field) => {
    expectFieldRefused(await get(`/v1/webhook-deliveries${query}`, acme.secret), field);
  });

  it("lists the allowed values of an enum it refuses", async () => {
    const problem = expectFieldRefused(await get("/v1/webhook-deliveries?status=done", acme.secret), "querystring.status");
    expect(problem.allowed).toEqual(["pending", "success", "failed", "retrying"]);
  });

  it("never shows another customer's deliveries", async () => {
    const world = await seed();
    const globex = await createTestCustomer(app, "Globex");
    await insertEndpoint(app.db, globex.customer.id, { url: UNUSED_URL });
    const theirs = await deliver(globex.customer.id, "message.sent", null);

    expect((await list("", globex.secret)).data.map((delivery) => delivery.id)).toEqual([theirs]);
    expect((await list(`?instance_id=${world.instanceA}`, globex.secret)).data).toEqual([]);
    expect((await list("")).data.map((delivery) => delivery.id)).not.toContain(theirs);
  });
});

describe("GET /v1/webhook-deliveries/:id", () => {
  it("answers one delivery, the same as the list shows it", async () => {
    const world = await seed();
    const listed = (await list("")).data.find((delivery) => delivery.id === world.sentB);
    const detail = (await getOne(world.sentB)) as WebhookDeliveryDetail;
    // The detail adds the attempt log (none yet); the rest is the delivery as listed.
    const { attempts, ...one } = detail;
    expect(attempts).toEqual([]);
    expect(Object.keys(one).sort()).toEqual(DELIVERY_FIELDS);
    expect(one).toEqual(listed);
    expect(await getOne(world.sentB.toUpperCase())).toEqual(detail);
  });

  it("answers 404 delivery_not_found for an unknown id", async () => {
    expectError(await get(`/v1/webhook-deliveries/${randomUUID()}`, acme.secret), 404, "delivery_not_found");
  });

  it("answers 404 delivery_not_found for another customer's delivery", async () => {
    const globex = await createTestCustomer(app, "Globex");
    await insertEndpoint(app.db, globex.customer.id, { url: UNUSED_URL });
    const theirs = await deliver(globex.customer.id, "message.sent", null);
    expectError(await get(`/v1/webhook-deliveries/${theirs}`, acme.secret), 404, "delivery_not_found");
    expect((await getOne(theirs, globex.secret)).id).toBe(theirs);
  });

  it("refuses an id that is not a UUID: 400 validation_failed", async () => {
    expectFieldRefused(await get("/v1/webhook-deliveries/not-a-uuid", acme.secret), "params.id");
  });

  it("never shows the lease (claimed_by, claimed_until)", async () => {
    const world = await seed();
    await app.db
      .updateTable("webhook_deliveries")
      .set({ claimed_by: "node_secret", claimed_until: new Date(Date.now() + 60_000).toISOString() })
      .execute();
    const one = await get(`/v1/webhook-deliveries/${world.sentA}`, acme.secret);
    const all = await get("/v1/webhook-deliveries", acme.secret);
    for (const response of [one, all]) {
      expect(response.statusCode).toBe(200);
      expect(response.body).not.toContain("claimed");
      expect(response.body).not.toContain("node_secret");
    }
    expect(Object.keys(one.json()).sort()).toEqual([...DELIVERY_FIELDS, "attempts"].sort());
  });
});

describe("instance-bound keys", () => {
  it("a bound key lists only its own instance's deliveries (none of another instance, none of no instance)", async () => {
    const world = await seed();
    const bound = await issueKey(app, acme.secret, { name: "bound", instance_id: world.instanceA, scopes: ["deliveries:read"] });
    expect((await list("", bound.secret)).data.map((delivery) => delivery.id)).toEqual([world.deliveredA, world.sentA]);
    expect((await list(`?instance_id=${world.instanceA}`, bound.secret)).data.map((delivery) => delivery.id)).toEqual([
      world.deliveredA,
      world.sentA,
    ]);
    expect((await list("?event=message.sent", bound.secret)).data.map((delivery) => delivery.id)).toEqual([world.sentA]);
    expect((await list("?event=api_key.revoked", bound.secret)).data).toEqual([]);

    // The same customer-wide key sees everything.
    expect((await list("")).data).toHaveLength(4);
  });

  it("a bound key filtering on another instance is 403 instance_access_denied", async () => {
    const world = await seed();
    const bound = await issueKey(app, acme.secret, { name: "bound", instance_id: world.instanceA, scopes: ["deliveries:read"] });
    for (const other of [world.instanceB, randomUUID()]) {
      const body = expectError(await get(`/v1/webhook-deliveries?instance_id=${other}`, bound.secret), 403, "instance_access_denied");
      expect(body.error.details).toEqual({ instance_id: world.instanceA });
    }
  });
});

describe("the attempt log through the API", () => {
  // The dispatcher must really send here (QUIET holds every attempt back): an app of its own,
  // in place of the file's while these tests run.
  let quiet: App;
  beforeAll(async () => {
    quiet = app;
    app = await buildTestApp({ ...FAST_DISPATCH, rateLimit: { burst: 10_000, refillPerSecond: 1 } });
  });
  afterAll(async () => {
    await app.close();
    app = quiet;
  });

  it("shows each attempt's outcome as the dispatcher records it", async () => {
    const hooks = await WebhookReceiver.start([500, 204]);
    try {
      await insertEndpoint(app.db, acme.customer.id, { url: hooks.url(), events: ["message.failed"] });
      const envelope = await emitEvent(app.db, acme.customer.id, { event: "message.failed" });
      const [row] = await deliveriesOf(app.db, envelope.event_id);
      const delivery = await waitFor(async () => {
        const seen = await getOne(row!.id);
        return seen.status === "success" ? seen : undefined;
      }, "the delivery to succeed");
      expect(delivery).toMatchObject({
        attempt_count: 2,
        last_error: null,
        last_response_status: 204,
        next_attempt_at: null,
      });
      expect(delivery.delivered_at).toMatch(TIMESTAMP);
      expect((await list("?status=success")).data.map((listed) => listed.id)).toEqual([row!.id]);
    } finally {
      await hooks.close();
    }
  });
});
