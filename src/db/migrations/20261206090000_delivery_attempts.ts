import { sql, type Kysely } from "kysely";
import type { SqlDialect } from "../dialect.js";
import { columnTypes } from "./column-types.js";

/**
 * `webhook_delivery_attempts`: one row per attempt of a delivery (its attempt log), written in
 * the transaction that records the attempt's result on the delivery, so the log and
 * `attempt_count` always agree. `number` is 1-based: the delivery's `attempt_count` after that
 * attempt. `error` holds the bounded reason `last_error` holds, never a body, header or URL.
 * `outcome` is text (`success` or `failure`), not a boolean: SQLite has none.
 * The rows go with their delivery (`on delete cascade`): they are part of it.
 */
export async function up(db: Kysely<any>, dialect: SqlDialect): Promise<void> {
  const types = columnTypes(dialect);
  const id = sql.raw(types.id);
  const timestamp = sql.raw(types.timestamp);
  await db.schema
    .createTable("webhook_delivery_attempts")
    .addColumn("id", id, (c) => c.primaryKey())
    .addColumn("delivery_id", id, (c) => c.notNull().references("webhook_deliveries.id").onDelete("cascade"))
    .addColumn("customer_id", id, (c) => c.notNull().references("customers.id"))
    .addColumn("number", "integer", (c) => c.notNull())
    .addColumn("started_at", timestamp, (c) => c.notNull())
    .addColumn("finished_at", timestamp, (c) => c.notNull())
    .addColumn("response_status", "integer")
    .addColumn("error", "text")
    .addColumn("outcome", "text", (c) => c.notNull())
    .execute();
  // One row per attempt number: a second write of one attempt's result is refused, not logged twice.
  await db.schema
    .createIndex("webhook_delivery_attempts_delivery_number_idx")
    .on("webhook_delivery_attempts")
    .columns(["delivery_id", "number"])
    .unique()
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable("webhook_delivery_attempts").execute();
}
