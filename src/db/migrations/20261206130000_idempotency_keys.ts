import { sql, type Kysely } from "kysely";
import type { SqlDialect } from "../dialect.js";
import { columnTypes } from "./column-types.js";

/**
 * `idempotency_keys`: one row per customer and `Idempotency-Key` (docs/idempotency.md), kept 24
 * hours from `created_at`.
 * - `status` is `running` while the first request with the key is in progress, held by the node
 *   whose `token` it carries until `lease_until` (then another node may take it over: the first
 *   one crashed), and `done` once the change committed, in the change's own transaction, with the
 *   answer (`response_status`, `response_body`) that retries are given again.
 * - `fingerprint` is the sha256 of the method, route, path parameters and canonical body: the same
 *   key on another request is refused.
 * - `response_body` is text, the JSON the route answered as it was written, never a secret.
 * The index on `created_at` is the purge's, which deletes the rows past their 24 hours.
 */
export async function up(db: Kysely<any>, dialect: SqlDialect): Promise<void> {
  const types = columnTypes(dialect);
  const id = sql.raw(types.id);
  const timestamp = sql.raw(types.timestamp);
  await db.schema
    .createTable("idempotency_keys")
    .addColumn("customer_id", id, (c) => c.notNull().references("customers.id"))
    .addColumn("key", "text", (c) => c.notNull())
    .addColumn("fingerprint", "text", (c) => c.notNull())
    .addColumn("status", "text", (c) => c.notNull())
    .addColumn("token", "text", (c) => c.notNull())
    .addColumn("lease_until", timestamp)
    .addColumn("response_status", "integer")
    .addColumn("response_body", "text")
    .addColumn("created_at", timestamp, (c) => c.notNull())
    .addPrimaryKeyConstraint("idempotency_keys_pkey", ["customer_id", "key"])
    .execute();
  await db.schema.createIndex("idempotency_keys_created_idx").on("idempotency_keys").column("created_at").execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable("idempotency_keys").execute();
}
