import { sql } from "kysely";
import { describe, expect, it } from "vitest";
import { countActiveKeys, findApiKey, listActiveApiKeys, listActiveApiKeysPage, markRevoked } from "../src/api-keys/api-key-repository.js";
import { openDatabase } from "../src/db/database.js";
import { migrateToLatest } from "../src/db/migrate.js";
import { sqlitePlanOf } from "./helpers/sqlite-plan.js";
import { TEST_DIALECT } from "./helpers/test-database.js";

/**
 * Every index of api_keys is written by every issue (docs/performance.md, "Writes"), so each must
 * be read by something: the reads of a customer's keys go through the index of its unrevoked keys,
 * in their order, and a key is found by its id. SQLite's plans say which index a statement uses.
 */
describe.runIf(TEST_DIALECT === "sqlite")("the indexes of api_keys", () => {
  it("are the key's id, its digest, its instance, the unrevoked keys in order and the two expiry notices: nothing an issue writes for no reader", async () => {
    const database = await openDatabase({ dialect: "sqlite", path: ":memory:" });
    try {
      await migrateToLatest(database);
      const { rows } = await sql<{ name: string }>`select name from sqlite_master where type = 'index' and tbl_name = 'api_keys' order by name`.execute(
        database.db,
      );
      expect(rows.map((row) => row.name)).toEqual([
        "api_keys_expired_notice_idx",
        "api_keys_expiring_notice_idx",
        "api_keys_instance_idx",
        "api_keys_unrevoked_idx",
        "sqlite_autoindex_api_keys_1",
        "sqlite_autoindex_api_keys_2",
      ]);
    } finally {
      await database.db.destroy();
    }
  });

  it("let the list, its pages and the cap's count read the unrevoked keys' index in order, and find a key by its id", async () => {
    const database = await openDatabase({ dialect: "sqlite", path: ":memory:" });
    try {
      await migrateToLatest(database);
      const now = new Date().toISOString();
      const unrevokedInOrder = "SEARCH api_keys USING INDEX api_keys_unrevoked_idx (customer_id=?";
      const list = await sqlitePlanOf(database, "SelectQueryNode", (db) => listActiveApiKeys(db, "c", now));
      expect(list).toContain(unrevokedInOrder);
      expect(list).not.toContain("TEMP B-TREE");
      const firstPage = await sqlitePlanOf(database, "SelectQueryNode", (db) => listActiveApiKeysPage(db, "c", now, { limit: 100, after: null }));
      expect(firstPage).toContain(unrevokedInOrder);
      expect(firstPage).not.toContain("TEMP B-TREE");
      const laterPage = await sqlitePlanOf(database, "SelectQueryNode", (db) =>
        listActiveApiKeysPage(db, "c", now, { limit: 100, after: { created_at: now, id: "0193b7a0-0000-7000-8000-000000000000" } }),
      );
      expect(laterPage).toContain(unrevokedInOrder);
      expect(laterPage).not.toContain("TEMP B-TREE");
      const count = await sqlitePlanOf(database, "SelectQueryNode", (db) => countActiveKeys(db, "c", now, 1_001));
      expect(count).toContain(unrevokedInOrder);
      const one = await sqlitePlanOf(database, "SelectQueryNode", (db) => findApiKey(db, "c", "k"));
      expect(one).toContain("SEARCH api_keys USING INDEX sqlite_autoindex_api_keys_1 (id=?)");
      const byIds = await sqlitePlanOf(database, "UpdateQueryNode", (db) => db.transaction().execute((tx) => markRevoked(tx, "c", { ids: ["k"] }, now)));
      expect(byIds).toContain("SEARCH api_keys USING INDEX sqlite_autoindex_api_keys_1 (id=?)");
      const byInstance = await sqlitePlanOf(database, "UpdateQueryNode", (db) =>
        db.transaction().execute((tx) => markRevoked(tx, "c", { instanceId: "i" }, now)),
      );
      expect(byInstance).toContain("SEARCH api_keys USING INDEX api_keys_instance_idx (instance_id=?)");
    } finally {
      await database.db.destroy();
    }
  });
});
