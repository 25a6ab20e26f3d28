import { sql, type Kysely } from "kysely";
import type { SqlDialect } from "../dialect.js";
import { columnTypes } from "./column-types.js";

/**
 * A key's latest use moves out of `api_keys` into a table of its own, one narrow row per key used.
 * The write-behind rewrites the latest use of every key used since its last flush: in `api_keys`
 * each one rewrote a whole key row (its digest, its scopes, its name), on a page of its own when
 * the keys in use are spread over the table, and SQLite's checkpoint then copied each page again.
 * Here a row is a key id and a time, and only keys that have been used have one, so a batch in
 * key order shares a few pages (docs/performance.md, thirteenth part). On SQLite the table is
 * `WITHOUT ROWID`: the key id is the only index it needs. The flush skips a key id that is not
 * stored (`recordKeyUses`), so the reference to the key never fails a batch.
 */
export async function up(db: Kysely<any>, dialect: SqlDialect): Promise<void> {
  const types = columnTypes(dialect);
  const table = db.schema
    .createTable("api_key_last_used")
    .addColumn("key_id", sql.raw(types.id), (c) => c.primaryKey().references("api_keys.id"))
    .addColumn("last_used_at", sql.raw(types.timestamp), (c) => c.notNull());
  await (dialect === "sqlite" ? table.modifyEnd(sql`without rowid`) : table).execute();
  await sql`insert into api_key_last_used (key_id, last_used_at)
    select id, last_used_at from api_keys where last_used_at is not null`.execute(db);
  await db.schema.alterTable("api_keys").dropColumn("last_used_at").execute();
}

export async function down(db: Kysely<any>, dialect: SqlDialect): Promise<void> {
  await db.schema.alterTable("api_keys").addColumn("last_used_at", sql.raw(columnTypes(dialect).timestamp)).execute();
  await sql`update api_keys set last_used_at = (
    select last_used_at from api_key_last_used where api_key_last_used.key_id = api_keys.id)`.execute(db);
  await db.schema.dropTable("api_key_last_used").execute();
}
