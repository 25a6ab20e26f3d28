import { randomBytes } from "node:crypto";
import pg from "pg";
import { TEST_SCHEMA_PREFIX } from "../test/helpers/test-database.js";

/**
 * A new schema name for one bench run, `wt_<pid>_<hex>`: the test suite's pattern, so that should
 * the bench die before dropping its schema, the PostgreSQL tests' global setup drops it as a
 * schema whose owner is gone (test/helpers/postgres-global-setup.ts), and leaves it alone while
 * the bench runs.
 */
export function benchSchemaName(): string {
  return `${TEST_SCHEMA_PREFIX}${process.pid}_${randomBytes(6).toString("hex")}`;
}

/** Drops a bench's schema and all it holds, once nothing uses it any more. */
export async function dropPostgresSchema(url: string, schema: string): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(`drop schema if exists ${client.escapeIdentifier(schema)} cascade`);
  } finally {
    await client.end();
  }
}
