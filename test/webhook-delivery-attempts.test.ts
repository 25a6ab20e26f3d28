import { randomUUID } from "node:crypto";
import type { LightMyRequestResponse } from "fastify";
import { afterEach, describe, expect, it } from "vitest";
import type { Page, WebhookDelivery, WebhookDeliveryAttempt, WebhookDeliveryDetail } from "@whatisup/client";
import type { Config } from "../src/config.js";
import type { Db } from "../src/db/schema.js";
import type { App } from "../src/http/app-types.js";
import { newId } from "../src/ids/uuid-v7.js";
import { toTimestamp } from "../src/time/timestamps.js";
import { recordAttempt } from "../src/webhook-deliveries/delivery-queue.js";
import { nextState } from "../src/workers/webhook-dispatcher.js";
import { bearer, buildTestApp, createInstance, createTestCustomer, expectError, issueKey, TIMESTAMP, type TestCustomer } from "./helpers/test-app.js";
import { allowInserts, failInserts, TEST_DIALECT } from "./helpers/test-database.js";
import { deliveriesOf, deliveryRow, emitEvent, FAST_DISPATCH, FAST_WEBHOOKS, insertEndpoint, waitFor } from "./helpers/webhook-fixtures.js";
import { WebhookReceiver, type Responder } from "./helpers/webhook-receiver.js";

const ATTEMPT_FIELDS = ["error", "finished_at", "number", "response_status", "started_at", "success"];
const HOUR = 3_600_000;
/** An app whose dispatcher looks once, at start, and then not for an hour: the test drives the rows. */
const IDLE_DISPATCHER: Partial<Config> = { workerPollMs: HOUR, webhooks: FAST_WEBHOOKS };
/** One attempt and no retry: the first failure fails the delivery. */
const ONE_ATTEMPT: Partial<Config> = { ...FAST_DISPATCH, webhooks: { ...FAST_WEBHOOKS, retryDelaysMs: [0] } };
/** A token in the endpoint's URL: the attempt log must never show it. */
const URL_TOKEN = "tok_do_not_show_4f1c";

const cleanups: (() => Promise<unknown> | unknown)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function testApp(overrides: Partial<Config>): Promise<App> {
  const app = await buildTestApp({ rateLimit: { burst: 10_000, refillPerSecond: 1 }, ...overrides });
  cleanups.push(() => app.close());
  // The workers' first run is a timer of 0 ms set when the app became ready: let it pass.
  await new Promise((resolve) => setTimeout(resolve, 0));
  return app;
}

async function receiver(responder: Responder): Promise<WebhookReceiver> {
  const started = await WebhookReceiver.start(responder);
  cleanups.push(() => started.close());
  return started;
}

function get(app: App, url: string, secret: string): Promise<LightMyRequestResponse> {
  return app.inject({ method: "GET", url, headers: bearer(secret) });
}

async function detail(app: App, id: string, secret: string): Promise<WebhookDeliveryDetail> {
  const response = await get(app, `/v1/webhook-deliveries/${id}`, secret);
  expect(response.statusCode, response.body).toBe(200);
  const body = response.json() as WebhookDeliveryDetail;
  for (const attempt of body.attempts) {
    expect(Object.keys(attempt).sort()).toEqual(ATTEMPT_FIELDS);
    expect(attempt.started_at).toMatch(TIMESTAMP);
    expect(attempt.finished_at).toMatch(TIMESTAMP);
    expect(Date.parse(attempt.finished_at)).toBeGreaterThanOrEqual(Date.parse(attempt.started_at));
  }
  return body;
}

/** Emits an event to the customer's one endpoint and returns the id of its delivery. */
async function deliver(app: App, customerId: string, instanceId: string | null = null, delayMs = 0): Promise<string> {
  const envelope = await emitEvent(app.db, customerId, { event: "message.sent", instanceId }, delayMs);
  const rows = await deliveriesOf(app.db, envelope.event_id);
  expect(rows).toHaveLength(1);
  return rows[0]!.id;
}

