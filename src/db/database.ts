import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import SqliteDatabase from "better-sqlite3";
import { Kysely, SqliteDialect } from "kysely";
import type { DatabaseConfig } from "../config.js";
import type { SqlDialect } from "./dialect.js";
import type { Database, Db } from "./schema.js";

export type DatabaseHandle = {
  db: Db;
  dialect: SqlDialect;
};

export const IN_MEMORY_SQLITE = ":memory:";

export function openDatabase(config: DatabaseConfig): DatabaseHandle {
  if (config.path !== IN_MEMORY_SQLITE) mkdirSync(dirname(config.path), { recursive: true });
  const sqlite = new SqliteDatabase(config.path);
  // WAL lets the CLI write while the server reads and writes; the busy timeout makes either wait
  // for the other's short transactions instead of failing with SQLITE_BUSY.
  sqlite.pragma("journal_mode = WAL");
  sqlite.pragma("busy_timeout = 5000");
  sqlite.pragma("synchronous = NORMAL");
  sqlite.pragma("foreign_keys = ON");
  return { db: new Kysely<Database>({ dialect: new SqliteDialect({ database: sqlite }) }), dialect: "sqlite" };
}
