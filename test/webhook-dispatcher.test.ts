import { createHmac } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import { DummyDriver, Kysely, PostgresAdapter, PostgresIntrospector, PostgresQueryCompiler } from "kysely";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { Config, DatabaseConfig } from "../src/config.js";
import type { Database, Db } from "../src/db/schema.js";
import { toTimestamp } from "../src/time/timestamps.js";
import type { App } from "../src/http/app-types.js";
import { claimStatement, recordAttempt } from "../src/webhook-deliveries/delivery-queue.js";
import { DISPATCH_BATCH_SIZE, LEASE_MARGIN_MS, nextState, USER_AGENT } from "../src/workers/webhook-dispatcher.js";
import { buildTestApp, createInstance, createTestCustomer, TIMESTAMP, type TestCustomer } from "./helpers/test-app.js";
import {
  bareCustomer,
  deliveriesOf,
  deliveryRow,
  dispatcherOn,
  emitEvent,
  FAST_DISPATCH,
  FAST_WEBHOOKS,
  insertEndpoint,
  openBareDatabase,
  waitFor,
} from "./helpers/webhook-fixtures.js";
import { persistentDatabase, removeDatabase } from "./helpers/test-database.js";
import { gate, WebhookReceiver, type ReceivedRequest } from "./helpers/webhook-receiver.js";

const ULID = /^[0-9A-HJKMNP-TV-Z]{26}$/;
const SIGNATURE = /^t=(\d+),v1=([0-9a-f]{64})$/;

/** Everything a test opens, closed after it whatever happened. */
const cleanups: (() => Promise<unknown> | unknown)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function receiver(...args: Parameters<typeof WebhookReceiver.start>): Promise<WebhookReceiver> {
  const started = await WebhookReceiver.start(...args);
  cleanups.push(() => started.close());
  return started;
}

async function testApp(overrides: Partial<Config> = FAST_DISPATCH): Promise<App> {
  const app = await buildTestApp(overrides);
  cleanups.push(() => app.close());
  return app;
}

async function bareDb(): Promise<Db> {
  const db = await openBareDatabase();
  cleanups.push(() => db.destroy());
  return db;
}

/** A database for several apps in turn or at once, removed after the test. */
function sharedDatabase(): DatabaseConfig {
  const database = persistentDatabase();
  cleanups.push(() => removeDatabase(database));
  return database;
}

function header(request: ReceivedRequest, name: string): string {
  const value = request.headers[name];
  expect(typeof value, name).toBe("string");
  return value as string;
}

/** The one delivery of an event (the test registered one endpoint). */
async function onlyDelivery(db: Db, eventId: string) {
  const rows = await deliveriesOf(db, eventId);
  expect(rows).toHaveLength(1);
  return rows[0]!;
}

async function waitForStatus(db: Db, id: string, status: string, timeoutMs?: number) {
  return waitFor(async () => {
    const row = await deliveryRow(db, id);
    return row.status === status ? row : undefined;
  }, `delivery ${id} to be ${status}`, timeoutMs);
}

/** Runs the dispatcher until it finds nothing due. */
async function drain(dispatcher: { runOnce(): Promise<number> }): Promise<number> {
  let total = 0;
  for (let handled = await dispatcher.runOnce(); handled > 0; handled = await dispatcher.runOnce()) total += handled;
  return total;
}

