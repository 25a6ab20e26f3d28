import { sql, type Kysely } from "kysely";

/**
 * The Cloud API pump claims queued messages every WORKER_POLL_MS, and the sandbox's clock looks
 * for messages to move as often. Both went through one index of statuses, which held both
 * transports' messages: the pump read every queued sandbox message and joined each to its
 * instance to drop it. With 18,000 sandbox messages queued (a burst, or a sandbox that steps
 * slowly) a claim took 8.5 ms of the event loop, four times a second, on every node; and the
 * claim's UPDATE went through the same index rather than the ids it had picked, SQLite's planner
 * knowing nothing of how many rows a status has.
 *
 * A message now carries its instance's transport, and each worker has a partial index of its own
 * transport's messages, in the order it takes them. A message enters one of the two, as it
 * entered the index of statuses before: sending costs no more.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .alterTable("messages")
    .addColumn("transport", "text", (c) => c.notNull().defaultTo("sandbox"))
    .execute();
  await sql`update messages set transport = (select transport from instances where instances.id = messages.instance_id)`.execute(db);
  await db.schema.dropIndex("messages_status_updated_idx").execute();
  await db.schema
    .createIndex("messages_sandbox_moving_idx")
    .on("messages")
    .columns(["updated_at", "id"])
    .where(sql<boolean>`transport = 'sandbox' and status in ('queued', 'sent', 'delivered')`)
    .execute();
  await db.schema
    .createIndex("messages_cloud_api_unsent_idx")
    .on("messages")
    .columns(["created_at", "id"])
    .where(sql<boolean>`transport = 'cloud_api' and status = 'queued' and provider_message_id is null`)
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropIndex("messages_cloud_api_unsent_idx").execute();
  await db.schema.dropIndex("messages_sandbox_moving_idx").execute();
  await db.schema.createIndex("messages_status_updated_idx").on("messages").columns(["status", "updated_at"]).execute();
  await db.schema.alterTable("messages").dropColumn("transport").execute();
}
