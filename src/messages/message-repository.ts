import { sql, type Selectable } from "kysely";
import type { TransportName } from "../contract/instance.js";
import type { MessageStatus } from "../contract/message.js";
import { preparedInsert } from "../db/prepared-query.js";
import type { Executor, MessagesTable, Tx } from "../db/schema.js";

/** A message as the API and its webhook events show it: never its text, provider id, lease or transport. */
export type Message = Omit<Selectable<MessagesTable>, "text" | "provider_message_id" | "claimed_until" | "type" | "status" | "transport"> & {
  type: "text";
  status: MessageStatus;
};

export type NewMessage = Omit<Message, "customer_id" | "status" | "error" | "updated_at"> & { text: string; transport: TransportName };

const COLUMNS = [
  "id",
  "customer_id",
  "instance_id",
  "to",
  "type",
  "status",
  "client_ref",
  "error",
  "created_at",
  "updated_at",
] as const;

const insertMessageRow = preparedInsert("messages");

/** Stores a new message, `queued`: the API answers 202 only after this. */
export async function insertMessage(tx: Tx, customerId: string, message: NewMessage): Promise<Message> {
  const { transport, ...shownFields } = message;
  const stored: Message & { text: string } = {
    ...shownFields,
    customer_id: customerId,
    status: "queued",
    error: null,
    updated_at: message.created_at,
  };
  await insertMessageRow(tx, { ...stored, transport, provider_message_id: null, claimed_until: null });
  const { text: _text, ...shown } = stored;
  return shown;
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
  change: { from: MessageStatus[]; to: MessageStatus; at: string; error?: string | null },
): Promise<Message | undefined> {
  if (change.from.length === 0) return undefined;
  const row = await tx
    .updateTable("messages")
    .set({ status: change.to, updated_at: change.at, error: change.error ?? null, claimed_until: null })
    .where("customer_id", "=", customerId)
    .where("id", "=", id)
    .where("status", "in", change.from)
    .returning(COLUMNS)
    .executeTakeFirst();
  return row as Message | undefined;
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

/** A sandbox message whose state is due to move on. */
export type DueSandboxMessage = { id: string; customer_id: string; to: string; status: MessageStatus };

/**
 * The sandbox clock's work, across customers (the clock serves them all): messages of live
 * sandbox instances, not yet final, unchanged since `cutoff`; the oldest first.
 */
export async function dueSandboxMessages(db: Executor, cutoff: string, limit: number): Promise<DueSandboxMessage[]> {
  const rows = await db
    .selectFrom("messages as m")
    .innerJoin("instances as i", "i.id", "m.instance_id")
    .select(["m.id", "m.customer_id", "m.to", "m.status"])
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
  return rows as DueSandboxMessage[];
}

/** A cloud_api message claimed for sending, with what sending it needs. */
export type ClaimedMessage = {
  id: string;
  customer_id: string;
  instance_id: string;
  to: string;
  text: string;
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
    .returning(["id", "customer_id", "instance_id", "to", "text", "created_at", "claimed_until"])
    .execute();
  return rows as ClaimedMessage[];
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
