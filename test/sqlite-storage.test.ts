import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import SqliteDatabase from "better-sqlite3";
import { Kysely, sql } from "kysely";
import { afterAll, describe, expect, it } from "vitest";
import { openDatabase } from "../src/db/database.js";
import { startCheckpointer } from "../src/db/sqlite-checkpointer.js";
import { CachingSqliteDialect } from "../src/db/sqlite-driver.js";
import { TEST_DIALECT } from "./helpers/test-database.js";

/**
 * Issue 12, writes on SQLite: the driver under Kysely prepares each statement once and hands its
 * one connection to waiters in turn; the write-ahead log is copied back by a thread of its own.
 */

const folder = mkdtempSync(join(tmpdir(), "whatisup-sqlite-"));
afterAll(() => rmSync(folder, { recursive: true, force: true }));

type Scratch = { items: { id: number; note: string } };

function scratchDatabase(name: string): { db: Kysely<Scratch>; prepared: string[] } {
  const sqlite = new SqliteDatabase(join(folder, name));
  const prepared: string[] = [];
  const prepare = sqlite.prepare.bind(sqlite);
  sqlite.prepare = ((text: string) => {
    prepared.push(text);
    return prepare(text);
  }) as typeof sqlite.prepare;
  return { db: new Kysely<Scratch>({ dialect: new CachingSqliteDialect(sqlite, null) }), prepared };
}

// SQLite's alone: the postgres project has nothing of its own to add here.
describe.runIf(TEST_DIALECT === "sqlite")("the SQLite driver", () => {
  it("prepares each statement once, however often it runs, in or out of a transaction", async () => {
    const { db, prepared } = scratchDatabase("prepared.db");
    await sql`create table items (id integer primary key, note text not null)`.execute(db);
    for (let id = 1; id <= 20; id += 1) {
      await db.transaction().execute((tx) => tx.insertInto("items").values({ id, note: `note ${id}` }).execute());
      await db.selectFrom("items").select("note").where("id", "=", id).execute();
    }
    expect(await db.selectFrom("items").select((eb) => eb.fn.countAll<number>().as("n")).executeTakeFirst()).toEqual({ n: 20 });
    const counts = new Map<string, number>();
    for (const text of prepared) counts.set(text, (counts.get(text) ?? 0) + 1);
    expect([...counts.values()].every((count) => count === 1), JSON.stringify([...counts])).toBe(true);
    expect([...counts.keys()]).toEqual(
      expect.arrayContaining(["begin", "commit", 'insert into "items" ("id", "note") values (?, ?)']),
    );
    await db.destroy();
  });

  it("gives the connection to transactions in the order they asked for it, one at a time, and goes on after a rollback", async () => {
    const { db } = scratchDatabase("order.db");
    await sql`create table items (id integer primary key, note text not null)`.execute(db);
    const began: number[] = [];
    let inside = 0;
    let mostInside = 0;
    const writes = Array.from({ length: 30 }, (_, index) =>
      db
        .transaction()
        .execute(async (tx) => {
          began.push(index);
          inside += 1;
          mostInside = Math.max(mostInside, inside);
          await tx.insertInto("items").values({ id: index, note: "first" }).execute();
          // Give every other waiter the chance to barge in between two statements.
          await new Promise((resolve) => setImmediate(resolve));
          await tx.updateTable("items").set({ note: "second" }).where("id", "=", index).execute();
          inside -= 1;
          if (index % 3 === 0) throw new Error("rolled back on purpose");
        })
        .then(
          () => "committed",
          () => "rolled back",
        ),
    );
    const outcomes = await Promise.all(writes);
    expect(began).toEqual(Array.from({ length: 30 }, (_, index) => index));
    expect(mostInside).toBe(1);
    expect(outcomes.filter((outcome) => outcome === "rolled back")).toHaveLength(10);
    const rows = await db.selectFrom("items").select(["id", "note"]).orderBy("id").execute();
    expect(rows.map((row) => row.id)).toEqual(Array.from({ length: 30 }, (_, index) => index).filter((index) => index % 3 !== 0));
    expect(new Set(rows.map((row) => row.note))).toEqual(new Set(["second"]));
    await db.destroy();
  });
});

describe.runIf(TEST_DIALECT === "sqlite")("checkpoints of the write-ahead log", () => {
  const walBytes = (path: string) => statSync(`${path}-wal`).size;

  /** Writes `megabytes` MiB, one at a time, and answers the largest the log grew. */
  async function writeMegabytes(db: Kysely<Scratch>, path: string, megabytes: number, pauseMs: number): Promise<number> {
    await sql`create table if not exists items (id integer primary key, note text not null)`.execute(db);
    let largest = 0;
    for (let round = 0; round < megabytes; round += 1) {
      await db
        .insertInto("items")
        .values(Array.from({ length: 16 }, () => ({ id: null as unknown as number, note: "x".repeat(64 * 1024) })))
        .execute();
      await new Promise((resolve) => setTimeout(resolve, pauseMs));
      largest = Math.max(largest, walBytes(path));
    }
    return largest;
  }

  it("are made by the server's thread, so that the log stays small though its connection never checkpoints", async () => {
    const path = join(folder, "background.db");
    const { db } = await openDatabase({ dialect: "sqlite", path }, { checkpointInBackground: true });
    expect(await sql<{ wal_autocheckpoint: number }>`pragma wal_autocheckpoint`.execute(db)).toMatchObject({
      rows: [{ wal_autocheckpoint: 0 }],
    });
    const largest = await writeMegabytes(db as unknown as Kysely<Scratch>, path, 24, 60);
    // 24 MiB went through the log; copied back as it came, the log never held more than a few.
    expect(largest).toBeLessThan(8 * 1024 * 1024);
    await db.destroy();
  });

  it("would otherwise let the log grow with every write: the same writes without the thread", async () => {
    const path = join(folder, "unchecked.db");
    const sqlite = new SqliteDatabase(path);
    sqlite.pragma("journal_mode = WAL");
    sqlite.pragma("wal_autocheckpoint = 0");
    const db = new Kysely<Scratch>({ dialect: new CachingSqliteDialect(sqlite, null) });
    expect(await writeMegabytes(db, path, 24, 0)).toBeGreaterThan(20 * 1024 * 1024);
    await db.destroy();
  });

  it("tell the caller when the thread ends on its own, so that its connection can checkpoint again", async () => {
    let lost = false;
    const checkpointer = startCheckpointer(join(folder, "no such folder", "x.db"), () => {
      lost = true;
    });
    await expect.poll(() => lost, { timeout: 5_000 }).toBe(true);
    await checkpointer.stop();
  });
});
