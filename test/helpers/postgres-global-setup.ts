import pg from "pg";
import { TEST_SCHEMA_PREFIX, testSchemaOwner } from "./test-database.js";

/**
 * Runs once around the PostgreSQL project: refuses to go on without the database (a skipped
 * database is not a pass), and drops the schemas test files made, before and after the run.
 *
 * Several runs may share the database (two checkouts, a run started while another is going), so
 * only schemas whose owning test process is gone are dropped: each schema's name carries the pid
 * of the worker that made it. At the end, this run's own schemas go too (with a thread pool the
 * workers share this process's pid).
 */
export default async function setup(): Promise<() => Promise<void>> {
  const url = process.env.TEST_DATABASE_URL;
  if (!url) throw new Error("the postgres project needs TEST_DATABASE_URL");
  await dropTestSchemas(url, (pid) => !isAlive(pid));
  return () => dropTestSchemas(url, (pid) => pid === process.pid || !isAlive(pid));
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it exists, it is just not ours to signal.
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

async function dropTestSchemas(url: string, droppable: (pid: number) => boolean): Promise<void> {
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
    for (const { nspname } of rows) {
      const owner = testSchemaOwner(nspname);
      if (owner === null || droppable(owner)) await client.query(`drop schema if exists "${nspname}" cascade`);
    }
  } finally {
    await client.end();
  }
}
