import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import SqliteDatabase from "better-sqlite3";
import { Kysely, PostgresDialect } from "kysely";
import pg from "pg";
import { IN_MEMORY_SQLITE, type DatabaseConfig } from "../config.js";
import type { SqlDialect } from "./dialect.js";
import { reconnectingPool } from "./reconnecting-pool.js";
import { startCheckpointer, type Checkpointer } from "./sqlite-checkpointer.js";
import { CachingSqliteDialect } from "./sqlite-driver.js";
import type { Database, Db } from "./schema.js";

export type DatabaseHandle = {
  db: Db;
  dialect: SqlDialect;
  /** The PostgreSQL schema in use when one is configured; migrations keep their tables there. */
  schema: string | null;
};


/** SQLite's own default: how long the log may grow before a commit copies it back. */
const AUTOCHECKPOINT_PAGES = 1_000;
const LOG_SIZE_LIMIT_BYTES = 64 * 1024 * 1024;

export type OpenOptions = {
  /**
   * SQLite only: copy the write-ahead log back into the database from a thread of its own rather
   * than inside commits on the event loop (the server; a CLI command writes too little to care).
   */
  checkpointInBackground?: boolean;
};

export async function openDatabase(config: DatabaseConfig, options: OpenOptions = {}): Promise<DatabaseHandle> {
  if (config.dialect === "postgres") return openPostgres(config);
  if (config.path !== IN_MEMORY_SQLITE) mkdirSync(dirname(config.path), { recursive: true });
  const sqlite = new SqliteDatabase(config.path);
  // WAL lets the CLI write while the server reads and writes; the busy timeout makes either wait
  // for the other's short transactions instead of failing with SQLITE_BUSY.
  sqlite.pragma("journal_mode = WAL");
  sqlite.pragma("busy_timeout = 5000");
  sqlite.pragma("synchronous = NORMAL");
  sqlite.pragma("foreign_keys = ON");
  // Each write is a savepoint of its group (sqlite-driver.ts), and SQLite journals every page a
  // savepoint changes so that the write can roll back alone. Past 64 KiB that journal moved to a
  // temporary file, as most groups' did under load: 12 of the 19 writes a key's issue made went to
  // such a file (docs/performance.md, ninth part). In memory it costs a copy of each page.
  sqlite.pragma("temp_store = MEMORY");
  // A log that grew under a burst of writes is cut back to this when it starts over, so the disk
  // space comes back.
  sqlite.pragma(`journal_size_limit = ${LOG_SIZE_LIMIT_BYTES}`);
  let checkpointer: Checkpointer | null = null;
  if (options.checkpointInBackground === true && config.path !== IN_MEMORY_SQLITE) {
    sqlite.pragma("wal_autocheckpoint = 0");
    checkpointer = startCheckpointer(config.path, () => {
      if (sqlite.open) sqlite.pragma(`wal_autocheckpoint = ${AUTOCHECKPOINT_PAGES}`);
    });
  }
  // Reads outside a write see what has been committed, from a connection of their own (see
  // sqlite-driver.ts); an in-memory database has no second connection to it.
  let reader: SqliteDatabase.Database | null = null;
  if (config.path !== IN_MEMORY_SQLITE) {
    reader = new SqliteDatabase(config.path, { readonly: true });
    reader.pragma("busy_timeout = 5000");
  }
  return {
    db: new Kysely<Database>({ dialect: new CachingSqliteDialect(sqlite, { reader, checkpointer }) }),
    dialect: "sqlite",
    schema: null,
  };
}

const TIMESTAMPTZ_OID = 1184;
const parsePgTimestamp = pg.types.getTypeParser(TIMESTAMPTZ_OID) as (text: string) => Date;

/**
 * Timestamps come back as the same ISO 8601 text (UTC, milliseconds, `Z`) that SQLite returns
 * and the application writes, so no repository knows which database it runs on.
 */
const pgTypes = {
  getTypeParser(oid: number, format?: "text" | "binary") {
    if (oid === TIMESTAMPTZ_OID) return (text: string) => parsePgTimestamp(text).toISOString();
    return pg.types.getTypeParser(oid, format);
  },
};

async function openPostgres(config: Extract<DatabaseConfig, { dialect: "postgres" }>): Promise<DatabaseHandle> {
  if (config.schema !== null) {
    const client = new pg.Client({ connectionString: config.url });
    await client.connect();
    try {
      await client.query(`create schema if not exists "${config.schema}"`);
    } catch (error) {
      // Nodes starting together race on "if not exists"; the loser is told the schema exists.
      const code = (error as { code?: string }).code;
      if (code !== "23505" && code !== "42P06") throw error;
    } finally {
      await client.end();
    }
  }
  const pool = new pg.Pool({
    connectionString: config.url,
    max: config.poolSize,
    types: pgTypes,
    application_name: "whatisup-api",
    ...(config.schema === null ? {} : { options: `-c search_path=${config.schema}` }),
  });
  // A connection the server closes (a restart, pg_terminate_backend) emits 'error': on the pool
  // while idle, on the client while checked out (pg-pool listens only to idle ones). The query in
  // flight fails on its own and the pool drops the broken client when it is released; an unheard
  // 'error' event would crash the process instead.
  pool.on("error", () => undefined);
  pool.on("connect", (client) => client.on("error", () => undefined));
  return {
    db: new Kysely<Database>({ dialect: new PostgresDialect({ pool: reconnectingPool(pool) }) }),
    dialect: "postgres",
    schema: config.schema,
  };
}