describe("the dispatcher in a running app", () => {
  let app: App;
  let acme: TestCustomer;

  beforeEach(async () => {
    app = await testApp();
    acme = await createTestCustomer(app, "Acme");
  });

  it("retries a receiver that fails twice, then records the success of the third attempt", async () => {
    const hooks = await receiver([500, 503, 200]);
    const endpoint = await insertEndpoint(app.db, acme.customer.id, { url: hooks.url(), events: ["instance.created"] });
    const instance = await createInstance(app, acme.secret, "main");

    const created = await waitFor(
      async () => (await app.db.selectFrom("webhook_deliveries").selectAll().execute())[0],
      "the delivery row",
    );
    const row = await waitForStatus(app.db, created.id, "success");
    expect(row).toMatchObject({
      endpoint_id: endpoint.id,
      customer_id: acme.customer.id,
      instance_id: instance.id,
      event: "instance.created",
      attempt_count: 3,
      last_error: null,
      last_response_status: 200,
      next_attempt_at: null,
      claimed_by: null,
      claimed_until: null,
    });
    expect(row.delivered_at).toMatch(TIMESTAMP);
    expect(row.updated_at).toBe(row.delivered_at);

    expect(hooks.requests).toHaveLength(3);
    for (const request of hooks.requests) {
      expect(request.method).toBe("POST");
      expect(request.path).toBe("/hooks");
      expect(header(request, "x-whatisup-event-id")).toBe(row.event_id);
      expect(header(request, "x-whatisup-delivery")).toBe(row.id);
      expect(header(request, "x-whatisup-event")).toBe("instance.created");
      expect(header(request, "content-type")).toBe("application/json");
      expect(header(request, "user-agent")).toBe(USER_AGENT);
      expect(header(request, "x-whatisup-signature")).toMatch(SIGNATURE);
      expect(request.rawBody).toBe(row.payload);
    }
  });

  it("marks a delivery failed after exactly retryDelaysMs.length attempts when the receiver never succeeds", async () => {
    const hooks = await receiver([500]);
    await insertEndpoint(app.db, acme.customer.id, { url: hooks.url() });
    const envelope = await emitEvent(app.db, acme.customer.id, { event: "message.sent" });
    const { id } = await onlyDelivery(app.db, envelope.event_id);

    const row = await waitForStatus(app.db, id, "failed");
    expect(row).toMatchObject({
      attempt_count: FAST_WEBHOOKS.retryDelaysMs.length,
      last_error: "HTTP 500",
      last_response_status: 500,
      next_attempt_at: null,
      delivered_at: null,
      claimed_by: null,
      claimed_until: null,
    });
    expect(hooks.requests).toHaveLength(6);
    expect(new Set(hooks.requests.map((request) => header(request, "x-whatisup-delivery")))).toEqual(new Set([id]));
    // Nothing is due any more: another node finds nothing to send.
    expect(await dispatcherOn(app.db, "node_other").runOnce()).toBe(0);
    expect(hooks.requests).toHaveLength(6);
  });

  it("sends the stored payload byte for byte: the envelope of the contract (docs/api.md)", async () => {
    const hooks = await receiver([200]);
    await insertEndpoint(app.db, acme.customer.id, { url: hooks.url(), events: ["instance.created"] });
    const instance = await createInstance(app, acme.secret, "envelope");
    await waitFor(() => hooks.requests.length === 1, "one request");
    const received = hooks.requests[0]!;
    const row = await waitForStatus(app.db, header(received, "x-whatisup-delivery"), "success");

    expect(received.rawBody).toBe(row.payload);
    const body = JSON.parse(received.rawBody) as Record<string, unknown>;
    expect(Object.keys(body).sort()).toEqual(["api_version", "data", "event", "event_id", "instance_id", "occurred_at"]);
    expect(body).toMatchObject({ event: "instance.created", api_version: "2026-04", instance_id: instance.id });
    expect(body.event_id).toMatch(ULID);
    expect(body.event_id).toBe(row.event_id);
    expect(body.occurred_at).toMatch(TIMESTAMP);
    expect(body.data).toMatchObject({ instance: { id: instance.id, name: "envelope" } });
  });

  it("signs what it sends: v1 is HMAC-SHA256 of `${t}.${raw body}` under the endpoint's secret", async () => {
    const hooks = await receiver([200]);
    const endpoint = await insertEndpoint(app.db, acme.customer.id, { url: hooks.url() });
    const envelope = await emitEvent(app.db, acme.customer.id, { event: "message.delivered", data: { text: "héllo ✓" } });
    await waitFor(() => hooks.requests.length === 1, "one request");

    const received = hooks.requests[0]!;
    const [, t, v1] = SIGNATURE.exec(header(received, "x-whatisup-signature"))!;
    const expected = createHmac("sha256", endpoint.secret).update(`${t}.${received.rawBody}`, "utf8").digest("hex");
    expect(v1).toBe(expected);
    expect(Math.abs(Number(t) - Date.now() / 1000)).toBeLessThan(60);
    expect(JSON.parse(received.rawBody)).toMatchObject({ event_id: envelope.event_id, data: { text: "héllo ✓" } });
    // Another secret does not produce it.
    expect(createHmac("sha256", "whsec_other").update(`${t}.${received.rawBody}`).digest("hex")).not.toBe(v1);
  });
});

