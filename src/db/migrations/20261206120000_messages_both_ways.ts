import { sql, type Kysely } from "kysely";
import type { SqlDialect } from "../dialect.js";
import { columnTypes } from "./column-types.js";

/**
 * Messages both ways (inbound and outbound), of every type, with the time of each state.
 *
 * An inbound message has no recipient of ours to name and a media or template message has no text,
 * so `to` and `text` stop being required. PostgreSQL drops the constraints in place; SQLite cannot
 * alter a column, so there the table is rebuilt with the same rows and indexes.
 *
 * Before this migration only the time of a message's current state was kept (`updated_at`): it
 * becomes that state's own timestamp, and the earlier states' times stay unknown (null).
 */
export async function up(db: Kysely<any>, dialect: SqlDialect): Promise<void> {
  const types = columnTypes(dialect);
  const id = sql.raw(types.id);
  const timestamp = sql.raw(types.timestamp);
  const json = sql.raw(types.json);

  if (dialect === "postgres") {
    await sql`alter table messages alter column "to" drop not null, alter column text drop not null`.execute(db);
  } else {
    await rebuildSqliteMessagesWithOptionalText(db);
  }

  await db.schema.alterTable("messages").addColumn("direction", "text", (c) => c.notNull().defaultTo("outbound")).execute();
  await db.schema.alterTable("messages").addColumn("from", "text").execute();
  await db.schema.alterTable("messages").addColumn("media", json).execute();
  await db.schema.alterTable("messages").addColumn("template", json).execute();
  await db.schema.alterTable("messages").addColumn("reply_to", id).execute();
  for (const column of ["sent_at", "delivered_at", "read_at", "failed_at", "received_at"]) {
    await db.schema.alterTable("messages").addColumn(column, timestamp).execute();
  }
  for (const status of ["sent", "delivered", "read", "failed"]) {
    await sql`update messages set ${sql.ref(`${status}_at`)} = updated_at where status = ${status}`.execute(db);
  }

  // Reading an instance's messages back, newest first (the messages had no index by instance).
  await db.schema
    .createIndex("messages_instance_created_idx")
    .on("messages")
    .columns(["customer_id", "instance_id", "created_at", "id"])
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropIndex("messages_instance_created_idx").execute();
  for (const column of ["received_at", "failed_at", "read_at", "delivered_at", "sent_at", "reply_to", "template", "media", "from", "direction"]) {
    await db.schema.alterTable("messages").dropColumn(column).execute();
  }
  // `to` and `text` stay optional: inbound and media rows may exist, and nothing needs them required.
}

/** SQLite's way to change a column's constraint: a new table, the rows copied, the old one dropped. */
async function rebuildSqliteMessagesWithOptionalText(db: Kysely<any>): Promise<void> {
  const columns = sql.raw(
    `id, customer_id, instance_id, "to", type, text, client_ref, status, provider_message_id, error, claimed_until, created_at, updated_at, transport`,
  );
  await db.schema
    .createTable("messages_rebuilt")
    .addColumn("id", "text", (c) => c.primaryKey())
    .addColumn("customer_id", "text", (c) => c.notNull().references("customers.id"))
    .addColumn("instance_id", "text", (c) => c.notNull().references("instances.id"))
    .addColumn("to", "text")
    .addColumn("type", "text", (c) => c.notNull())
    .addColumn("text", "text")
    .addColumn("client_ref", "text")
    .addColumn("status", "text", (c) => c.notNull())
    .addColumn("provider_message_id", "text")
    .addColumn("error", "text")
    .addColumn("claimed_until", "text")
    .addColumn("created_at", "text", (c) => c.notNull())
    .addColumn("updated_at", "text", (c) => c.notNull())
    .addColumn("transport", "text", (c) => c.notNull().defaultTo("sandbox"))
    .execute();
  await sql`insert into messages_rebuilt (${columns}) select ${columns} from messages`.execute(db);
  await db.schema.dropTable("messages").execute();
  await db.schema.alterTable("messages_rebuilt").renameTo("messages").execute();
  // The indexes went with the old table; these are the latest definitions of each.
  await db.schema
    .createIndex("messages_provider_id_idx")
    .on("messages")
    .column("provider_message_id")
    .unique()
    .where(sql.ref("provider_message_id"), "is not", null)
    .execute();
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
