import type { RootOperationNode } from "kysely";
import { expect } from "vitest";
import type { DatabaseHandle } from "../../src/db/database.js";
import type { Db } from "../../src/db/schema.js";

/**
 * SQLite's plan (`explain query plan`, its lines joined by " | ") for the last statement of the
 * given kind that `run` sends through the database it is given (a write opens its transaction on
 * it): which index each table is read by, and whether anything is sorted (`TEMP B-TREE`).
 */
export async function sqlitePlanOf(
  database: DatabaseHandle,
  kind: RootOperationNode["kind"],
  run: (db: Db) => Promise<unknown>,
): Promise<string> {
  const statements: RootOperationNode[] = [];
  const spied = database.db.withPlugin({
    transformQuery: ({ node }) => {
      statements.push(node);
      return node;
    },
    transformResult: async ({ result }) => result,
  });
  await run(spied);
  const node = statements.findLast((statement) => statement.kind === kind);
  expect(node, `no ${kind} was sent`).toBeDefined();
  const compiled = database.db.getExecutor().compileQuery(node!, { queryId: "plan" } as never);
  const { rows } = await database.db.executeQuery<{ detail: string }>({ ...compiled, sql: `explain query plan ${compiled.sql}` });
  return rows.map((row) => row.detail).join(" | ");
}