async function settled(db: Db, id: string, status: "success" | "failed") {
  return waitFor(async () => {
    const row = await deliveryRow(db, id);
    return row.status === status ? row : undefined;
  }, `delivery ${id} to be ${status}`);
}

async function attemptRows(db: Db, deliveryId: string) {
  return db.selectFrom("webhook_delivery_attempts").selectAll().where("delivery_id", "=", deliveryId).orderBy("number").execute();
}

/** The outcome columns of attempts, in order: what the tests compare. */
function outcomes(attempts: WebhookDeliveryAttempt[]) {
  return attempts.map(({ number, response_status, error, success }) => ({ number, response_status, error, success }));
}

async function customerWithEndpoint(app: App, url: string, name = "Acme"): Promise<TestCustomer> {
  const customer = await createTestCustomer(app, name);
  await insertEndpoint(app.db, customer.customer.id, { url });
  return customer;
}

describe("GET /v1/webhook-deliveries/:id: the attempt log", () => {
  it("shows every attempt of a delivery that failed twice then succeeded, oldest first, as many as attempt_count", async () => {
    const app = await testApp(FAST_DISPATCH);
    const hooks = await receiver([500, "hang", 200]);
    const acme = await customerWithEndpoint(app, hooks.url(`/hooks?token=${URL_TOKEN}`));
    const id = await deliver(app, acme.customer.id);
    await settled(app.db, id, "success");

    const response = await get(app, `/v1/webhook-deliveries/${id}`, acme.secret);
    expect(response.body).not.toContain(URL_TOKEN);
    const delivery = await detail(app, id, acme.secret);
    expect(delivery).toMatchObject({ id, status: "success", attempt_count: 3, last_error: null, last_response_status: 200 });
    expect(outcomes(delivery.attempts)).toEqual([
      { number: 1, response_status: 500, error: "HTTP 500", success: false },
      { number: 2, response_status: null, error: `timed out after ${FAST_WEBHOOKS.attemptTimeoutMs} ms`, success: false },
      { number: 3, response_status: 200, error: null, success: true },
    ]);
    const [first, second, third] = delivery.attempts;
    expect(Date.parse(second!.started_at)).toBeGreaterThanOrEqual(Date.parse(first!.finished_at));
    expect(Date.parse(third!.started_at)).toBeGreaterThanOrEqual(Date.parse(second!.finished_at));
    expect(third!.finished_at).toBe(delivery.delivered_at);
    expect(hooks.requests).toHaveLength(3);
  });

  it("shows one attempt for a delivery answered 2xx the first time, and none before any attempt", async () => {
    const app = await testApp(FAST_DISPATCH);
    const hooks = await receiver([204]);
    const acme = await customerWithEndpoint(app, hooks.url());
    const later = await deliver(app, acme.customer.id, null, HOUR);
    const id = await deliver(app, acme.customer.id);
    await settled(app.db, id, "success");

    const delivery = await detail(app, id, acme.secret);
    expect(delivery.attempt_count).toBe(1);
    expect(outcomes(delivery.attempts)).toEqual([{ number: 1, response_status: 204, error: null, success: true }]);
    expect(await detail(app, later, acme.secret)).toMatchObject({ status: "pending", attempt_count: 0, attempts: [] });
  });

  it("logs the attempt a manual retry makes after the schedule failed the delivery", async () => {
    const app = await testApp(ONE_ATTEMPT);
    const hooks = await receiver([503, 200]);
    const acme = await customerWithEndpoint(app, hooks.url());
    const id = await deliver(app, acme.customer.id);
    await settled(app.db, id, "failed");
    expect(outcomes((await detail(app, id, acme.secret)).attempts)).toEqual([
      { number: 1, response_status: 503, error: "HTTP 503", success: false },
    ]);

    const retried = await app.inject({ method: "POST", url: `/v1/webhook-deliveries/${id}/retry`, headers: bearer(acme.secret) });
    expect(retried.statusCode, retried.body).toBe(202);
    expect(retried.json()).not.toHaveProperty("attempts");
    await settled(app.db, id, "success");
    const delivery = await detail(app, id, acme.secret);
    expect(delivery.attempt_count).toBe(2);
    expect(outcomes(delivery.attempts)).toEqual([
      { number: 1, response_status: 503, error: "HTTP 503", success: false },
      { number: 2, response_status: 200, error: null, success: true },
    ]);
  });

  it("logs no attempt for a delivery failed because its endpoint was deleted (none was made)", async () => {
    const app = await testApp(FAST_DISPATCH);
    const hooks = await receiver([200]);
    const acme = await customerWithEndpoint(app, hooks.url());
    const id = await deliver(app, acme.customer.id, null, HOUR);
    const now = toTimestamp(Date.now());
    await app.db.updateTable("webhook_endpoints").set({ deleted_at: now }).execute();
    await app.db.updateTable("webhook_deliveries").set({ next_attempt_at: now }).where("id", "=", id).execute();
    await settled(app.db, id, "failed");
    expect(await detail(app, id, acme.secret)).toMatchObject({ attempt_count: 0, last_error: "endpoint deleted", attempts: [] });
    expect(hooks.requests).toHaveLength(0);
  });

  it("answers the newest 100 attempts, oldest first, when there were more", async () => {
    const app = await testApp(IDLE_DISPATCHER);
    const acme = await customerWithEndpoint(app, "https://example.com/hooks");
    const id = await deliver(app, acme.customer.id, null, HOUR);
    const start = Date.now() - HOUR;
    await app.db
      .insertInto("webhook_delivery_attempts")
      .values(
        Array.from({ length: 105 }, (_, index) => ({
          id: newId(),
          delivery_id: id,
          customer_id: acme.customer.id,
          number: index + 1,
          started_at: toTimestamp(start + index * 1000),
          finished_at: toTimestamp(start + index * 1000 + 20),
          response_status: 500,
          error: "HTTP 500",
          outcome: "failure" as const,
        })),
      )
      .execute();
    await app.db.updateTable("webhook_deliveries").set({ status: "failed", attempt_count: 105, next_attempt_at: null }).where("id", "=", id).execute();

    const delivery = await detail(app, id, acme.secret);
    expect(delivery.attempt_count).toBe(105);
    expect(delivery.attempts.map((attempt) => attempt.number)).toEqual(Array.from({ length: 100 }, (_, index) => index + 6));
  });
});

