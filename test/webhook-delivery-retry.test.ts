import { randomUUID } from "node:crypto";
import type { LightMyRequestResponse } from "fastify";
import { sql } from "kysely";
import { afterEach, describe, expect, it } from "vitest";
import type { AuditEvent, WebhookDelivery } from "@whatisup/client";
import type { Config } from "../src/config.js";
import type { App } from "../src/http/app-types.js";
import { bearer, buildTestApp, createInstance, createTestCustomer, expectError, issueKey, type Page, TIMESTAMP, type TestCustomer, UUID } from "./helpers/test-app.js";
import { TEST_DIALECT } from "./helpers/test-database.js";
import { deliveriesOf, deliveryRow, dispatcherOn, emitEvent, FAST_DISPATCH, FAST_WEBHOOKS, insertEndpoint, waitFor } from "./helpers/webhook-fixtures.js";
import { gate, WebhookReceiver } from "./helpers/webhook-receiver.js";

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

const HOUR = 3_600_000;
/**
 * An app whose own dispatcher never comes round again after its first look (an hour between
 * runs): the tests that need an attempt run dispatchers of their own, as other nodes would.
 */
const IDLE_DISPATCHER: Partial<Config> = { workerPollMs: HOUR, webhooks: { ...FAST_WEBHOOKS, retryDelaysMs: [0] } };
/** Refused by the destination guard before any connection (loopback is not allowed): never called. */
const UNREACHABLE_URL = "https://127.0.0.1/never-called";

const cleanups: (() => Promise<unknown> | unknown)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function testApp(overrides: Partial<Config>): Promise<App> {
  const app = await buildTestApp({ rateLimit: { burst: 10_000, refillPerSecond: 1 }, ...overrides });
  cleanups.push(() => app.close());
  // The workers' first run is a timer of 0 ms set when the app became ready: this one fires after
  // it, so an idle dispatcher has had its one look, at a table with nothing due, before any test row.
  await new Promise((resolve) => setTimeout(resolve, 0));
  return app;
}

async function receiver(...args: Parameters<typeof WebhookReceiver.start>): Promise<WebhookReceiver> {
  const started = await WebhookReceiver.start(...args);
  cleanups.push(() => started.close());
  return started;
}

function retry(app: App, id: string, secret: string): Promise<LightMyRequestResponse> {
  return app.inject({ method: "POST", url: `/v1/webhook-deliveries/${id}/retry`, headers: bearer(secret) });
}

function expectAccepted(response: LightMyRequestResponse): WebhookDelivery {
  expect(response.statusCode, response.body).toBe(202);
  const delivery = response.json() as WebhookDelivery;
  expect(Object.keys(delivery).sort()).toEqual(DELIVERY_FIELDS);
  return delivery;
}

/** One delivery of `event` to the customer's one endpoint, first due after `delayMs`. */
async function deliver(app: App, customerId: string, instanceId: string | null, delayMs = HOUR): Promise<string> {
  const envelope = await emitEvent(app.db, customerId, { event: "message.sent", instanceId }, delayMs);
  const rows = await deliveriesOf(app.db, envelope.event_id);
  expect(rows).toHaveLength(1);
  return rows[0]!.id;
}

async function setRow(app: App, id: string, values: Record<string, unknown>): Promise<void> {
  await app.db.updateTable("webhook_deliveries").set(values).where("id", "=", id).execute();
}

/** A delivery that spent its schedule: three attempts, the last a 500, and nothing more due. */
const FAILED = { status: "failed", attempt_count: 3, last_error: "HTTP 500", last_response_status: 500, next_attempt_at: null };
/** The schedule that FAILED spent. */
const THREE_ATTEMPTS: Config["webhooks"] = { ...FAST_WEBHOOKS, retryDelaysMs: [0, 50, 50] };

async function auditEvents(app: App, customer: TestCustomer): Promise<AuditEvent[]> {
  const response = await app.inject({ method: "GET", url: "/v1/audit-events?limit=100", headers: bearer(customer.secret) });
  expect(response.statusCode, response.body).toBe(200);
  return (response.json() as Page<AuditEvent>).data.filter((event) => event.action === "webhook_delivery.retried");
}

