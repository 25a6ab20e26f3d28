import { sql, type Kysely } from "kysely";
import type { SqlDialect } from "../dialect.js";
import { columnTypes } from "./column-types.js";

export async function up(db: Kysely<any>, dialect: SqlDialect): Promise<void> {
  const types = columnTypes(dialect);
  const id = sql.raw(types.id);
  const timestamp = sql.raw(types.timestamp);
  const json = sql.raw(types.json);

  await db.schema
    .alterTable("instances")
    .addColumn("transport", "text", (c) => c.notNull().defaultTo("sandbox"))
    .execute();
  await db.schema.alterTable("instances").addColumn("provider_phone_number_id", "text").execute();
  // One live instance per WhatsApp number: two would both receive its status callbacks.
  await db.schema
    .createIndex("instances_live_provider_number_idx")
    .on("instances")
    .column("provider_phone_number_id")
    .unique()
    .where(sql.ref("deleted_at"), "is", null)
    .execute();

  await db.schema
    .createTable("messages")
    .addColumn("id", id, (c) => c.primaryKey())
    .addColumn("customer_id", id, (c) => c.notNull().references("customers.id"))
    .addColumn("instance_id", id, (c) => c.notNull().references("instances.id"))
    .addColumn("to", "text", (c) => c.notNull())
    .addColumn("type", "text", (c) => c.notNull())
    .addColumn("text", "text", (c) => c.notNull())
    .addColumn("client_ref", "text")
    .addColumn("status", "text", (c) => c.notNull())
    .addColumn("provider_message_id", "text")
    .addColumn("error", "text")
    .addColumn("claimed_until", timestamp)
    .addColumn("created_at", timestamp, (c) => c.notNull())
    .addColumn("updated_at", timestamp, (c) => c.notNull())
    .execute();
  await db.schema.createIndex("messages_status_updated_idx").on("messages").columns(["status", "updated_at"]).execute();
  await db.schema
    .createIndex("messages_provider_id_idx")
    .on("messages")
    .column("provider_message_id")
    .unique()
    .execute();

  await db.schema
    .createTable("webhook_endpoints")
    .addColumn("id", id, (c) => c.primaryKey())
    .addColumn("customer_id", id, (c) => c.notNull().references("customers.id"))
    .addColumn("instance_id", id, (c) => c.references("instances.id"))
    .addColumn("url", "text", (c) => c.notNull())
    .addColumn("events", json, (c) => c.notNull())
    .addColumn("sealed_secret", "text", (c) => c.notNull())
    .addColumn("created_at", timestamp, (c) => c.notNull())
    .addColumn("deleted_at", timestamp)
    .execute();
  await db.schema
    .createIndex("webhook_endpoints_customer_created_idx")
    .on("webhook_endpoints")
    .columns(["customer_id", "created_at", "id"])
    .execute();

  await db.schema
    .createTable("webhook_deliveries")
    .addColumn("id", id, (c) => c.primaryKey())
    .addColumn("customer_id", id, (c) => c.notNull().references("customers.id"))
    .addColumn("endpoint_id", id, (c) => c.notNull().references("webhook_endpoints.id"))
    .addColumn("instance_id", id)
    .addColumn("event", "text", (c) => c.notNull())
    .addColumn("event_id", "text", (c) => c.notNull())
    .addColumn("payload", "text", (c) => c.notNull())
    .addColumn("status", "text", (c) => c.notNull())
    .addColumn("attempt_count", "integer", (c) => c.notNull().defaultTo(0))
    .addColumn("last_error", "text")
    .addColumn("last_response_status", "integer")
    .addColumn("next_attempt_at", timestamp)
    .addColumn("delivered_at", timestamp)
    .addColumn("claimed_until", timestamp)
    .addColumn("claimed_by", "text")
    .addColumn("created_at", timestamp, (c) => c.notNull())
    .addColumn("updated_at", timestamp, (c) => c.notNull())
    .execute();
  await db.schema
    .createIndex("webhook_deliveries_due_idx")
    .on("webhook_deliveries")
    .columns(["status", "next_attempt_at"])
    .execute();
  await db.schema
    .createIndex("webhook_deliveries_customer_created_idx")
    .on("webhook_deliveries")
    .columns(["customer_id", "created_at", "id"])
    .execute();
  // What an instance-bound key (or the instance_id filter) lists.
  await db.schema
    .createIndex("webhook_deliveries_instance_created_idx")
    .on("webhook_deliveries")
    .columns(["customer_id", "instance_id", "created_at", "id"])
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable("webhook_deliveries").execute();
  await db.schema.dropTable("webhook_endpoints").execute();
  await db.schema.dropTable("messages").execute();
  await db.schema.alterTable("instances").dropColumn("provider_phone_number_id").execute();
  await db.schema.alterTable("instances").dropColumn("transport").execute();
}