describe("the attempt log's boundaries", () => {
  it("keeps the list cheap: listed deliveries carry no attempts", async () => {
    const app = await testApp(FAST_DISPATCH);
    const hooks = await receiver([200]);
    const acme = await customerWithEndpoint(app, hooks.url());
    const id = await deliver(app, acme.customer.id);
    await settled(app.db, id, "success");
    const response = await get(app, "/v1/webhook-deliveries", acme.secret);
    expect(response.statusCode, response.body).toBe(200);
    const page = response.json() as Page<WebhookDelivery>;
    expect(page.data.map((delivery) => delivery.id)).toEqual([id]);
    expect(page.data[0]).not.toHaveProperty("attempts");
  });

  it("answers 404 for another customer's delivery and for an unknown id, never its attempts", async () => {
    const app = await testApp(FAST_DISPATCH);
    const hooks = await receiver([500, 200]);
    const acme = await customerWithEndpoint(app, hooks.url(), "Acme");
    const globex = await createTestCustomer(app, "Globex");
    const id = await deliver(app, acme.customer.id);
    await settled(app.db, id, "success");

    const theirs = await get(app, `/v1/webhook-deliveries/${id}`, globex.secret);
    expectError(theirs, 404, "delivery_not_found");
    expect(theirs.body).not.toContain("HTTP 500");
    expectError(await get(app, `/v1/webhook-deliveries/${randomUUID()}`, acme.secret), 404, "delivery_not_found");
  });

  it("answers 404 to a key bound to another instance, and the attempts to a key bound to the delivery's", async () => {
    const app = await testApp(FAST_DISPATCH);
    const hooks = await receiver([200]);
    const acme = await customerWithEndpoint(app, hooks.url());
    const own = await createInstance(app, acme.secret, "own");
    const other = await createInstance(app, acme.secret, "other");
    const boundToOther = await issueKey(app, acme.secret, { name: "other", instance_id: other.id, scopes: ["deliveries:read"] });
    const boundToOwn = await issueKey(app, acme.secret, { name: "own", instance_id: own.id, scopes: ["deliveries:read"] });
    const id = await deliver(app, acme.customer.id, own.id);
    await settled(app.db, id, "success");

    expectError(await get(app, `/v1/webhook-deliveries/${id}`, boundToOther.secret), 404, "delivery_not_found");
    expect(outcomes((await detail(app, id, boundToOwn.secret)).attempts)).toEqual([
      { number: 1, response_status: 200, error: null, success: true },
    ]);
  });

  it("deletes a delivery's attempts with the delivery", async () => {
    const app = await testApp(FAST_DISPATCH);
    const hooks = await receiver([500, 200]);
    const acme = await customerWithEndpoint(app, hooks.url());
    const id = await deliver(app, acme.customer.id);
    const kept = await deliver(app, acme.customer.id);
    await settled(app.db, id, "success");
    await settled(app.db, kept, "success");
    expect(await attemptRows(app.db, id)).toHaveLength(2);

    await app.db.deleteFrom("webhook_deliveries").where("id", "=", id).execute();
    expect(await attemptRows(app.db, id)).toEqual([]);
    expect(await attemptRows(app.db, kept)).toHaveLength(1);
  });
});

