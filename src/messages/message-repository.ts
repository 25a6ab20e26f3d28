import { sql, type Selectable } from "kysely";
import type { TransportName } from "../contract/instance.js";
import type {
  MediaType,
  Message,
  MessageDirection,
  MessageMedia,
  MessageStatus,
  MessageTemplate,
  MessageType,
  OutboundStatus,
} from "../contract/message.js";
import { readJson, writeJson } from "../db/json.js";
import { newestFirstPage, type PageRequest } from "../db/pagination.js";
import { preparedInsert } from "../db/prepared-query.js";
import type { Executor, MessagesTable, Tx } from "../db/schema.js";

const COLUMNS = [
  "id",
  "instance_id",
  "direction",
  "from",
  "to",
  "type",
  "text",
  "media",
  "template",
  "status",
  "client_ref",
  "error",
  "reply_to",
  "sent_at",
  "delivered_at",
  "read_at",
  "failed_at",
  "received_at",
  "created_at",
  "updated_at",
] as const;

type MessageRow = Pick<Selectable<MessagesTable>, (typeof COLUMNS)[number]>;

/** A row as the API shows it: never its customer, provider id, lease or transport. */
export function toMessage(row: MessageRow): Message {
  return {
    ...row,
    direction: row.direction as MessageDirection,
    type: row.type as MessageType,
    status: row.status as MessageStatus,
    media: row.media === null ? null : readJson<MessageMedia>(row.media),
    template: row.template === null ? null : readJson<MessageTemplate>(row.template),
  };
}

/** What a new message holds besides what every new message starts with. */
export type NewMessageContent = {
  type: MessageType;
  text: string | null;
  media: MessageMedia | null;
  template: MessageTemplate | null;
};

export type NewOutboundMessage = NewMessageContent & {
  id: string;
  instance_id: string;
  transport: TransportName;
  from: string | null;
  to: string;
  client_ref: string | null;
  created_at: string;
};

export type NewInboundMessage = NewMessageContent & {
  id: string;
  instance_id: string;
  transport: TransportName;
  from: string;
  to: string | null;
  reply_to: string | null;
  provider_message_id: string | null;
  /** When the provider says it was received; `created_at` is when it was stored here. */
  received_at: string;
  created_at: string;
};

const NO_STATE_TIMES = { sent_at: null, delivered_at: null, read_at: null, failed_at: null } as const;

const insertMessageRow = preparedInsert("messages");

/** Stores a new message, `queued`: the API answers 202 only after this. */
export async function insertOutboundMessage(tx: Tx, customerId: string, message: NewOutboundMessage): Promise<Message> {
  const row = {
    id: message.id,
    instance_id: message.instance_id,
    direction: "outbound",
    from: message.from,
    to: message.to,
    type: message.type,
    text: message.text,
    media: message.media === null ? null : writeJson(message.media),
    template: message.template === null ? null : writeJson(message.template),
    status: "queued",
    client_ref: message.client_ref,
    error: null,
    reply_to: null,
    ...NO_STATE_TIMES,
    received_at: null,
    created_at: message.created_at,
    updated_at: message.created_at,
  } satisfies MessageRow;
  await insertMessageRow(tx, { ...row, customer_id: customerId, transport: message.transport, provider_message_id: null, claimed_until: null });
  return toMessage(row);
}

/**
 * Stores a message an instance received, `received`. A provider repeats a callback it thinks was
 * lost, so a message whose provider id is already stored is not stored again: undefined then.
 */
export async function insertInboundMessage(tx: Tx, customerId: string, message: NewInboundMessage): Promise<Message | undefined> {
  const row = {
    id: message.id,
    instance_id: message.instance_id,
    direction: "inbound",
    from: message.from,
    to: message.to,
    type: message.type,
    text: message.text,
    media: message.media === null ? null : writeJson(message.media),
    template: null,
    status: "received",
    client_ref: null,
    error: null,
    reply_to: message.reply_to,
    ...NO_STATE_TIMES,
    received_at: message.received_at,
    created_at: message.created_at,
    updated_at: message.created_at,
  } satisfies MessageRow;
  const inserted = await tx
    .insertInto("messages")
    .values({ ...row, customer_id: customerId, transport: message.transport, provider_message_id: message.provider_message_id, claimed_until: null })
    .onConflict((conflict) => conflict.column("provider_message_id").where("provider_message_id", "is not", null).doNothing())
    .returning("id")
    .executeTakeFirst();
  return inserted ? toMessage(row) : undefined;
}

/** One message of an instance, either way; undefined when it is not this customer's and instance's. */
export async function findMessage(db: Executor, customerId: string, instanceId: string, id: string): Promise<Message | undefined> {
  const row = await db
    .selectFrom("messages")
    .select(COLUMNS)
    .where("customer_id", "=", customerId)
    .where("instance_id", "=", instanceId)
    .where("id", "=", id)
    .executeTakeFirst();
  return row ? toMessage(row) : undefined;
}

