import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, dirname, join } from "node:path";
import { sql } from "kysely";
import pg from "pg";
import type { DatabaseConfig } from "../../src/config.js";
import { IN_MEMORY_SQLITE } from "../../src/config.js";
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

/** `wt_<pid>_<random>`: the pid of the test process that made it (see postgres-global-setup.ts). */
function newSchemaName(): string {
  return `${TEST_SCHEMA_PREFIX}${process.pid}_${randomBytes(6).toString("hex")}`;
}

/** The pid in a test schema's name, or null for a name this suite did not make. */
export function testSchemaOwner(schema: string): number | null {
  const match = new RegExp(`^${TEST_SCHEMA_PREFIX}(\\d+)_[0-9a-f]+$`).exec(schema);
  return match ? Number(match[1]) : null;
}

/** The folders `persistentDatabase` makes for SQLite files start with this. */
const TEMPORARY_FOLDER_PREFIX = "whatisup-test-";

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
  return { dialect: "sqlite", path: join(mkdtempSync(join(tmpdir(), TEMPORARY_FOLDER_PREFIX)), "whatisup.db") };
}

/**
 * Removes a database made by `persistentDatabase` once no app or process uses it any more: its
 * temporary folder, or its schema. (The postgres project's global teardown drops any schema
 * left behind anyway.)
 */
export async function removeDatabase(config: DatabaseConfig): Promise<void> {
  if (config.dialect === "sqlite") {
    const folder = dirname(config.path);
    if (basename(folder).startsWith(TEMPORARY_FOLDER_PREFIX)) rmSync(folder, { recursive: true, force: true });
    return;
  }
  if (config.schema === null || testSchemaOwner(config.schema) === null) return;
  const client = new pg.Client({ connectionString: config.url });
  await client.connect();
  try {
    await client.query(`drop schema if exists "${config.schema}" cascade`);
  } finally {
    await client.end();
  }
}

/** The environment a server or CLI process needs to open the same database. */
export function databaseEnv(config: DatabaseConfig): Record<string, string> {
  if (config.dialect === "sqlite") return { DATABASE_URL: `sqlite:${config.path}` };
  return { DATABASE_URL: config.url, ...(config.schema ? { DATABASE_SCHEMA: config.schema } : {}) };
}

type Write = "insert" | "update";

/**
 * Makes every INSERT (or UPDATE) on `table` fail inside the database, with the error "boom", to
 * prove that a change and its audit (or outbox) rows commit together or not at all, or that a
 * failed write is handled. Undo it with `allowInserts` (or `allowWrites`).
 */
export async function failInserts(db: Db, dialect: SqlDialect, table: string): Promise<void> {
  await failWrites(db, dialect, table, "insert");
}

export async function allowInserts(db: Db, dialect: SqlDialect, table: string): Promise<void> {
  await allowWrites(db, dialect, table, "insert");
}

export async function failWrites(db: Db, dialect: SqlDialect, table: string, write: Write): Promise<void> {
  const trigger = sql.raw(`fail_${write}_${table}`);
  const event = sql.raw(write);
  if (dialect === "postgres") {
    await sql`create function ${trigger}() returns trigger language plpgsql as $$
      begin raise exception 'boom'; end; $$`.execute(db);
    await sql`create trigger ${trigger} before ${event} on ${sql.table(table)}
      for each row execute function ${trigger}()`.execute(db);
    return;
  }
  await sql`create trigger ${trigger} before ${event} on ${sql.table(table)}
    begin select raise(abort, 'boom'); end`.execute(db);
}

export async function allowWrites(db: Db, dialect: SqlDialect, table: string, write: Write): Promise<void> {
  const trigger = sql.raw(`fail_${write}_${table}`);
  if (dialect === "postgres") {
    await sql`drop trigger ${trigger} on ${sql.table(table)}`.execute(db);
    await sql`drop function ${trigger}()`.execute(db);
    return;
  }
  await sql`drop trigger ${trigger}`.execute(db);
}

/** The names of the tables of the database (on PostgreSQL: of the schema in use). */
export async function tableNames(db: Db, dialect: SqlDialect): Promise<string[]> {
  const query =
    dialect === "postgres"
      ? sql<{ name: string }>`select table_name as name from information_schema.tables
          where table_schema = current_schema() and table_type = 'BASE TABLE' order by table_name`
      : sql<{ name: string }>`select name from sqlite_master where type = 'table' order by name`;
  return (await query.execute(db)).rows.map((row) => row.name);
}

/**
 * How many rows each of `tables` holds, in one query; only the rows of `customerId` when it is
 * given. The same counts before and after a refused request prove that it wrote nothing.
 */
export async function rowCounts(db: Db, tables: readonly string[], customerId?: string): Promise<Record<string, number>> {
  const selections = tables.map((table) => {
    const scope = customerId === undefined ? sql`` : sql` where customer_id = ${customerId}`;
    return sql`(select count(*) from ${sql.table(table)}${scope})`.as(table);
  });
  const row = (await sql<Record<string, number | string>>`select ${sql.join(selections)}`.execute(db)).rows[0]!;
  return Object.fromEntries(tables.map((table) => [table, Number(row[table])]));
}