describe("POST /v1/webhook-deliveries/:id/retry", () => {
  it("answers 202 with the failed delivery due now and retrying, its attempts and last error kept", async () => {
    const app = await testApp(IDLE_DISPATCHER);
    const acme = await createTestCustomer(app, "Acme");
    await insertEndpoint(app.db, acme.customer.id, { url: UNREACHABLE_URL });
    const id = await deliver(app, acme.customer.id, null);
    await setRow(app, id, FAILED);
    const before = Date.now();
    const delivery = expectAccepted(await retry(app, id, acme.secret));
    const after = Date.now();
    expect(delivery).toMatchObject({ id, customer_id: acme.customer.id, status: "retrying", attempt_count: 3, last_error: "HTTP 500", last_response_status: 500, delivered_at: null });
    expect(delivery.id).toMatch(UUID);
    expect(delivery.next_attempt_at).toMatch(TIMESTAMP);
    expect(Date.parse(delivery.next_attempt_at!)).toBeGreaterThanOrEqual(before - 1);
    expect(Date.parse(delivery.next_attempt_at!)).toBeLessThanOrEqual(after + 1);
    const stored = await app.inject({ method: "GET", url: `/v1/webhook-deliveries/${id}`, headers: bearer(acme.secret) });
    // The detail adds the attempt log to the delivery; the rest is what the retry answered.
    const { attempts: _attempts, ...storedDelivery } = stored.json() as WebhookDelivery & { attempts?: unknown };
    expect(storedDelivery).toEqual(delivery);
  });

  it("makes a pending delivery due now, still pending, and a retrying one due now, still retrying", async () => {
    const app = await testApp(IDLE_DISPATCHER);
    const acme = await createTestCustomer(app, "Acme");
    await insertEndpoint(app.db, acme.customer.id, { url: UNREACHABLE_URL });
    const pending = await deliver(app, acme.customer.id, null);
    const retrying = await deliver(app, acme.customer.id, null);
    await setRow(app, retrying, { status: "retrying", attempt_count: 1, last_error: "connection refused" });
    for (const [id, status, attempts] of [[pending, "pending", 0], [retrying, "retrying", 1]] as const) {
      const delivery = expectAccepted(await retry(app, id, acme.secret));
      expect(delivery).toMatchObject({ status, attempt_count: attempts });
      expect(Date.parse(delivery.next_attempt_at!)).toBeLessThanOrEqual(Date.now());
    }
  });

  it("refuses a delivery that succeeded: 409 delivery_not_retryable, the row and the audit log unchanged", async () => {
    const app = await testApp(IDLE_DISPATCHER);
    const acme = await createTestCustomer(app, "Acme");
    await insertEndpoint(app.db, acme.customer.id, { url: UNREACHABLE_URL });
    const id = await deliver(app, acme.customer.id, null);
    const deliveredAt = new Date().toISOString();
    await setRow(app, id, { status: "success", attempt_count: 1, last_response_status: 200, next_attempt_at: null, delivered_at: deliveredAt });
    const before = await deliveryRow(app.db, id);
    const body = expectError(await retry(app, id, acme.secret), 409, "delivery_not_retryable");
    expect(body.error.details).toEqual({ status: "success" });
    expect(await deliveryRow(app.db, id)).toEqual(before);
    expect(await auditEvents(app, acme)).toEqual([]);
  });

  it("answers 404 delivery_not_found for an unknown id and for another customer's delivery, changing nothing", async () => {
    const app = await testApp(IDLE_DISPATCHER);
    const acme = await createTestCustomer(app, "Acme");
    const globex = await createTestCustomer(app, "Globex");
    await insertEndpoint(app.db, globex.customer.id, { url: UNREACHABLE_URL });
    const theirs = await deliver(app, globex.customer.id, null);
    await setRow(app, theirs, FAILED);
    const before = await deliveryRow(app.db, theirs);
    expectError(await retry(app, randomUUID(), acme.secret), 404, "delivery_not_found");
    const body = expectError(await retry(app, theirs, acme.secret), 404, "delivery_not_found");
    expect(body.error.details).toBeUndefined();
    expect(await deliveryRow(app.db, theirs)).toEqual(before);
    expect(await auditEvents(app, globex)).toEqual([]);
  });

  it("lets a bound key retry its own instance's delivery, and answers 404 for another instance's or one of no instance", async () => {
    const app = await testApp(IDLE_DISPATCHER);
    const acme = await createTestCustomer(app, "Acme");
    const own = await createInstance(app, acme.secret, "own");
    const other = await createInstance(app, acme.secret, "other");
    await insertEndpoint(app.db, acme.customer.id, { url: UNREACHABLE_URL });
    const bound = await issueKey(app, acme.secret, { name: "bound", instance_id: own.id, scopes: ["webhooks:write"] });
    const ownDelivery = await deliver(app, acme.customer.id, own.id);
    const hidden = [await deliver(app, acme.customer.id, other.id), await deliver(app, acme.customer.id, null)];
    for (const id of [ownDelivery, ...hidden]) await setRow(app, id, FAILED);
    for (const id of hidden) {
      const before = await deliveryRow(app.db, id);
      expectError(await retry(app, id, bound.secret), 404, "delivery_not_found");
      expect(await deliveryRow(app.db, id)).toEqual(before);
    }
    expect(expectAccepted(await retry(app, ownDelivery, bound.secret))).toMatchObject({ id: ownDelivery, instance_id: own.id, status: "retrying" });
  });

  it("refuses a key without webhooks:write, even one that may read deliveries: 403 insufficient_scope", async () => {
    const app = await testApp(IDLE_DISPATCHER);
    const acme = await createTestCustomer(app, "Acme");
    await insertEndpoint(app.db, acme.customer.id, { url: UNREACHABLE_URL });
    const id = await deliver(app, acme.customer.id, null);
    await setRow(app, id, FAILED);
    const before = await deliveryRow(app.db, id);
    const reader = await issueKey(app, acme.secret, { name: "reader", scopes: ["deliveries:read", "webhooks:read"] });
    const body = expectError(await retry(app, id, reader.secret), 403, "insufficient_scope");
    expect(body.error.details).toEqual({ required: "webhooks:write" });
    expect(await deliveryRow(app.db, id)).toEqual(before);
  });

  it("takes no body: a JSON body is ignored (it cannot set a status or a count), and a malformed id is 400", async () => {
    const app = await testApp(IDLE_DISPATCHER);
    const acme = await createTestCustomer(app, "Acme");
    await insertEndpoint(app.db, acme.customer.id, { url: UNREACHABLE_URL });
    const id = await deliver(app, acme.customer.id, null);
    await setRow(app, id, FAILED);
    const withBody = await app.inject({
      method: "POST",
      url: `/v1/webhook-deliveries/${id}/retry`,
      headers: { ...bearer(acme.secret), "content-type": "application/json" },
      payload: JSON.stringify({ status: "success", attempt_count: 0 }),
    });
    expect(expectAccepted(withBody)).toMatchObject({ status: "retrying", attempt_count: 3 });
    expectError(await retry(app, "not-a-uuid", acme.secret), 400, "validation_failed");
  });

  it("records webhook_delivery.retried with the key, the delivery and its status before, in the audit log", async () => {
    const app = await testApp(IDLE_DISPATCHER);
    const acme = await createTestCustomer(app, "Acme");
    const instance = await createInstance(app, acme.secret, "main");
    const endpoint = await insertEndpoint(app.db, acme.customer.id, { url: UNREACHABLE_URL });
    const id = await deliver(app, acme.customer.id, instance.id);
    await setRow(app, id, FAILED);
    const operator = await issueKey(app, acme.secret, { name: "operator", scopes: ["webhooks:write"] });
    expectAccepted(await retry(app, id, operator.secret));
    const row = await deliveryRow(app.db, id);
    const [event, ...more] = await auditEvents(app, acme);
    expect(more).toEqual([]);
    expect(event).toMatchObject({
      customer_id: acme.customer.id,
      actor: { type: "api_key", id: operator.id, prefix: operator.prefix },
      target: { type: "webhook_delivery", id },
      metadata: {
        previous_status: "failed",
        attempt_count: 3,
        event: "message.sent",
        event_id: row.event_id,
        endpoint_id: endpoint.id,
        instance_id: instance.id,
      },
    });
    expect(JSON.stringify(event)).not.toContain(endpoint.secret);
  });
});