describe("recording an attempt", () => {
  /** A pending delivery held by `node_a`'s lease, as a claim leaves it. */
  async function leased(app: App) {
    const acme = await customerWithEndpoint(app, "https://example.com/hooks");
    const id = await deliver(app, acme.customer.id, null, HOUR);
    const lease = { nodeId: "node_a", until: toTimestamp(Date.now() + 60_000) };
    await app.db.updateTable("webhook_deliveries").set({ claimed_by: lease.nodeId, claimed_until: lease.until }).where("id", "=", id).execute();
    const record = nextState({ attempt_count: 0 }, { ok: false, status: 502, error: "HTTP 502" }, [0, 1000], Date.now());
    return { id, lease, record, startedAt: toTimestamp(Date.now() - 30) };
  }

  it("writes no log row when the lease was lost, and one, numbered as attempt_count, under the lease", async () => {
    const app = await testApp(IDLE_DISPATCHER);
    const { id, lease, record, startedAt } = await leased(app);

    expect(await recordAttempt(app.db, { ...lease, nodeId: "node_b" }, id, record, { startedAt })).toBe(false);
    expect(await attemptRows(app.db, id)).toEqual([]);
    expect(await recordAttempt(app.db, lease, id, record, { startedAt })).toBe(true);
    const rows = await attemptRows(app.db, id);
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ number: 1, started_at: startedAt, finished_at: record.updated_at, error: "HTTP 502", outcome: "failure" });
    expect(Number(rows[0]!.response_status)).toBe(502);
    expect(await deliveryRow(app.db, id)).toMatchObject({ status: "retrying", claimed_by: null });
    expect(Number((await deliveryRow(app.db, id)).attempt_count)).toBe(1);
  });

  it("records neither the result nor the log row when the log row cannot be written", async () => {
    const app = await testApp(IDLE_DISPATCHER);
    const { id, lease, record, startedAt } = await leased(app);
    const before = await deliveryRow(app.db, id);

    await failInserts(app.db, TEST_DIALECT, "webhook_delivery_attempts");
    try {
      await expect(recordAttempt(app.db, lease, id, record, { startedAt })).rejects.toThrow(/boom/);
    } finally {
      await allowInserts(app.db, TEST_DIALECT, "webhook_delivery_attempts");
    }
    // Still pending under the same lease: when it lapses the attempt is made again, and logged then.
    expect(await deliveryRow(app.db, id)).toEqual(before);
    expect(await attemptRows(app.db, id)).toEqual([]);
  });
});
