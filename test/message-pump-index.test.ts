import { Migrator, sql, type Migration } from "kysely";
import { describe, expect, it } from "vitest";
import { openDatabase } from "../src/db/database.js";
import { MIGRATION_NAMES, migrateToLatest } from "../src/db/migrate.js";
import * as initialSchema from "../src/db/migrations/20261126130000_initial_schema.js";
import * as messagesAndWebhooks from "../src/db/migrations/20261126140000_messages_and_webhooks.js";
import * as keyCounts from "../src/db/migrations/20261201170000_key_counts.js";
import * as sentMessagesIndex from "../src/db/migrations/20261201180000_sent_messages_index.js";
import { claimCloudApiMessages, dueSandboxMessages, findMessageByProviderId } from "../src/messages/message-repository.js";
import { sqlitePlanOf } from "./helpers/sqlite-plan.js";
import { TEST_DIALECT } from "./helpers/test-database.js";

/**
 * The Cloud API pump's claim runs every WORKER_POLL_MS. Through the index of provider ids it read
 * every message that has none, every sandbox message ever sent among them; through the index of
 * statuses, every queued sandbox message. SQLite's plans say which index a statement goes through.
 */
describe.runIf(TEST_DIALECT === "sqlite")("the indexes of messages", () => {
  it("let the pump's claim read the queued messages of cloud_api instances alone, the sandbox's clock walk the messages it moves in order, and the callbacks find a message by its provider id", async () => {
    const database = await openDatabase({ dialect: "sqlite", path: ":memory:" });
    try {
      await migrateToLatest(database);
      const now = new Date().toISOString();
      const claim = await sqlitePlanOf(database, "UpdateQueryNode", (db) => claimCloudApiMessages(db, now, now, 20));
      expect(claim).not.toContain("messages_provider_id_idx");
      // Through the cloud_api messages' own index, in the order it claims them: no sandbox
      // message is read, and nothing is sorted.
      expect(claim).toContain("SCAN m USING INDEX messages_cloud_api_unsent_idx");
      expect(claim).not.toContain("TEMP B-TREE");
      // The UPDATE itself finds the rows it claims by their ids.
      expect(claim).toContain("SEARCH messages USING INDEX sqlite_autoindex_messages_1 (id=?)");
      const sandboxClock = await sqlitePlanOf(database, "SelectQueryNode", (db) => dueSandboxMessages(db, now, 100));
      expect(sandboxClock).toContain("SEARCH m USING INDEX messages_sandbox_moving_idx (updated_at<?)");
      expect(sandboxClock).not.toContain("TEMP B-TREE");
      const callback = await sqlitePlanOf(database, "SelectQueryNode", (db) => findMessageByProviderId(db, "wamid.HBgL"));
      expect(callback).toContain("messages_provider_id_idx (provider_message_id=?)");
    } finally {
      await database.db.destroy();
    }
  });
  it("gives the messages already stored their instance's transport when it adds the column", async () => {
    const database = await openDatabase({ dialect: "sqlite", path: ":memory:" });
    try {
      // The schema as it stood before the column: the four migrations before it, run by hand.
      const before: Record<string, Migration> = {
        "20261126130000_initial_schema": { up: (db) => initialSchema.up(db, "sqlite") },
        "20261126140000_messages_and_webhooks": { up: (db) => messagesAndWebhooks.up(db, "sqlite") },
        "20261201170000_key_counts": { up: (db) => keyCounts.up(db) },
        "20261201180000_sent_messages_index": { up: (db) => sentMessagesIndex.up(db) },
      };
      expect(MIGRATION_NAMES.slice(0, 4)).toEqual(Object.keys(before));
      const migrated = await new Migrator({ db: database.db, provider: { getMigrations: async () => before } }).migrateToLatest();
      expect(migrated.error).toBeUndefined();
      const at = "2026-12-06T00:00:00.000Z";
      await sql`insert into customers (id, name, created_at) values ('c', 'Acme', ${at})`.execute(database.db);
      for (const transport of ["sandbox", "cloud_api"]) {
        await sql`insert into instances (id, customer_id, name, status, transport, created_at, updated_at)
          values (${transport}, 'c', ${transport}, 'connected', ${transport}, ${at}, ${at})`.execute(database.db);
        await sql`insert into messages (id, customer_id, instance_id, "to", type, text, status, created_at, updated_at)
          values (${`m-${transport}`}, 'c', ${transport}, '+15551234567', 'text', 'hi', 'queued', ${at}, ${at})`.execute(database.db);
      }
      expect((await migrateToLatest(database))[0]).toBe("20261206020000_message_transport");
      const rows = await sql<{ id: string; transport: string }>`select id, transport from messages order by id`.execute(database.db);
      expect(rows.rows).toEqual([
        { id: "m-cloud_api", transport: "cloud_api" },
        { id: "m-sandbox", transport: "sandbox" },
      ]);
    } finally {
      await database.db.destroy();
    }
  });
});