describe("failures", () => {
  it("counts a receiver that does not answer within attemptTimeoutMs as a failed attempt", async () => {
    const app = await testApp({ webhooks: { ...FAST_WEBHOOKS, attemptTimeoutMs: 200, retryDelaysMs: [0, 3_600_000] }, workerPollMs: 10 });
    const acme = await createTestCustomer(app);
    const hooks = await receiver(["hang"]);
    await insertEndpoint(app.db, acme.customer.id, { url: hooks.url() });
    const envelope = await emitEvent(app.db, acme.customer.id, { event: "message.read" });
    const { id } = await onlyDelivery(app.db, envelope.event_id);

    const row = await waitForStatus(app.db, id, "retrying");
    expect(row).toMatchObject({
      attempt_count: 1,
      last_error: "timed out after 200 ms",
      last_response_status: null,
      delivered_at: null,
      claimed_by: null,
    });
    // The next attempt is scheduled retryDelaysMs[1] after this one.
    expect(Date.parse(row.next_attempt_at!) - Date.parse(row.updated_at)).toBe(3_600_000);
    expect(hooks.requests).toHaveLength(1);
  });

  it("fails a delivery whose endpoint was deleted, without sending it", async () => {
    const db = await bareDb();
    const customerId = await bareCustomer(db);
    const hooks = await receiver([200]);
    const endpoint = await insertEndpoint(db, customerId, { url: hooks.url() });
    const envelope = await emitEvent(db, customerId, { event: "message.sent" });
    await db.updateTable("webhook_endpoints").set({ deleted_at: toTimestamp(Date.now()) }).where("id", "=", endpoint.id).execute();

    expect(await dispatcherOn(db, "node_a").runOnce()).toBe(1);
    const row = await onlyDelivery(db, envelope.event_id);
    expect(row).toMatchObject({
      status: "failed",
      attempt_count: 0,
      last_error: "endpoint deleted",
      last_response_status: null,
      next_attempt_at: null,
      delivered_at: null,
      claimed_by: null,
      claimed_until: null,
    });
    expect(hooks.requests).toHaveLength(0);
    expect(await dispatcherOn(db, "node_a").runOnce()).toBe(0);
  });

  it.each([
    ["an IP-literal loopback URL", (port: number) => `http://127.0.0.1:${port}/hooks`],
    ["a host name that resolves to loopback", (port: number) => `http://localhost:${port}/hooks`],
  ])("refuses %s when loopback is not allowed: every attempt fails, the receiver gets nothing", async (_label, url) => {
    const db = await bareDb();
    const customerId = await bareCustomer(db);
    const hooks = await receiver([200]);
    await insertEndpoint(db, customerId, { url: url(hooks.port) });
    const envelope = await emitEvent(db, customerId, { event: "message.sent" });
    const dispatcher = dispatcherOn(db, "node_a", { allowLoopback: false, retryDelaysMs: [0, 0, 0], attemptTimeoutMs: 500 });

    expect(await drain(dispatcher)).toBe(3);
    const row = await onlyDelivery(db, envelope.event_id);
    expect(row).toMatchObject({ status: "failed", attempt_count: 3, last_response_status: null, next_attempt_at: null });
    expect(row.last_error).toMatch(/^destination refused: .*loopback/);
    expect(hooks.requests).toHaveLength(0);
  });

  it.each([
    ["a private address", "http://10.1.2.3/hooks"],
    ["the cloud metadata address", "http://169.254.169.254/latest/meta-data"],
    ["an IPv4-mapped IPv6 private address", "http://[::ffff:192.168.1.1]/hooks"],
  ])("refuses %s even where loopback is allowed, without connecting", async (_label, url) => {
    const db = await bareDb();
    const customerId = await bareCustomer(db);
    await insertEndpoint(db, customerId, { url });
    const envelope = await emitEvent(db, customerId, { event: "message.sent" });

    expect(await dispatcherOn(db, "node_a", { ...FAST_WEBHOOKS, retryDelaysMs: [0, 60_000] }).runOnce()).toBe(1);
    const row = await onlyDelivery(db, envelope.event_id);
    expect(row).toMatchObject({ status: "retrying", attempt_count: 1, last_response_status: null });
    expect(row.last_error).toMatch(/^destination refused: .*(private|link-local|reserved)/);
  });

  it("records a refused connection as a failure with no response status", async () => {
    const db = await bareDb();
    const customerId = await bareCustomer(db);
    const down = await WebhookReceiver.start([200]);
    const url = down.url();
    await down.close();
    await insertEndpoint(db, customerId, { url });
    const envelope = await emitEvent(db, customerId, { event: "message.sent" });

    expect(await dispatcherOn(db, "node_a", { ...FAST_WEBHOOKS, retryDelaysMs: [0, 60_000] }).runOnce()).toBe(1);
    expect(await onlyDelivery(db, envelope.event_id)).toMatchObject({
      status: "retrying",
      attempt_count: 1,
      last_error: "connection refused",
      last_response_status: null,
    });
  });

  it("treats a redirect as a failure and does not follow it", async () => {
    const db = await bareDb();
    const customerId = await bareCustomer(db);
    const hooks = await receiver([302]);
    await insertEndpoint(db, customerId, { url: hooks.url() });
    const envelope = await emitEvent(db, customerId, { event: "message.sent" });

    await dispatcherOn(db, "node_a", { ...FAST_WEBHOOKS, retryDelaysMs: [0, 60_000] }).runOnce();
    expect(await onlyDelivery(db, envelope.event_id)).toMatchObject({
      status: "retrying",
      last_error: "HTTP 302",
      last_response_status: 302,
    });
    expect(hooks.requests).toHaveLength(1);
  });
});

