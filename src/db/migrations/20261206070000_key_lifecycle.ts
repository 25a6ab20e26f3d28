import { sql, type Kysely } from "kysely";
import type { SqlDialect } from "../dialect.js";
import { columnTypes } from "./column-types.js";

/**
 * The key lifecycle (docs/api.md, "API keys"):
 * - `allowed_ips`: the addresses a key may be used from, fixed at issue (null: anywhere).
 * - `expiring_notice_at` and `expired_notice_at`: when the expiry worker emitted a key's
 *   `api_key.expiring` and `api_key.expired` events. Setting them is how a node claims a notice,
 *   so each is emitted once across nodes and restarts. Each notice has a partial index of the keys
 *   still waiting for it, in the order the worker claims them: the worker never reads the rest (a
 *   key already told it is expiring leaves the first index, and is not read again every tick
 *   until it expires).
 * - `rolled_at`: when the key was replaced by `POST /v1/api-keys/:id/roll`. A key rolled with an
 *   overlap still works until its shortened expiry, but is not rolled a second time: a second
 *   successor would copy the shortened expiry, and two concurrent rolls would both succeed.
 * - `api_key_usage`: requests per key and hour, added to by every node's flush.
 * A key's mode needs no column: it is in its prefix (`zpk_test_…`).
 */
export async function up(db: Kysely<any>, dialect: SqlDialect): Promise<void> {
  const types = columnTypes(dialect);
  const id = sql.raw(types.id);
  const timestamp = sql.raw(types.timestamp);
  const json = sql.raw(types.json);
  await db.schema.alterTable("api_keys").addColumn("allowed_ips", json).execute();
  await db.schema.alterTable("api_keys").addColumn("expiring_notice_at", timestamp).execute();
  await db.schema.alterTable("api_keys").addColumn("expired_notice_at", timestamp).execute();
  await db.schema.alterTable("api_keys").addColumn("rolled_at", timestamp).execute();
  await db.schema
    .createIndex("api_keys_expiring_notice_idx")
    .on("api_keys")
    .columns(["expires_at", "id"])
    .where(sql<boolean>`expires_at is not null and expiring_notice_at is null and revoked_at is null`)
    .execute();
  await db.schema
    .createIndex("api_keys_expired_notice_idx")
    .on("api_keys")
    .columns(["expires_at", "id"])
    .where(sql<boolean>`expires_at is not null and expired_notice_at is null and revoked_at is null`)
    .execute();

  await db.schema
    .createTable("api_key_usage")
    .addColumn("key_id", id, (c) => c.notNull().references("api_keys.id"))
    .addColumn("customer_id", id, (c) => c.notNull().references("customers.id"))
    .addColumn("period_start", timestamp, (c) => c.notNull())
    .addColumn("requests", "integer", (c) => c.notNull().defaultTo(0))
    .addColumn("rejected", "integer", (c) => c.notNull().defaultTo(0))
    .addColumn("rate_limited", "integer", (c) => c.notNull().defaultTo(0))
    .addPrimaryKeyConstraint("api_key_usage_pkey", ["key_id", "period_start"])
    .execute();
  await db.schema.createIndex("api_key_usage_period_idx").on("api_key_usage").column("period_start").execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable("api_key_usage").execute();
  await db.schema.dropIndex("api_keys_expired_notice_idx").execute();
  await db.schema.dropIndex("api_keys_expiring_notice_idx").execute();
  await db.schema.alterTable("api_keys").dropColumn("rolled_at").execute();
  await db.schema.alterTable("api_keys").dropColumn("expired_notice_at").execute();
  await db.schema.alterTable("api_keys").dropColumn("expiring_notice_at").execute();
  await db.schema.alterTable("api_keys").dropColumn("allowed_ips").execute();
}