export type MessageFilters = { direction?: MessageDirection | undefined; status?: MessageStatus | undefined };

/** An instance's messages, newest first, one page (see `listPage`). */
export async function listMessages(
  db: Executor,
  customerId: string,
  instanceId: string,
  filters: MessageFilters,
  page: PageRequest,
): Promise<Message[]> {
  let query = db
    .selectFrom("messages")
    .select(COLUMNS)
    .where("customer_id", "=", customerId)
    .where("instance_id", "=", instanceId);
  if (filters.direction !== undefined) query = query.where("direction", "=", filters.direction);
  if (filters.status !== undefined) query = query.where("status", "=", filters.status);
  const rows = await newestFirstPage(query, page).execute();
  return rows.map(toMessage);
}

/** The id of the outbound message of ours that a provider id names (what a reply quotes). */
export async function findOutboundIdByProviderId(
  db: Executor,
  customerId: string,
  instanceId: string,
  providerMessageId: string,
): Promise<string | undefined> {
  const row = await db
    .selectFrom("messages")
    .select("id")
    .where("provider_message_id", "=", providerMessageId)
    .where("customer_id", "=", customerId)
    .where("instance_id", "=", instanceId)
    .where("direction", "=", "outbound")
    .executeTakeFirst();
  return row?.id;
}

/** Whether `id` is an outbound message of this instance (what a sandbox reply may quote). */
export async function isOutboundMessageOf(db: Executor, customerId: string, instanceId: string, id: string): Promise<boolean> {
  const row = await db
    .selectFrom("messages")
    .select("id")
    .where("customer_id", "=", customerId)
    .where("instance_id", "=", instanceId)
    .where("id", "=", id)
    .where("direction", "=", "outbound")
    .executeTakeFirst();
  return row !== undefined;
}

/**
 * Moves a message to `to` if it is still in one of `from`: one conditional UPDATE, so that two
 * workers (or a worker and a callback) racing on the same message move it once. Returns the
 * message as moved, or undefined when another writer got there first (or it never matched).
 */
export async function moveMessage(
  tx: Tx,
  customerId: string,
  id: string,
  change: { from: OutboundStatus[]; to: Exclude<OutboundStatus, "queued">; at: string; error?: string | null },
): Promise<Message | undefined> {
  if (change.from.length === 0) return undefined;
  const row = await tx
    .updateTable("messages")
    .set({
      status: change.to,
      [`${change.to}_at`]: change.at,
      updated_at: change.at,
      error: change.error ?? null,
      claimed_until: null,
    })
    .where("customer_id", "=", customerId)
    .where("id", "=", id)
    .where("status", "in", change.from)
    .returning(COLUMNS)
    .executeTakeFirst();
  return row ? toMessage(row) : undefined;
}

/**
 * The callbacks' lookup, before the customer is known: Meta names a message only by the wamid it
 * gave it, which is globally unique. The caller is authenticated by the callback's signature.
 */
export async function findMessageByProviderId(
  db: Executor,
  providerMessageId: string,
): Promise<{ id: string; customer_id: string; status: MessageStatus } | undefined> {
  const row = await db
    .selectFrom("messages")
    .select(["id", "customer_id", "status"])
    .where("provider_message_id", "=", providerMessageId)
    .executeTakeFirst();
  return row as { id: string; customer_id: string; status: MessageStatus } | undefined;
}

/** A sandbox message whose state is due to move on, with what the sandbox checks of it. */
export type DueSandboxMessage = {
  id: string;
  customer_id: string;
  to: string;
  type: MessageType;
  media: MessageMedia | null;
  status: OutboundStatus;
};

/**
 * The sandbox clock's work, across customers (the clock serves them all): messages of live
 * sandbox instances, not yet final, unchanged since `cutoff`; the oldest first.
 */
export async function dueSandboxMessages(db: Executor, cutoff: string, limit: number): Promise<DueSandboxMessage[]> {
  const rows = await db
    .selectFrom("messages as m")
    .innerJoin("instances as i", "i.id", "m.instance_id")
    .select(["m.id", "m.customer_id", "m.to", "m.type", "m.media", "m.status"])
    .where("i.deleted_at", "is", null)
    // Literals, not parameters: a partial index serves a statement only when its conditions are
    // known to imply the index's (messages_sandbox_moving_idx).
    .where("m.transport", "=", sql.lit("sandbox"))
    .where("m.status", "in", [sql.lit("queued"), sql.lit("sent"), sql.lit("delivered")])
    .where("m.updated_at", "<=", cutoff)
    .orderBy("m.updated_at")
    .orderBy("m.id")
    .limit(limit)
    .execute();
  return rows.map((row) => ({
    id: row.id,
    customer_id: row.customer_id,
    to: row.to ?? "",
    type: row.type as MessageType,
    media: row.media === null ? null : readJson<MessageMedia>(row.media),
    status: row.status as OutboundStatus,
  }));
}