describe("restarts", () => {
  it("delivers, after a restart, what was written while the receiver was down", async () => {
    const database = sharedDatabase();
    const down = await WebhookReceiver.start([200]);
    const port = down.port;
    await down.close();

    const first = await buildTestApp({ ...FAST_DISPATCH, database });
    let closed = false;
    cleanups.push(() => (closed ? undefined : first.close()));
    const acme = await createTestCustomer(first);
    await insertEndpoint(first.db, acme.customer.id, { url: `http://127.0.0.1:${port}/hooks` });
    const envelope = await emitEvent(first.db, acme.customer.id, { event: "message.sent" });
    const { id } = await onlyDelivery(first.db, envelope.event_id);
    await waitFor(async () => {
      const row = await deliveryRow(first.db, id);
      return row.status === "retrying" && row.last_error === "connection refused";
    }, "a refused first attempt");
    await first.close();
    closed = true;

    const hooks = await receiver([200], port);
    const second = await testApp({ ...FAST_DISPATCH, database });
    const row = await waitForStatus(second.db, id, "success");
    expect(row.attempt_count).toBeGreaterThanOrEqual(2);
    expect(row.attempt_count).toBeLessThanOrEqual(FAST_WEBHOOKS.retryDelaysMs.length);
    expect(hooks.requests).toHaveLength(1);
    expect(hooks.requests[0]!.rawBody).toBe(row.payload);
  });

  it("delivers deliveries written before the server ever started", async () => {
    const database = sharedDatabase();
    const hooks = await receiver([200]);
    const db = await openBareDatabase(database);
    const customerId = await bareCustomer(db);
    await insertEndpoint(db, customerId, { url: hooks.url() });
    const events = [];
    for (let i = 0; i < 3; i++) events.push(await emitEvent(db, customerId, { event: "message.sent", data: { i } }));
    await db.destroy();

    const app = await testApp({ ...FAST_DISPATCH, database });
    for (const envelope of events) {
      const { id } = await onlyDelivery(app.db, envelope.event_id);
      expect(await waitForStatus(app.db, id, "success")).toMatchObject({ attempt_count: 1 });
    }
    expect(hooks.requests.map((request) => header(request, "x-whatisup-event-id")).sort()).toEqual(
      events.map((envelope) => envelope.event_id).sort(),
    );
  });
});

