import { sql, type Kysely } from "kysely";

/**
 * Issuing a key checks the customer's active keys against MAX_ACTIVE_KEYS. Counting them on every
 * issue costs time in proportion to the keys, which a customer that issues many (one per end user,
 * with the cap raised) pays on each one. The customer row now carries the number of its keys not
 * yet revoked, kept by the two statements that change it (an insert and `markRevoked`): while it
 * is below the cap, no key is counted. Only a customer at the cap counts its active keys, which
 * the partial index finds without visiting revoked ones.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .alterTable("customers")
    .addColumn("unrevoked_keys", "integer", (c) => c.notNull().defaultTo(0))
    .execute();
  await sql`update customers set unrevoked_keys =
    (select count(*) from api_keys where api_keys.customer_id = customers.id and api_keys.revoked_at is null)`.execute(db);
  await db.schema
    .createIndex("api_keys_unrevoked_idx")
    .on("api_keys")
    .columns(["customer_id", "created_at", "id", "expires_at"])
    .where(sql.ref("revoked_at"), "is", null)
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropIndex("api_keys_unrevoked_idx").execute();
  await db.schema.alterTable("customers").dropColumn("unrevoked_keys").execute();
}
