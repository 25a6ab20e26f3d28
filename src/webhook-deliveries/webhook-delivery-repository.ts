import { newestFirstPage, type PageRequest } from "../db/pagination.js";
import type { Executor } from "../db/schema.js";
import type { EventEnvelope, EventType } from "../contract/webhook-event.js";

export const DELIVERY_STATUSES = ["pending", "success", "failed", "retrying"] as const;
export type DeliveryStatus = (typeof DELIVERY_STATUSES)[number];

/** A delivery as the API shows it: the payload parsed, the lease (claimed_*) never. */
export type Delivery = {
  id: string;
  endpoint_id: string;
  customer_id: string;
  instance_id: string | null;
  event: EventType;
  event_id: string;
  payload: EventEnvelope;
  status: DeliveryStatus;
  attempt_count: number;
  last_error: string | null;
  last_response_status: number | null;
  next_attempt_at: string | null;
  delivered_at: string | null;
  created_at: string;
  updated_at: string;
};

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

type Row = Omit<Delivery, "payload" | "attempt_count" | "last_response_status"> & {
  payload: string;
  attempt_count: number | string;
  last_response_status: number | string | null;
};

function present(row: Row): Delivery {
  return {
    ...row,
    payload: JSON.parse(row.payload) as EventEnvelope,
    attempt_count: Number(row.attempt_count),
    last_response_status: row.last_response_status === null ? null : Number(row.last_response_status),
  };
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
  return row ? present(row as Row) : undefined;
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
  return ((await newestFirstPage(query, page).execute()) as Row[]).map(present);
}