/** What an outbound message says, by its type: what a transport sends. */
export type OutboundContent =
  | { type: "text"; text: string }
  | { type: MediaType; media: MessageMedia }
  | { type: "template"; template: MessageTemplate };

function outboundContent(row: { type: string; text: string | null; media: string | null; template: string | null }): OutboundContent {
  if (row.type === "template" && row.template !== null) return { type: "template", template: readJson<MessageTemplate>(row.template) };
  if (row.type !== "text" && row.type !== "template" && row.media !== null) {
    return { type: row.type as MediaType, media: readJson<MessageMedia>(row.media) };
  }
  return { type: "text", text: row.text ?? "" };
}

/** A cloud_api message claimed for sending, with what sending it needs. */
export type ClaimedMessage = {
  id: string;
  customer_id: string;
  instance_id: string;
  to: string;
  content: OutboundContent;
  created_at: string;
  /** The lease this claim holds; finishing the claim checks it is still ours. */
  claimed_until: string;
};

/**
 * Claims up to `limit` queued cloud_api messages that have no provider id yet and no live lease,
 * in one statement: the outer WHERE repeats the conditions, so two nodes running it at once never
 * both claim a message (on PostgreSQL a concurrent claimer re-checks the row after the first
 * commits). Across customers, like every worker.
 */
export async function claimCloudApiMessages(
  db: Executor,
  now: string,
  leaseUntil: string,
  limit: number,
): Promise<ClaimedMessage[]> {
  // Literals, as above (messages_cloud_api_unsent_idx): the claim never reads a sandbox message.
  const due = db
    .selectFrom("messages as m")
    .innerJoin("instances as i", "i.id", "m.instance_id")
    .select("m.id")
    .where("i.deleted_at", "is", null)
    .where("m.transport", "=", sql.lit("cloud_api"))
    .where("m.status", "=", sql.lit("queued"))
    .where("m.provider_message_id", "is", null)
    .where((eb) => eb.or([eb("m.claimed_until", "is", null), eb("m.claimed_until", "<=", now)]))
    .orderBy("m.created_at")
    .orderBy("m.id")
    .limit(limit);
  const rows = await db
    .updateTable("messages")
    .set({ claimed_until: leaseUntil })
    .where("id", "in", due)
    .where("status", "=", "queued")
    .where("provider_message_id", "is", null)
    .where((eb) => eb.or([eb("claimed_until", "is", null), eb("claimed_until", "<=", now)]))
    .returning(["id", "customer_id", "instance_id", "to", "type", "text", "media", "template", "created_at", "claimed_until"])
    .execute();
  return rows.map((row) => ({
    id: row.id,
    customer_id: row.customer_id,
    instance_id: row.instance_id,
    to: row.to ?? "",
    content: outboundContent(row),
    created_at: row.created_at,
    claimed_until: row.claimed_until ?? leaseUntil,
  }));
}

/** The provider's phone number ids of these instances (one customer's or many: worker use). */
export async function providerPhoneNumberIds(db: Executor, instanceIds: string[]): Promise<Map<string, string | null>> {
  if (instanceIds.length === 0) return new Map();
  const rows = await db
    .selectFrom("instances")
    .select(["id", "provider_phone_number_id"])
    .where("id", "in", [...new Set(instanceIds)])
    .execute();
  return new Map(rows.map((row) => [row.id, row.provider_phone_number_id]));
}

/**
 * Records the provider's id of a message it accepted and ends the claim. The message stays
 * `queued` until the provider's callback says `sent`. False if it was no longer ours to record.
 */
export async function recordProviderMessageId(
  db: Executor,
  customerId: string,
  id: string,
  providerMessageId: string,
  at: string,
): Promise<boolean> {
  const result = await db
    .updateTable("messages")
    .set({ provider_message_id: providerMessageId, claimed_until: null, updated_at: at })
    .where("customer_id", "=", customerId)
    .where("id", "=", id)
    .where("status", "=", "queued")
    .where("provider_message_id", "is", null)
    .executeTakeFirst();
  return result.numUpdatedRows > 0n;
}

/** Gives a claimed message back, to be tried again no earlier than `retryAt`. */
export async function releaseClaim(
  db: Executor,
  customerId: string,
  id: string,
  lease: string,
  retryAt: string,
): Promise<boolean> {
  const result = await db
    .updateTable("messages")
    .set({ claimed_until: retryAt })
    .where("customer_id", "=", customerId)
    .where("id", "=", id)
    .where("claimed_until", "=", lease)
    .where("provider_message_id", "is", null)
    .executeTakeFirst();
  return result.numUpdatedRows > 0n;
}
