import { sql, type Kysely } from "kysely";

/**
 * The Cloud API pump looks for queued messages without a provider id every WORKER_POLL_MS. It
 * went through the unique index of provider ids, where a missing id is a key like any other: it
 * read every message without one, every sandbox message ever sent among them, a scan that grew
 * with the sandbox's history. The index of provider ids now holds only the messages that have one
 * (the callbacks' lookup by wamid implies it), and the pump goes through the index of statuses,
 * reading the queued messages alone.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.dropIndex("messages_provider_id_idx").execute();
  await db.schema
    .createIndex("messages_provider_id_idx")
    .on("messages")
    .column("provider_message_id")
    .unique()
    .where(sql.ref("provider_message_id"), "is not", null)
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropIndex("messages_provider_id_idx").execute();
  await db.schema.createIndex("messages_provider_id_idx").on("messages").column("provider_message_id").unique().execute();
}
