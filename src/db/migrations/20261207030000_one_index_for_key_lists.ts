import type { Kysely } from "kysely";

/**
 * Every read of a customer's keys in order is a read of its unrevoked keys (the list, its pages,
 * the cap's count); a single key is found by its id. Those reads went through this index of all of
 * a customer's keys, reading past the revoked ones, and now go through api_keys_unrevoked_idx.
 * Every issue wrote this index: one b-tree of the six an issue changes, a tenth of an issue's CPU
 * with a million keys stored, and about a fifth of the keys' space on disk (docs/performance.md,
 * ninth part).
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.dropIndex("api_keys_customer_created_idx").execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.createIndex("api_keys_customer_created_idx").on("api_keys").columns(["customer_id", "created_at", "id"]).execute();
}
