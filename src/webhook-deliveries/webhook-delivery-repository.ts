import type { Insertable, Selectable } from "kysely";
import { MAX_LISTED_ATTEMPTS, type Delivery, type DeliveryAttempt, type DeliveryStatus } from "../contract/webhook-delivery.js";
import type { EventEnvelope, EventType } from "../contract/webhook-event.js";
import { newestFirstPage, type PageRequest } from "../db/pagination.js";
import type { SqlDialect } from "../db/dialect.js";
import type { Executor, Tx, WebhookDeliveriesTable } from "../db/schema.js";

/** Every column but the lease (`claimed_*`), which is the dispatcher's alone (delivery-queue.ts). */
const PUBLIC_COLUMNS = [
  "id",
  "endpoint_id",
  "customer_id",
  "instance_id",
  "event",
  "event_id",
  "payload",
  "status",
  "attempt_count",
  "last_error",
  "last_response_status",
  "next_attempt_at",
  "delivered_at",
  "created_at",
  "updated_at",
] as const;

/**
 * Whose deliveries a reader may see: `instanceId` null for a key of the whole customer; a key
 * bound to an instance sees that instance's deliveries only (not those of no instance).
 */
export type DeliveryView = { instanceId: string | null };

export type DeliveryFilters = {
  status?: DeliveryStatus | undefined;
  event?: EventType | undefined;
  instanceId?: string | undefined;
};

function present(row: Pick<Selectable<WebhookDeliveriesTable>, (typeof PUBLIC_COLUMNS)[number]>): Delivery {
  return {
    ...row,
    event: row.event as EventType,
    status: row.status as DeliveryStatus,
    payload: JSON.parse(row.payload) as EventEnvelope,
    // PostgreSQL's driver may hand integers back as text.
    attempt_count: Number(row.attempt_count),
    last_response_status: row.last_response_status === null ? null : Number(row.last_response_status),
  };
}

/** A new delivery: the event's payload to one endpoint, pending, its first attempt due at `next_attempt_at`. */
export type NewDelivery = Pick<
  Insertable<WebhookDeliveriesTable>,
  "id" | "endpoint_id" | "instance_id" | "event" | "event_id" | "payload" | "next_attempt_at" | "created_at"
>;

/** Writes deliveries in the transaction of the change whose event they carry (see outbox.ts). */
export async function insertDeliveries(tx: Tx, customerId: string, deliveries: NewDelivery[]): Promise<void> {
  if (deliveries.length === 0) return;
  const pending: DeliveryStatus = "pending";
  await tx
    .insertInto("webhook_deliveries")
    .values(
      deliveries.map((delivery) => ({
        ...delivery,
        customer_id: customerId,
        status: pending,
        attempt_count: 0,
        last_error: null,
        last_response_status: null,
        delivered_at: null,
        claimed_until: null,
        claimed_by: null,
        updated_at: delivery.created_at,
      })),
    )
    .execute();
}

export async function findDelivery(
  db: Executor,
  customerId: string,
  id: string,
  view: DeliveryView,
): Promise<Delivery | undefined> {
  let query = db
    .selectFrom("webhook_deliveries")
    .select(PUBLIC_COLUMNS)
    .where("customer_id", "=", customerId)
    .where("id", "=", id);
  if (view.instanceId !== null) query = query.where("instance_id", "=", view.instanceId);
  const row = await query.executeTakeFirst();
  return row ? present(row) : undefined;
}

/**
 * A delivery's attempt log, oldest first: the newest `MAX_LISTED_ATTEMPTS` of it. The caller has
 * found the delivery for this reader (`findDelivery`); the customer id is checked again here.
 */
export async function listDeliveryAttempts(db: Executor, customerId: string, deliveryId: string): Promise<DeliveryAttempt[]> {
  const newest = await db
    .selectFrom("webhook_delivery_attempts")
    .select(["number", "started_at", "finished_at", "response_status", "error", "outcome"])
    .where("customer_id", "=", customerId)
    .where("delivery_id", "=", deliveryId)
    .orderBy("number", "desc")
    .limit(MAX_LISTED_ATTEMPTS)
    .execute();
  return newest.reverse().map(({ outcome, ...row }) => ({
    ...row,
    // PostgreSQL's driver may hand integers back as text.
    number: Number(row.number),
    response_status: row.response_status === null ? null : Number(row.response_status),
    success: outcome === "success",
  }));
}

export async function listDeliveries(
  db: Executor,
  customerId: string,
  view: DeliveryView,
  filters: DeliveryFilters,
  page: PageRequest,
): Promise<Delivery[]> {
  let query = db
    .selectFrom("webhook_deliveries")
    .select(PUBLIC_COLUMNS)
    .where("customer_id", "=", customerId);
  if (view.instanceId !== null) query = query.where("instance_id", "=", view.instanceId);
  if (filters.status !== undefined) query = query.where("status", "=", filters.status);
  if (filters.event !== undefined) query = query.where("event", "=", filters.event);
  if (filters.instanceId !== undefined) query = query.where("instance_id", "=", filters.instanceId);
  return (await newestFirstPage(query, page).execute()).map(present);
}

/**
 * `findDelivery` for a change: on PostgreSQL the row stays locked until the transaction ends, so
 * that a concurrent retry or the dispatcher's result (which writes the row) waits, and this one
 * reads the latest committed state rather than a state about to be overwritten.
 */
export async function lockDelivery(
  tx: Tx,
  dialect: SqlDialect,
  customerId: string,
  id: string,
  view: DeliveryView,
): Promise<Delivery | undefined> {
  let query = tx
    .selectFrom("webhook_deliveries")
    .select(PUBLIC_COLUMNS)
    .where("customer_id", "=", customerId)
    .where("id", "=", id);
  if (view.instanceId !== null) query = query.where("instance_id", "=", view.instanceId);
  const row = await (dialect === "postgres" ? query.forUpdate() : query).executeTakeFirst();
  return row ? present(row) : undefined;
}

/** Every status but `success`: a delivery that has not been delivered can be tried again. */
const REQUEUEABLE_STATUSES: DeliveryStatus[] = ["pending", "retrying", "failed"];

/**
 * Makes a delivery that has not succeeded due at `now`, a `failed` one `retrying` again. The
 * attempt count and the lease are left as they are: the dispatcher's schedule goes on from the
 * attempts already made (so a failed delivery gets one attempt more, not a new schedule), and an
 * attempt in flight keeps its lease, so no second attempt starts beside it and its result is
 * still recorded.
 */
export async function requeueDelivery(tx: Tx, customerId: string, id: string, now: string): Promise<Delivery | undefined> {
  const row = await tx
    .updateTable("webhook_deliveries")
    .set((eb) => ({
      status: eb.case().when("status", "=", "failed").then("retrying").else(eb.ref("status")).end(),
      next_attempt_at: now,
      updated_at: now,
    }))
    .where("customer_id", "=", customerId)
    .where("id", "=", id)
    .where("status", "in", REQUEUEABLE_STATUSES)
    .returning(PUBLIC_COLUMNS)
    .executeTakeFirst();
  return row ? present(row) : undefined;
}
