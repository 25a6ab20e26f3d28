import type { RootOperationNode } from "kysely";
import { describe, expect, it } from "vitest";
import { openDatabase, type DatabaseHandle } from "../src/db/database.js";
import { migrateToLatest } from "../src/db/migrate.js";
import type { Executor } from "../src/db/schema.js";
import { claimCloudApiMessages, findMessageByProviderId } from "../src/messages/message-repository.js";
import { TEST_DIALECT } from "./helpers/test-database.js";

/**
 * The Cloud API pump's claim runs every WORKER_POLL_MS. Through the index of provider ids it read
 * every message that has none, every sandbox message ever sent among them. SQLite's plans say
 * which index a statement goes through.
 */
describe.runIf(TEST_DIALECT === "sqlite")("the indexes of messages", () => {
  /** SQLite's plan for the last statement `run` sends of the given kind. */
  async function planOf(database: DatabaseHandle, kind: RootOperationNode["kind"], run: (db: Executor) => Promise<unknown>): Promise<string> {
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

  it("let the pump's claim read the queued messages alone, and the callbacks find a message by its provider id", async () => {
    const database = await openDatabase({ dialect: "sqlite", path: ":memory:" });
    try {
      await migrateToLatest(database);
      const now = new Date().toISOString();
      const claim = await planOf(database, "UpdateQueryNode", (db) => claimCloudApiMessages(db, now, now, 20));
      expect(claim).not.toContain("messages_provider_id_idx");
      expect(claim).toContain("SEARCH m USING INDEX messages_status_updated_idx (status=?)");
      const callback = await planOf(database, "SelectQueryNode", (db) => findMessageByProviderId(db, "wamid.HBgL"));
      expect(callback).toContain("messages_provider_id_idx (provider_message_id=?)");
    } finally {
      await database.db.destroy();
    }
  });
});
