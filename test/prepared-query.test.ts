import { sql } from "kysely";
import { afterEach, describe, expect, it } from "vitest";
import { findCredentialByDigest } from "../src/api-keys/api-key-repository.js";
import { openDatabase, type DatabaseHandle } from "../src/db/database.js";
import { writeJson } from "../src/db/json.js";
import { migrateToLatest } from "../src/db/migrate.js";
import { preparedInsert, preparedQuery, preparedStatementName, valuesStatement } from "../src/db/prepared-query.js";
import { freshDatabase, removeDatabase, TEST_DIALECT } from "./helpers/test-database.js";

/**
 * Issue 12: the statements on the write paths are built and compiled once per database and run
 * with new values (on PostgreSQL, as named statements each connection parses once).
 */

let database: DatabaseHandle | undefined;
const config = freshDatabase();
afterEach(async () => {
  await database?.db.destroy();
  await removeDatabase(config);
});

async function open(): Promise<DatabaseHandle> {
  database = await openDatabase(config);
  await migrateToLatest(database);
  return database;
}

let builds = 0;
const customersNamed = preparedQuery<"name" | "after", { id: string; name: string }>((db, value) => {
  builds += 1;
  return db
    .selectFrom("customers")
    .select(["id", "name"])
    .where("name", "=", value("name"))
    .where("created_at", ">", value("after"))
    // A value given when the query is built, not a parameter: it stays as it was.
    .where("id", "<>", "00000000-0000-0000-0000-000000000000")
    .orderBy("id");
});

const insertCustomer = preparedQuery<"id" | "name" | "created_at", unknown>((db, value) =>
  db.insertInto("customers").values({ id: value("id"), name: value("name"), created_at: value("created_at") }),
);

