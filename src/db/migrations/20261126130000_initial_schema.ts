import { sql, type Kysely } from "kysely";
import type { SqlDialect } from "../dialect.js";
import { columnTypes } from "./column-types.js";

export async function up(db: Kysely<any>, dialect: SqlDialect): Promise<void> {
  const types = columnTypes(dialect);
  const id = sql.raw(types.id);
  const timestamp = sql.raw(types.timestamp);
  const json = sql.raw(types.json);

  await db.schema
    .createTable("customers")
    .addColumn("id", id, (c) => c.primaryKey())
    .addColumn("name", "text", (c) => c.notNull())
    .addColumn("created_at", timestamp, (c) => c.notNull())
    .execute();

  await db.schema
    .createTable("instances")
    .addColumn("id", id, (c) => c.primaryKey())
    .addColumn("customer_id", id, (c) => c.notNull().references("customers.id"))
    .addColumn("name", "text", (c) => c.notNull())
    .addColumn("status", "text", (c) => c.notNull())
    .addColumn("phone_number", "text")
    .addColumn("created_at", timestamp, (c) => c.notNull())
    .addColumn("updated_at", timestamp, (c) => c.notNull())
    .addColumn("deleted_at", timestamp)
    .execute();
  await db.schema
    .createIndex("instances_customer_created_idx")
    .on("instances")
    .columns(["customer_id", "created_at", "id"])
    .execute();

  await db.schema
    .createTable("api_keys")
    .addColumn("id", id, (c) => c.primaryKey())
    .addColumn("customer_id", id, (c) => c.notNull().references("customers.id"))
    .addColumn("instance_id", id, (c) => c.references("instances.id"))
    .addColumn("name", "text", (c) => c.notNull())
    .addColumn("prefix", "text", (c) => c.notNull())
    .addColumn("digest", "text", (c) => c.notNull().unique())
    .addColumn("scopes", json, (c) => c.notNull())
    .addColumn("last_used_at", timestamp)
    .addColumn("expires_at", timestamp)
    .addColumn("created_at", timestamp, (c) => c.notNull())
    .addColumn("revoked_at", timestamp)
    .execute();
  await db.schema
    .createIndex("api_keys_customer_created_idx")
    .on("api_keys")
    .columns(["customer_id", "created_at", "id"])
    .execute();
  await db.schema.createIndex("api_keys_instance_idx").on("api_keys").column("instance_id").execute();

  await db.schema
    .createTable("audit_events")
    .addColumn("id", id, (c) => c.primaryKey())
    .addColumn("customer_id", id, (c) => c.notNull().references("customers.id"))
    .addColumn("action", "text", (c) => c.notNull())
    .addColumn("actor_type", "text", (c) => c.notNull())
    .addColumn("actor_id", "text")
    .addColumn("actor_prefix", "text")
    .addColumn("target_type", "text", (c) => c.notNull())
    .addColumn("target_id", "text", (c) => c.notNull())
    .addColumn("metadata", json, (c) => c.notNull())
    .addColumn("ip", "text")
    .addColumn("user_agent", "text")
    .addColumn("request_id", "text")
    .addColumn("created_at", timestamp, (c) => c.notNull())
    .execute();
  await db.schema
    .createIndex("audit_events_customer_created_idx")
    .on("audit_events")
    .columns(["customer_id", "created_at", "id"])
    .execute();

  await forbidAuditChanges(db, dialect);
}

/** The audit log is append-only in the database itself, not only by the absence of routes. */
async function forbidAuditChanges(db: Kysely<any>, dialect: SqlDialect): Promise<void> {
  if (dialect === "postgres") {
    await sql`
      create function audit_events_append_only() returns trigger language plpgsql as $$
      begin
        raise exception 'audit_events is append-only';
      end;
      $$`.execute(db);
    await sql`
      create trigger audit_events_append_only
      before update or delete on audit_events
      for each row execute function audit_events_append_only()`.execute(db);
    return;
  }
  for (const operation of ["update", "delete"]) {
    await sql`
      create trigger ${sql.raw(`audit_events_no_${operation}`)}
      before ${sql.raw(operation)} on audit_events
      begin
        select raise(abort, 'audit_events is append-only');
      end`.execute(db);
  }
}

export async function down(db: Kysely<any>, dialect: SqlDialect): Promise<void> {
  await db.schema.dropTable("audit_events").execute();
  if (dialect === "postgres") {
    await sql`drop function audit_events_append_only()`.execute(db);
  }
  await db.schema.dropTable("api_keys").execute();
  await db.schema.dropTable("instances").execute();
  await db.schema.dropTable("customers").execute();
}
