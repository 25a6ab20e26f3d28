import { randomBytes } from "node:crypto";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { sql } from "kysely";
import type { DatabaseConfig } from "../../src/config.js";
import { IN_MEMORY_SQLITE } from "../../src/db/database.js";
import type { SqlDialect } from "../../src/db/dialect.js";
import type { Db } from "../../src/db/schema.js";

/**
 * Which database this run of the suite uses. The vitest project `postgres` (present when
 * TEST_DATABASE_URL is set) runs every test file again with WHATISUP_TEST_DIALECT=postgres.
 */
export const TEST_DIALECT: SqlDialect = process.env.WHATISUP_TEST_DIALECT === "postgres" ? "postgres" : "sqlite";

/** Every schema the tests create starts with this, so a run can drop what an earlier one left. */
export const TEST_SCHEMA_PREFIX = "wt_";

function postgresUrl(): string {
  const url = process.env.TEST_DATABASE_URL;
  if (!url) throw new Error("WHATISUP_TEST_DIALECT=postgres needs TEST_DATABASE_URL");
  return url;
}

function newSchemaName(): string {
  return `${TEST_SCHEMA_PREFIX}${process.pid}_${randomBytes(6).toString("hex")}`;
}

/** A private, empty database for one app: in-memory SQLite, or a new PostgreSQL schema. */
export function freshDatabase(): DatabaseConfig {
  if (TEST_DIALECT === "postgres") {
    return { dialect: "postgres", url: postgresUrl(), schema: newSchemaName(), poolSize: 4 };
  }
  return { dialect: "sqlite", path: IN_MEMORY_SQLITE };
}

/**
 * A database that outlives one app, for restarts and for several processes at once: a SQLite
 * file in a new temporary folder, or a new PostgreSQL schema (which is never in memory anyway).
 */
export function persistentDatabase(): DatabaseConfig {
  if (TEST_DIALECT === "postgres") return freshDatabase();
  return { dialect: "sqlite", path: join(mkdtempSync(join(tmpdir(), "whatisup-test-")), "whatisup.db") };
}

/** The environment a server or CLI process needs to open the same database. */
export function databaseEnv(config: DatabaseConfig): Record<string, string> {
  if (config.dialect === "sqlite") return { DATABASE_URL: `sqlite:${config.path}` };
  return { DATABASE_URL: config.url, ...(config.schema ? { DATABASE_SCHEMA: config.schema } : {}) };
}

/**
 * Makes every INSERT into `table` fail inside the database, to prove that a change and its audit
 * (or outbox) rows commit together or not at all. Undo it with `allowInserts`.
 */
export async function failInserts(db: Db, dialect: SqlDialect, table: string): Promise<void> {
  const trigger = sql.raw(`fail_${table}`);
  if (dialect === "postgres") {
    await sql`create function ${trigger}() returns trigger language plpgsql as $$
      begin raise exception 'boom'; end; $$`.execute(db);
    await sql`create trigger ${trigger} before insert on ${sql.table(table)}
      for each row execute function ${trigger}()`.execute(db);
    return;
  }
  await sql`create trigger ${trigger} before insert on ${sql.table(table)}
    begin select raise(abort, 'boom'); end`.execute(db);
}

export async function allowInserts(db: Db, dialect: SqlDialect, table: string): Promise<void> {
  const trigger = sql.raw(`fail_${table}`);
  if (dialect === "postgres") {
    await sql`drop trigger ${trigger} on ${sql.table(table)}`.execute(db);
    await sql`drop function ${trigger}()`.execute(db);
    return;
  }
  await sql`drop trigger ${trigger}`.execute(db);
}