describe("the attempt a retry asks for", () => {
  it("happens: a failed delivery is sent again, and succeeds when the receiver is back", async () => {
    const hooks = await receiver([500]);
    const app = await testApp(FAST_DISPATCH);
    const acme = await createTestCustomer(app, "Acme");
    await insertEndpoint(app.db, acme.customer.id, { url: hooks.url() });
    const id = await deliver(app, acme.customer.id, null, 0);
    const attempts = FAST_WEBHOOKS.retryDelaysMs.length;
    await waitFor(async () => (await deliveryRow(app.db, id)).status === "failed", "the schedule to be spent");
    expect(hooks.requests).toHaveLength(attempts);

    hooks.respondWith([200]);
    expectAccepted(await retry(app, id, acme.secret));
    const delivered = await waitFor(async () => {
      const row = await deliveryRow(app.db, id);
      return row.status === "success" ? row : undefined;
    }, "the retried delivery to succeed");
    expect(delivered).toMatchObject({ attempt_count: attempts + 1, last_error: null, last_response_status: 200, next_attempt_at: null });
    expect(hooks.requests).toHaveLength(attempts + 1);
    const last = hooks.requests.at(-1)!;
    expect(last.headers["x-whatisup-delivery"]).toBe(id);
    expect(last.rawBody).toBe(hooks.requests[0]!.rawBody);
    expectError(await retry(app, id, acme.secret), 409, "delivery_not_retryable");
  });

  it("is one attempt more: a failed delivery that fails again is failed again, its schedule not restarted", async () => {
    const hooks = await receiver([500]);
    const app = await testApp(FAST_DISPATCH);
    const acme = await createTestCustomer(app, "Acme");
    await insertEndpoint(app.db, acme.customer.id, { url: hooks.url() });
    const id = await deliver(app, acme.customer.id, null, 0);
    const attempts = FAST_WEBHOOKS.retryDelaysMs.length;
    await waitFor(async () => (await deliveryRow(app.db, id)).status === "failed", "the schedule to be spent");

    for (let retries = 1; retries <= 2; retries += 1) {
      expectAccepted(await retry(app, id, acme.secret));
      const failed = await waitFor(async () => {
        const row = await deliveryRow(app.db, id);
        return row.status === "failed" && Number(row.attempt_count) === attempts + retries ? row : undefined;
      }, `retry ${retries} to fail`);
      // Failed at once, with nothing more due: a restarted schedule would be `retrying` here.
      expect(failed).toMatchObject({ last_error: "HTTP 500", last_response_status: 500, next_attempt_at: null, claimed_by: null });
      expect(hooks.requests).toHaveLength(attempts + retries);
    }
  });
});