describe("preparedQuery", () => {
  it("builds once per database, binds each run's values by name, and keeps the values fixed at build", async () => {
    const { db } = await open();
    builds = 0;
    const ids = ["01a20000-0000-7000-8000-000000000001", "01a20000-0000-7000-8000-000000000002", "01a20000-0000-7000-8000-000000000003"];
    await insertCustomer(db, { id: ids[0], name: "Acme", created_at: "2026-01-01T00:00:00.000Z" });
    await db.transaction().execute(async (tx) => {
      await insertCustomer(tx, { id: ids[1], name: "Acme", created_at: "2026-06-01T00:00:00.000Z" });
      await insertCustomer(tx, { id: ids[2], name: "Globex", created_at: "2026-06-01T00:00:00.000Z" });
    });
    expect((await customersNamed(db, { name: "Acme", after: "2025-12-31T00:00:00.000Z" })).rows.map((row) => row.id)).toEqual(ids.slice(0, 2));
    expect((await customersNamed(db, { name: "Acme", after: "2026-02-01T00:00:00.000Z" })).rows.map((row) => row.id)).toEqual([ids[1]]);
    await db.transaction().execute(async (tx) => {
      expect((await customersNamed(tx, { name: "Globex", after: "2025-01-01T00:00:00.000Z" })).rows.map((row) => row.name)).toEqual(["Globex"]);
    });
    // One build for the database and its transactions alike.
    expect(builds).toBe(1);
  });

  it("refuses a run that leaves a parameter without a value, where Kysely would drop the column", async () => {
    const { db } = await open();
    await expect(insertCustomer(db, { id: "01a20000-0000-7000-8000-000000000009", name: "Acme" } as never)).rejects.toThrow(
      "no value for the query parameter created_at",
    );
    expect(await db.selectFrom("customers").selectAll().execute()).toEqual([]);
  });

  it("inserts whole rows with the columns of the first, and refuses a row with other columns", async () => {
    const { db } = await open();
    const insertRow = preparedInsert("customers");
    await insertRow(db, { id: "01a20000-0000-7000-8000-000000000011", name: "Acme", created_at: "2026-01-01T00:00:00.000Z", unrevoked_keys: 0 });
    await insertRow(db, { created_at: "2026-01-02T00:00:00.000Z", unrevoked_keys: 3, name: "Globex", id: "01a20000-0000-7000-8000-000000000012" });
    const extra = { id: "01a20000-0000-7000-8000-000000000013", name: "Initech", created_at: "2026-01-03T00:00:00.000Z", unrevoked_keys: 0, deleted: true };
    await expect(insertRow(db, extra)).rejects.toThrow("a row of customers with other columns than the first one inserted");
    const rows = await db.selectFrom("customers").select(["name", "unrevoked_keys"]).orderBy("id").execute();
    expect(rows.map((row) => [row.name, Number(row.unrevoked_keys)])).toEqual([
      ["Acme", 0],
      ["Globex", 3],
    ]);
  });

  it.runIf(TEST_DIALECT === "postgres")("runs as a named statement on PostgreSQL, parsed once by the connection", async () => {
    const { db } = await open();
    await db.connection().execute(async (connection) => {
      for (let run = 0; run < 3; run += 1) await customersNamed(connection, { name: "Acme", after: "2026-01-01T00:00:00.000Z" });
      const { rows } = await sql<{ name: string }>`select name from pg_prepared_statements`.execute(connection);
      const compiled = customersNamedSql();
      expect(preparedStatementName(compiled)).toMatch(/^whatisup_\d+$/);
      expect(rows.map((row) => row.name)).toContain(preparedStatementName(compiled));
    });
  });

  it("prepares the digest lookup of authentication: on PostgreSQL a named statement, parsed once", async () => {
    const { db } = await open();
    const customerId = "01a20000-0000-7000-8000-000000000021";
    const keyId = "01a20000-0000-7000-8000-000000000022";
    await db.insertInto("customers").values({ id: customerId, name: "Acme", created_at: "2026-01-01T00:00:00.000Z" }).execute();
    await db
      .insertInto("api_keys")
      .values({
        id: keyId,
        customer_id: customerId,
        instance_id: null,
        name: "ci",
        prefix: "wiu_test_abc",
        digest: "digest-of-the-key",
        scopes: writeJson(["messages:send"]),
        expires_at: null,
        created_at: "2026-01-01T00:00:00.000Z",
        revoked_at: null,
      })
      .execute();
    await db.connection().execute(async (connection) => {
      for (let run = 0; run < 3; run += 1) {
        expect(await findCredentialByDigest(connection, "digest-of-the-key")).toEqual({
          id: keyId,
          customer_id: customerId,
          instance_id: null,
          prefix: "wiu_test_abc",
          mode: "live",
          scopes: ["messages:send"],
          allowed_ips: null,
          expires_at: null,
          revoked_at: null,
        });
      }
      expect(await findCredentialByDigest(connection, "no-such-digest")).toBeUndefined();
      if (TEST_DIALECT !== "postgres") return;
      const { rows } = await sql<{ name: string; plans: number | string }>`
        select name, generic_plans + custom_plans as plans from pg_prepared_statements
        where statement like '%from "api_keys" where "digest" = $1%'`.execute(connection);
      // One statement, named by the registry, parsed once and run all four times.
      expect(rows.map((row) => [row.name, Number(row.plans)])).toEqual([[expect.stringMatching(/^whatisup_\d+$/), 4]]);
    });
  });

  it("writes many rows of values, its text made once per dialect and number of rows, and refuses a partial row", async () => {
    const { db } = await open();
    const lists: string[] = [];
    const insertCustomers = valuesStatement(3, (values) => {
      lists.push(values);
      return `insert into customers (id, name, created_at) values ${values}`;
    });
    // Values that would break SQL pasted into it: they are parameters, and stored as they are.
    const names = ["O'Brien'); drop table customers; --", 'back\\slash "quoted" $1 ?', "emoji 🦄 and ümlaut"];
    const ids = ["01a20000-0000-7000-8000-000000000031", "01a20000-0000-7000-8000-000000000032", "01a20000-0000-7000-8000-000000000033"];
    await insertCustomers(db, [ids[0], names[0], "2026-01-01T00:00:00.000Z", ids[1], names[1], "2026-01-02T00:00:00.000Z"]);
    await db.transaction().execute(async (tx) => {
      await insertCustomers(tx, [ids[2], names[2], "2026-01-03T00:00:00.000Z"]);
    });
    const later = ["01a20000-0000-7000-8000-000000000034", "01a20000-0000-7000-8000-000000000035"];
    await insertCustomers(db, [later[0], "again", "2026-01-04T00:00:00.000Z", later[1], "again", "2026-01-05T00:00:00.000Z"]);
    // Two shapes (two rows, then one), each made once, with the dialect's placeholders.
    expect(lists).toEqual(
      TEST_DIALECT === "postgres" ? ["($1, $2, $3), ($4, $5, $6)", "($1, $2, $3)"] : ["(?, ?, ?), (?, ?, ?)", "(?, ?, ?)"],
    );
    const rows = await db.selectFrom("customers").select(["id", "name", "created_at"]).orderBy("id").execute();
    expect(rows).toEqual([
      ...ids.map((id, index) => ({ id, name: names[index], created_at: `2026-01-0${index + 1}T00:00:00.000Z` })),
      { id: later[0], name: "again", created_at: "2026-01-04T00:00:00.000Z" },
      { id: later[1], name: "again", created_at: "2026-01-05T00:00:00.000Z" },
    ]);

    expect(() => insertCustomers(db, [ids[0], "a row and a half", "2026-01-06T00:00:00.000Z", ids[1]])).toThrow("4 values cannot be rows of 3");
    expect(() => insertCustomers(db, [])).toThrow("0 values cannot be rows of 3");
    expect(await db.selectFrom("customers").select("id").execute()).toHaveLength(5);
  });
});

/** The SQL that customersNamed compiled to, as the statement registry knows it. */
function customersNamedSql(): string {
  return database!.db
    .selectFrom("customers")
    .select(["id", "name"])
    .where("name", "=", "\u0000parameter:name")
    .where("created_at", ">", "\u0000parameter:after")
    .where("id", "<>", "00000000-0000-0000-0000-000000000000")
    .orderBy("id")
    .compile().sql;
}
