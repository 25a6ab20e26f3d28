import type { Selectable } from "kysely";
import type { SubscribedEvent, WebhookEndpoint } from "../contract/webhook-endpoint.js";
import { ALL_EVENTS, type EventType } from "../contract/webhook-event.js";
import { readJson, writeJson } from "../db/json.js";
import { newestFirstPage, type PageRequest } from "../db/pagination.js";
import { preparedQuery } from "../db/prepared-query.js";
import type { Executor, Tx, WebhookEndpointsTable } from "../db/schema.js";

export type NewWebhookEndpoint = Omit<WebhookEndpoint, "customer_id"> & { sealed_secret: string };

/** Every column but the sealed secret, which only the dispatcher reads (delivery-queue.ts). */
const PUBLIC_COLUMNS = ["id", "customer_id", "instance_id", "url", "events", "created_at"] as const;

function toWebhookEndpoint(row: Pick<Selectable<WebhookEndpointsTable>, (typeof PUBLIC_COLUMNS)[number]>): WebhookEndpoint {
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

/**
 * The customer's live endpoints that receive `event` of `instanceId`: those subscribed to it (or
 * to `*`) and bound to no instance or to that one. An event of no instance reaches only the
 * endpoints bound to none.
 */
/** The live endpoints that receive the events of every instance of the customer. */
const endpointsOfEveryInstance = preparedQuery<"customerId", { id: string; events: string }>((db, value) =>
  db
    .selectFrom("webhook_endpoints")
    .select(["id", "events"])
    .where("customer_id", "=", value("customerId"))
    .where("deleted_at", "is", null)
    .where("instance_id", "is", null),
);

/** The live endpoints that receive one instance's events: its own, and those of every instance. */
const endpointsOfInstance = preparedQuery<"customerId" | "instanceId", { id: string; events: string }>((db, value) =>
  db
    .selectFrom("webhook_endpoints")
    .select(["id", "events"])
    .where("customer_id", "=", value("customerId"))
    .where("deleted_at", "is", null)
    .where((eb) => eb.or([eb("instance_id", "is", null), eb("instance_id", "=", value("instanceId"))])),
);

export async function findSubscribedEndpointIds(
  tx: Tx,
  customerId: string,
  instanceId: string | null,
  event: EventType,
): Promise<string[]> {
  const { rows } =
    instanceId === null ? await endpointsOfEveryInstance(tx, { customerId }) : await endpointsOfInstance(tx, { customerId, instanceId });
  return rows
    .filter((endpoint) => {
      const events = readJson<string[]>(endpoint.events);
      return events.includes(ALL_EVENTS) || events.includes(event);
    })
    .map((endpoint) => endpoint.id);
}