describe("retries racing each other and the dispatchers of several nodes", () => {
  it("many retries at once of one failed delivery: every one 202 and audited, one attempt between two nodes", async () => {
    const hooks = await receiver([500]);
    const app = await testApp(IDLE_DISPATCHER);
    const acme = await createTestCustomer(app, "Acme");
    await insertEndpoint(app.db, acme.customer.id, { url: hooks.url() });
    const id = await deliver(app, acme.customer.id, null);
    await setRow(app, id, FAILED);

    const answers = await Promise.all(Array.from({ length: 6 }, () => retry(app, id, acme.secret)));
    for (const answer of answers) expect(expectAccepted(answer).status).toBe("retrying");
    expect(await auditEvents(app, acme)).toHaveLength(6);

    const claimed = await Promise.all([dispatcherOn(app.db, "node-b", THREE_ATTEMPTS).runOnce(), dispatcherOn(app.db, "node-c", THREE_ATTEMPTS).runOnce()]);
    expect(claimed.sort()).toEqual([0, 1]);
    expect(hooks.requests).toHaveLength(1);
    expect(await deliveryRow(app.db, id)).toMatchObject({ status: "failed", attempt_count: 4, next_attempt_at: null });
  });

  it("a retry during an attempt in flight on another node: no second attempt beside it, and its result is recorded", async () => {
    const held = gate();
    const hooks = await receiver(async () => {
      await held.opened;
      return 500;
    });
    const app = await testApp(IDLE_DISPATCHER);
    const acme = await createTestCustomer(app, "Acme");
    await insertEndpoint(app.db, acme.customer.id, { url: hooks.url() });
    const id = await deliver(app, acme.customer.id, null, 0);
    // One attempt in the schedule: the one in flight is the last, and its failure ends it.
    const lastAttemptOnly = { ...FAST_WEBHOOKS, retryDelaysMs: [0] };
    const inFlight = dispatcherOn(app.db, "node-b", lastAttemptOnly).runOnce();
    await waitFor(() => hooks.requests.length === 1, "node-b's attempt to reach the receiver");

    const during = expectAccepted(await retry(app, id, acme.secret));
    expect(during).toMatchObject({ status: "pending", attempt_count: 0 });
    expect(await deliveryRow(app.db, id)).toMatchObject({ claimed_by: "node-b" });
    expect(await dispatcherOn(app.db, "node-c", lastAttemptOnly).runOnce()).toBe(0);
    expect(hooks.requests).toHaveLength(1);

    held.open();
    expect(await inFlight).toBe(1);
    expect(await deliveryRow(app.db, id)).toMatchObject({ status: "failed", attempt_count: 1, last_error: "HTTP 500", claimed_by: null, claimed_until: null });

    // Retried once the attempt is over, it gets its attempt.
    expectAccepted(await retry(app, id, acme.secret));
    expect(await dispatcherOn(app.db, "node-c", lastAttemptOnly).runOnce()).toBe(1);
    expect(hooks.requests).toHaveLength(2);
    expect(await deliveryRow(app.db, id)).toMatchObject({ status: "failed", attempt_count: 2 });
  });

  it("a retry waiting on a success being recorded sees the success: 409, never a success turned back into retrying", async () => {
    const app = await testApp(IDLE_DISPATCHER);
    const acme = await createTestCustomer(app, "Acme");
    await insertEndpoint(app.db, acme.customer.id, { url: UNREACHABLE_URL });
    const id = await deliver(app, acme.customer.id, null);
    await setRow(app, id, { status: "retrying", attempt_count: 2 });

    let answer: Promise<LightMyRequestResponse> | undefined;
    await app.db.transaction().execute(async (tx) => {
      // The dispatcher's result, written but not yet committed when the retry arrives.
      await tx.updateTable("webhook_deliveries").set({ status: "success", attempt_count: 3, next_attempt_at: null, delivered_at: new Date().toISOString() }).where("id", "=", id).execute();
      answer = retry(app, id, acme.secret);
      if (TEST_DIALECT === "postgres") {
        // Under READ COMMITTED the retry reads the committed row unless it waits for the lock.
        await waitFor(async () => (await waitingOnLocks(app)) > 0, "the retry to wait for the row's lock");
      }
    });
    expectError(await answer!, 409, "delivery_not_retryable");
    expect(await deliveryRow(app.db, id)).toMatchObject({ status: "success", attempt_count: 3, next_attempt_at: null });
    expect(await auditEvents(app, acme)).toEqual([]);
  });
});

/** Sessions of this database waiting on a row lock held by another (PostgreSQL). */
async function waitingOnLocks(app: App): Promise<number> {
  const { rows } = await sql<{ waiting: string }>`
    select count(*) as waiting from pg_stat_activity
    where datname = current_database() and wait_event_type = 'Lock' and query like '%webhook_deliveries%'`.execute(app.db);
  return Number(rows[0]!.waiting);
}
