import type { Config, DatabaseConfig } from "../../src/config.js";
import { openDatabase } from "../../src/db/database.js";
import type { SqlDialect } from "../../src/db/dialect.js";
import { newId } from "../../src/ids/uuid-v7.js";
import { migrateToLatest } from "../../src/db/migrate.js";
import type { Db, WebhookDeliveriesTable } from "../../src/db/schema.js";
import { nowTimestamp } from "../../src/time/timestamps.js";
import type { EventEnvelope, EventType } from "../../src/contract/webhook-event.js";
import { Outbox } from "../../src/webhook-deliveries/outbox.js";
import { insertInstance } from "../../src/instances/instance-repository.js";
import { WebhookDispatcher } from "../../src/workers/webhook-dispatcher.js";
import { SecretBox } from "../../src/crypto/secret-box.js";
import { generateWebhookSecret } from "../../src/crypto/webhook-signature.js";
import { createCustomerOn, TEST_PEPPER } from "./test-app.js";
import { freshDatabase, TEST_DIALECT } from "./test-database.js";

/** Fast settings for tests that watch the dispatcher work: six quick attempts, short timeouts. */
export const FAST_WEBHOOKS: Config["webhooks"] = {
  allowLoopback: true,
  retryDelaysMs: [0, 50, 50, 50, 50, 50],
  attemptTimeoutMs: 500,
};
export const FAST_DISPATCH: Partial<Config> = { webhooks: FAST_WEBHOOKS, workerPollMs: 10 };

export type TestEndpoint = { id: string; url: string; secret: string };

/**
 * A webhook endpoint row written directly (the endpoints API is not needed to test deliveries),
 * its secret sealed the way the server seals it, under the test pepper.
 */
export async function insertEndpoint(
  db: Db,
  customerId: string,
  options: { url: string; events?: string[]; instanceId?: string | null; secret?: string },
): Promise<TestEndpoint> {
  const secret = options.secret ?? generateWebhookSecret();
  const id = newId();
  await db
    .insertInto("webhook_endpoints")
    .values({
      id,
      customer_id: customerId,
      instance_id: options.instanceId ?? null,
      url: options.url,
      events: JSON.stringify(options.events ?? ["*"]),
      sealed_secret: new SecretBox(TEST_PEPPER).seal(secret),
      created_at: nowTimestamp(),
      deleted_at: null,
    })
    .execute();
  return { id, url: options.url, secret };
}

/**
 * Emits an event through the outbox in a transaction, as a route does. `firstAttemptDelayMs`
 * is when the first attempt is due (a large value keeps deliveries pending).
 */
export async function emitEvent(
  db: Db,
  customerId: string,
  event: { event: EventType; instanceId?: string | null; data?: Record<string, unknown> },
  firstAttemptDelayMs = 0,
): Promise<EventEnvelope> {
  return db.transaction().execute((tx) =>
    new Outbox(firstAttemptDelayMs).emit(tx, customerId, {
      event: event.event,
      instanceId: event.instanceId ?? null,
      data: event.data ?? { example: true },
    }),
  );
}

export async function deliveriesOf(db: Db, eventId: string): Promise<WebhookDeliveriesTable[]> {
  return db.selectFrom("webhook_deliveries").selectAll().where("event_id", "=", eventId).orderBy("id").execute();
}

export async function deliveryRow(db: Db, id: string): Promise<WebhookDeliveriesTable> {
  return db.selectFrom("webhook_deliveries").selectAll().where("id", "=", id).executeTakeFirstOrThrow();
}

/** Polls `check` until it returns a value other than undefined/false, or fails after the deadline. */
export async function waitFor<T>(
  check: () => Promise<T | undefined | false> | T | undefined | false,
  description: string,
  timeoutMs = 10_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${description}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/**
 * A migrated database without an app (and so without a running dispatcher): a private one, or
 * the one `config` names (e.g. a `persistentDatabase()` an app opens later).
 */
export async function openBareDatabase(config: DatabaseConfig = freshDatabase()): Promise<Db> {
  const database = await openDatabase(config);
  await migrateToLatest(database);
  return database.db;
}

export async function bareCustomer(db: Db, name = "Acme"): Promise<string> {
  return (await createCustomerOn(db, TEST_PEPPER, name)).customer.id;
}

export async function bareInstance(db: Db, customerId: string, name = "main"): Promise<string> {
  const now = nowTimestamp();
  const id = newId();
  await db.transaction().execute((tx) =>
    insertInstance(tx, customerId, {
      id,
      name,
      transport: "sandbox",
      status: "connected",
      phone_number: null,
      created_at: now,
      updated_at: now,
    }),
  );
  return id;
}

/**
 * A dispatcher on `db` as node `nodeId`, driven by the test (`runOnce`) instead of a loop. It
 * gets only what a dispatcher uses; its SQL is that of `dialect` (the suite's database).
 */
export function dispatcherOn(
  db: Db,
  nodeId: string,
  webhooks: Config["webhooks"] = FAST_WEBHOOKS,
  dialect: SqlDialect = TEST_DIALECT,
): WebhookDispatcher {
  return new WebhookDispatcher({ db, dialect, nodeId, webhooks, secrets: new SecretBox(TEST_PEPPER) });
}
