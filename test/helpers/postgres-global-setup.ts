import pg from "pg";
import { TEST_SCHEMA_PREFIX } from "./test-database.js";

/**
 * Runs once around the PostgreSQL project: refuses to go on without the database (a skipped
 * database is not a pass), and drops the schemas test files made, before and after the run.
 */
export default async function setup(): Promise<() => Promise<void>> {
  const url = process.env.TEST_DATABASE_URL;
  if (!url) throw new Error("the postgres project needs TEST_DATABASE_URL");
  await dropTestSchemas(url);
  return () => dropTestSchemas(url);
}

async function dropTestSchemas(url: string): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  try {
    await client.connect();
  } catch (error) {
    throw new Error(`cannot connect to TEST_DATABASE_URL: ${(error as Error).message}`);
  }
  try {
    const { rows } = await client.query<{ nspname: string }>(
      "select nspname from pg_namespace where starts_with(nspname, $1)",
      [TEST_SCHEMA_PREFIX],
    );
    for (const { nspname } of rows) await client.query(`drop schema "${nspname}" cascade`);
  } finally {
    await client.end();
  }
}
