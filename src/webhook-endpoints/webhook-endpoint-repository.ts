import type { Executor, Tx } from "../db/schema.js";
import { readJson, writeJson } from "../db/json.js";
import { newestFirstPage, type PageRequest } from "../db/pagination.js";
import type { ALL_EVENTS, EventType } from "../contract/webhook-event.js";

export type SubscribedEvent = EventType | typeof ALL_EVENTS;

/** An endpoint as customers see it. The sealed secret is never selected here. */
export type WebhookEndpoint = {
  id: string;
  customer_id: string;
  instance_id: string | null;
  url: string;
  events: SubscribedEvent[];
  created_at: string;
};

export type NewWebhookEndpoint = Omit<WebhookEndpoint, "customer_id"> & { sealed_secret: string };

const PUBLIC_COLUMNS = ["id", "customer_id", "instance_id", "url", "events", "created_at"] as const;

type PublicRow = Omit<WebhookEndpoint, "events"> & { events: string };

function toWebhookEndpoint(row: PublicRow): WebhookEndpoint {
  return { ...row, events: readJson<SubscribedEvent[]>(row.events) };
}

export async function insertWebhookEndpoint(
  tx: Tx,
  customerId: string,
  endpoint: NewWebhookEndpoint,
): Promise<WebhookEndpoint> {
  await tx
    .insertInto("webhook_endpoints")
    .values({ ...endpoint, customer_id: customerId, events: writeJson(endpoint.events), deleted_at: null })
    .execute();
  return {
    id: endpoint.id,
    customer_id: customerId,
    instance_id: endpoint.instance_id,
    url: endpoint.url,
    events: endpoint.events,
    created_at: endpoint.created_at,
  };
}

/** Deleted endpoints are gone for every reader: this finds only live ones. */
export async function findWebhookEndpoint(
  db: Executor,
  customerId: string,
  id: string,
): Promise<WebhookEndpoint | undefined> {
  const row = await db
    .selectFrom("webhook_endpoints")
    .select(PUBLIC_COLUMNS)
    .where("customer_id", "=", customerId)
    .where("id", "=", id)
    .where("deleted_at", "is", null)
    .executeTakeFirst();
  return row && toWebhookEndpoint(row);
}

export async function listWebhookEndpoints(
  db: Executor,
  customerId: string,
  page: PageRequest,
): Promise<WebhookEndpoint[]> {
  const query = db
    .selectFrom("webhook_endpoints")
    .select(PUBLIC_COLUMNS)
    .where("customer_id", "=", customerId)
    .where("deleted_at", "is", null);
  return (await newestFirstPage(query, page).execute()).map(toWebhookEndpoint);
}

/** Soft delete; true when this call deleted a live endpoint. */
export async function softDeleteWebhookEndpoint(tx: Tx, customerId: string, id: string, at: string): Promise<boolean> {
  const result = await tx
    .updateTable("webhook_endpoints")
    .set({ deleted_at: at })
    .where("customer_id", "=", customerId)
    .where("id", "=", id)
    .where("deleted_at", "is", null)
    .executeTakeFirst();
  return result.numUpdatedRows > 0n;
}