describe("claims and leases", () => {
  let db: Db;
  let customerId: string;

  beforeEach(async () => {
    db = await bareDb();
    customerId = await bareCustomer(db);
  });

  it("claims only due deliveries, at most a batch at a time", async () => {
    const hooks = await receiver([200]);
    await insertEndpoint(db, customerId, { url: hooks.url() });
    for (let i = 0; i < DISPATCH_BATCH_SIZE + 5; i++) await emitEvent(db, customerId, { event: "message.sent" });
    const later = await emitEvent(db, customerId, { event: "message.sent" }, 3_600_000);
    const dispatcher = dispatcherOn(db, "node_a");

    expect(await dispatcher.runOnce()).toBe(DISPATCH_BATCH_SIZE);
    expect(await dispatcher.runOnce()).toBe(5);
    expect(await dispatcher.runOnce()).toBe(0);
    expect(hooks.requests).toHaveLength(DISPATCH_BATCH_SIZE + 5);
    expect((await onlyDelivery(db, later.event_id)).status).toBe("pending");
  });

  it("two dispatchers on one database never send the same attempt twice", async () => {
    // Each delivery's first attempt fails and its second succeeds, so retries race too.
    const seen = new Set<string>();
    const hooks = await receiver(async (request) => {
      await sleep(2);
      const delivery = header(request, "x-whatisup-delivery");
      if (seen.has(delivery)) return 200;
      seen.add(delivery);
      return 500;
    });
    await insertEndpoint(db, customerId, { url: hooks.url("/a") });
    await insertEndpoint(db, customerId, { url: hooks.url("/b") });
    const events = [];
    for (let i = 0; i < 25; i++) events.push(await emitEvent(db, customerId, { event: "message.sent", data: { i } }));
    const webhooks = { ...FAST_WEBHOOKS, retryDelaysMs: [0, 0, 0] };
    const a = dispatcherOn(db, "node_a", webhooks);
    const b = dispatcherOn(db, "node_b", webhooks);

    const [byA, byB] = await Promise.all([drain(a), drain(b)]);
    expect(byA).toBeGreaterThan(0);
    expect(byB).toBeGreaterThan(0);
    expect(byA + byB).toBe(100);

    const rows = await db.selectFrom("webhook_deliveries").selectAll().execute();
    expect(rows).toHaveLength(50);
    const perDelivery = new Map<string, number>();
    for (const request of hooks.requests) {
      const delivery = header(request, "x-whatisup-delivery");
      perDelivery.set(delivery, (perDelivery.get(delivery) ?? 0) + 1);
    }
    for (const row of rows) {
      expect(row).toMatchObject({ status: "success", attempt_count: 2, claimed_by: null });
      expect(perDelivery.get(row.id), row.id).toBe(2);
    }
    expect(hooks.requests).toHaveLength(100);
  });

  it("two apps (two nodes) on one database deliver each event exactly once", async () => {
    const database = sharedDatabase();
    const hooks = await receiver(async () => {
      await sleep(1);
      return 200;
    });
    const nodeA = await testApp({ ...FAST_DISPATCH, database });
    const nodeB = await testApp({ ...FAST_DISPATCH, database });
    const acme = await createTestCustomer(nodeA);
    await insertEndpoint(nodeA.db, acme.customer.id, { url: hooks.url() });
    const ids: string[] = [];
    for (let i = 0; i < 30; i++) {
      const node = i % 2 === 0 ? nodeA : nodeB;
      const envelope = await emitEvent(node.db, acme.customer.id, { event: "message.sent", data: { i } });
      ids.push((await onlyDelivery(node.db, envelope.event_id)).id);
    }
    for (const id of ids) await waitForStatus(nodeB.db, id, "success");
    const rows = await nodeA.db.selectFrom("webhook_deliveries").select(["id", "attempt_count"]).execute();
    expect(rows.every((row) => row.attempt_count === 1)).toBe(true);
    expect(hooks.requests.map((request) => header(request, "x-whatisup-delivery")).sort()).toEqual([...ids].sort());
  });

  it("leaves alone a delivery another node holds a live lease on", async () => {
    const hooks = await receiver([200]);
    await insertEndpoint(db, customerId, { url: hooks.url() });
    const envelope = await emitEvent(db, customerId, { event: "message.sent" });
    const { id } = await onlyDelivery(db, envelope.event_id);
    const until = toTimestamp(Date.now() + 60_000);
    await db.updateTable("webhook_deliveries").set({ claimed_by: "node_other", claimed_until: until }).where("id", "=", id).execute();

    expect(await dispatcherOn(db, "node_a").runOnce()).toBe(0);
    expect(hooks.requests).toHaveLength(0);
    expect(await deliveryRow(db, id)).toMatchObject({ status: "pending", attempt_count: 0, claimed_by: "node_other", claimed_until: until });
  });

  it("takes over a stale claim: a lease of another node that has lapsed", async () => {
    const hooks = await receiver([200]);
    await insertEndpoint(db, customerId, { url: hooks.url() });
    const envelope = await emitEvent(db, customerId, { event: "message.sent" });
    const { id } = await onlyDelivery(db, envelope.event_id);
    await db
      .updateTable("webhook_deliveries")
      .set({ claimed_by: "node_dead", claimed_until: toTimestamp(Date.now() - 1_000) })
      .where("id", "=", id)
      .execute();

    expect(await dispatcherOn(db, "node_a").runOnce()).toBe(1);
    expect(hooks.requests).toHaveLength(1);
    expect(await deliveryRow(db, id)).toMatchObject({
      status: "success",
      attempt_count: 1,
      claimed_by: null,
      claimed_until: null,
    });
  });

  it("claims with a lease of attemptTimeoutMs plus the margin, signed with the node's id", async () => {
    const held = gate();
    const hooks = await receiver(async () => {
      await held.opened;
      return 200;
    });
    await insertEndpoint(db, customerId, { url: hooks.url() });
    const envelope = await emitEvent(db, customerId, { event: "message.sent" });
    const { id } = await onlyDelivery(db, envelope.event_id);

    const before = Date.now();
    const run = dispatcherOn(db, "node_a").runOnce();
    await waitFor(() => hooks.requests.length === 1, "the attempt to arrive");
    const claimed = await deliveryRow(db, id);
    expect(claimed.claimed_by).toBe("node_a");
    const lease = Date.parse(claimed.claimed_until!);
    expect(lease).toBeGreaterThanOrEqual(before + FAST_WEBHOOKS.attemptTimeoutMs + LEASE_MARGIN_MS);
    expect(lease).toBeLessThanOrEqual(Date.now() + FAST_WEBHOOKS.attemptTimeoutMs + LEASE_MARGIN_MS);
    held.open();
    expect(await run).toBe(1);
    expect(await deliveryRow(db, id)).toMatchObject({ status: "success", claimed_by: null, claimed_until: null });
  });

  it("a node that lost its claim while sending changes nothing when its attempt ends", async () => {
    const held = gate();
    const hooks = await receiver(async () => {
      await held.opened;
      return 200;
    });
    await insertEndpoint(db, customerId, { url: hooks.url() });
    const envelope = await emitEvent(db, customerId, { event: "message.sent" });
    const { id } = await onlyDelivery(db, envelope.event_id);

    const run = dispatcherOn(db, "node_a").runOnce();
    await waitFor(() => hooks.requests.length === 1, "the attempt to arrive");
    // Meanwhile node_a's lease lapsed and node_b took the delivery over.
    const takenUntil = toTimestamp(Date.now() + 60_000);
    await db
      .updateTable("webhook_deliveries")
      .set({ claimed_by: "node_b", claimed_until: takenUntil })
      .where("id", "=", id)
      .execute();
    const before = await deliveryRow(db, id);
    held.open();
    expect(await run).toBe(1);

    expect(await deliveryRow(db, id)).toEqual(before);
    expect(before).toMatchObject({ status: "pending", attempt_count: 0, last_response_status: null, claimed_by: "node_b" });
  });

  it("recordAttempt writes only under the exact lease it claimed with", async () => {
    await insertEndpoint(db, customerId, { url: "http://127.0.0.1:9/hooks" });
    const envelope = await emitEvent(db, customerId, { event: "message.sent" });
    const { id } = await onlyDelivery(db, envelope.event_id);
    const until = toTimestamp(Date.now() + 60_000);
    await db.updateTable("webhook_deliveries").set({ claimed_by: "node_a", claimed_until: until }).where("id", "=", id).execute();
    const record = nextState({ attempt_count: 0 }, { ok: true, status: 204 }, [0], Date.now());

    expect(await recordAttempt(db, { nodeId: "node_b", until }, id, record)).toBe(false);
    expect(await recordAttempt(db, { nodeId: "node_a", until: toTimestamp(Date.parse(until) - 1) }, id, record)).toBe(false);
    expect((await deliveryRow(db, id)).status).toBe("pending");
    expect(await recordAttempt(db, { nodeId: "node_a", until }, id, record)).toBe(true);
    expect(await deliveryRow(db, id)).toMatchObject({ status: "success", last_response_status: 204, claimed_by: null });
  });

  it("claims on PostgreSQL with FOR UPDATE SKIP LOCKED in the same single statement", () => {
    const pg = new Kysely<Database>({
      dialect: {
        createAdapter: () => new PostgresAdapter(),
        createDriver: () => new DummyDriver(),
        createIntrospector: (kysely) => new PostgresIntrospector(kysely),
        createQueryCompiler: () => new PostgresQueryCompiler(),
      },
    });
    const lease = { nodeId: "node_a", until: toTimestamp(Date.now() + 1000) };
    const now = toTimestamp(Date.now());
    const postgres = claimStatement(pg, "postgres", lease, now, 20).compile().sql;
    // The selection is a CTE evaluated once: as a plain IN (sub-select) PostgreSQL may re-run it
    // per updated row, skipping its own locks, and claim far more than the batch.
    expect(postgres).toMatch(
      /^with "due" as materialized \(select "id" from "webhook_deliveries" where .* limit \$\d+ for update skip locked\) update "webhook_deliveries" set .* where "id" in \(select "due"\."id" from "due"\) .* returning /,
    );
    const sqlite = claimStatement(db, "sqlite", lease, now, 20).compile().sql;
    expect(sqlite).not.toMatch(/for update/i);
    expect(sqlite).toMatch(/^with "due" as materialized/);
    expect(sqlite).toMatch(/returning/);
  });
});

describe("the retry schedule", () => {
  const delays = [0, 10_000, 60_000, 300_000, 1_800_000, 7_200_000];
  const now = Date.parse("2026-05-01T12:00:00.000Z");

  it.each([
    [0, 10_000],
    [1, 60_000],
    [2, 300_000],
    [3, 1_800_000],
    [4, 7_200_000],
  ])("after %i earlier attempts, a failure schedules the next one %i ms later", (earlier, delay) => {
    const state = nextState({ attempt_count: earlier }, { ok: false, status: 502, error: "HTTP 502" }, delays, now);
    expect(state).toEqual({
      status: "retrying",
      attempt_count: earlier + 1,
      last_error: "HTTP 502",
      last_response_status: 502,
      next_attempt_at: toTimestamp(now + delay),
      delivered_at: null,
      updated_at: toTimestamp(now),
    });
  });

  it("the sixth failure is final", () => {
    expect(nextState({ attempt_count: 5 }, { ok: false, status: null, error: "connection refused" }, delays, now)).toMatchObject({
      status: "failed",
      attempt_count: 6,
      next_attempt_at: null,
      last_response_status: null,
    });
  });

  it("any 2xx is a success", () => {
    expect(nextState({ attempt_count: 2 }, { ok: true, status: 202 }, delays, now)).toEqual({
      status: "success",
      attempt_count: 3,
      last_error: null,
      last_response_status: 202,
      next_attempt_at: null,
      delivered_at: toTimestamp(now),
      updated_at: toTimestamp(now),
    });
  });
});
