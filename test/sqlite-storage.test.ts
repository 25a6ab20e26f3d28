import { mkdtempSync, readdirSync, readlinkSync, rmSync, statSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Worker } from "node:worker_threads";
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
  return { db: new Kysely<Scratch>({ dialect: new CachingSqliteDialect(sqlite) }), prepared };
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
      expect.arrayContaining(["begin immediate", "commit", 'insert into "items" ("id", "note") values (?, ?)']),
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

describe.runIf(TEST_DIALECT === "sqlite")("group commit on SQLite", () => {
  /** A scratch database, a count of its COMMITs, and a second connection that sees only what is committed. */
  async function groupedDatabase(name: string, options: { reader?: boolean } = {}) {
    const path = join(folder, name);
    const sqlite = new SqliteDatabase(path);
    sqlite.pragma("journal_mode = WAL");
    sqlite.pragma("foreign_keys = ON");
    const commits = { count: 0 };
    const prepare = sqlite.prepare.bind(sqlite);
    sqlite.prepare = ((text: string) => {
      const statement = prepare(text);
      if (text !== "commit") return statement;
      const run = statement.run.bind(statement);
      statement.run = ((...parameters: unknown[]) => {
        commits.count += 1;
        return run(...parameters);
      }) as typeof statement.run;
      return statement;
    }) as typeof sqlite.prepare;
    const reader = options.reader === true ? new SqliteDatabase(path, { readonly: true }) : null;
    const db = new Kysely<Scratch>({ dialect: new CachingSqliteDialect(sqlite, { reader }) });
    await sql`create table items (id integer primary key, note text not null)`.execute(db);
    const outside = new SqliteDatabase(path, { readonly: true });
    const committedIds = () => (outside.prepare("select id from items order by id").all() as Array<{ id: number }>).map((row) => row.id);
    return { db, commits, committedIds, close: async () => { outside.close(); await db.destroy(); } };
  }

  const insert = (db: Kysely<Scratch>, id: number) => db.transaction().execute((tx) => tx.insertInto("items").values({ id, note: "n" }).execute());

  it("commits the writes begun in one turn of the event loop together, and answers each only once its row is committed", async () => {
    const { db, commits, committedIds, close } = await groupedDatabase("group.db");
    const before = commits.count;
    const seenWhenAnswered: number[][] = [];
    await Promise.all(Array.from({ length: 20 }, (_, id) => insert(db, id).then(() => seenWhenAnswered.push(committedIds()))));
    expect(commits.count - before).toBe(1);
    expect(seenWhenAnswered).toHaveLength(20);
    for (const seen of seenWhenAnswered) expect(seen).toEqual(Array.from({ length: 20 }, (_, id) => id));
    await close();
  });

  it("rolls back a failing write alone: the rest of its group commits", async () => {
    const { db, commits, committedIds, close } = await groupedDatabase("group-rollback.db");
    const before = commits.count;
    const outcomes = await Promise.all(
      Array.from({ length: 12 }, (_, id) =>
        db
          .transaction()
          .execute(async (tx) => {
            await tx.insertInto("items").values({ id, note: "n" }).execute();
            if (id % 3 === 0) throw new Error("rolled back on purpose");
          })
          .then(() => "committed", (error: Error) => error.message),
      ),
    );
    expect(commits.count - before).toBe(1);
    expect(outcomes.filter((outcome) => outcome === "rolled back on purpose")).toHaveLength(4);
    expect(committedIds()).toEqual([1, 2, 4, 5, 7, 8, 10, 11]);
    await close();
  });

  it("sends a read outside a write to the reading connection: it sees the last commit, and the group goes on", async () => {
    const { db, commits, committedIds, close } = await groupedDatabase("group-reader.db", { reader: true });
    await insert(db, 1);
    const before = commits.count;
    const [, read] = await Promise.all([
      insert(db, 2),
      db.selectFrom("items").select("id").execute(),
      insert(db, 3),
    ]);
    // Row 2 was written before the read but not yet committed: the read sees row 1 alone.
    expect(read).toEqual([{ id: 1 }]);
    expect(commits.count - before).toBe(1);
    expect(committedIds()).toEqual([1, 2, 3]);
    await close();
  });

  it("without a reading connection, commits the open group before a query outside a write runs, so that nothing read can still be rolled back", async () => {
    const { db, commits, committedIds, close } = await groupedDatabase("group-read.db");
    const order: string[] = [];
    const write = insert(db, 1).then(() => order.push("write answered"));
    const read = db
      .selectFrom("items")
      .select("id")
      .execute()
      .then((rows) => {
        order.push("read answered");
        return { rows, committed: committedIds(), commits: commits.count };
      });
    const [, seen] = await Promise.all([write, read]);
    expect(seen.rows).toEqual([{ id: 1 }]);
    expect(seen.committed).toEqual([1]);
    expect(order).toEqual(["write answered", "read answered"]);
    await close();
  });

  it("lets a second connection of the same process write the same file while the first holds a group open", async () => {
    const { db, committedIds, close } = await groupedDatabase("group-two-connections.db");
    const second = new SqliteDatabase(join(folder, "group-two-connections.db"));
    // No busy wait at all: had the first group not been committed, the second write would fail at once.
    second.pragma("busy_timeout = 0");
    const other = new Kysely<Scratch>({ dialect: new CachingSqliteDialect(second) });
    const outcomes = await Promise.all([
      insert(db, 1).then(() => "committed", (error: { code?: string }) => error.code),
      insert(other, 2).then(() => "committed", (error: { code?: string }) => error.code),
      insert(db, 3).then(() => "committed", (error: { code?: string }) => error.code),
      other.selectFrom("items").select("id").execute().then((rows) => rows.length, (error: { code?: string }) => error.code),
    ]);
    // The connections take turns in the order asked: the read comes last, and sees all three.
    expect(outcomes).toEqual(["committed", "committed", "committed", 3]);
    expect(committedIds()).toEqual([1, 2, 3]);
    await other.destroy();
    await close();
  });

  /** What the checkpoint thread's RESTART does: holds the write lock for `ms`, from another thread. */
  async function holdWriteLock(name: string, ms: number): Promise<Worker> {
    const holder = new Worker(
      `const { parentPort, workerData } = require("node:worker_threads");
       const Database = require(workerData.driver);
       const database = new Database(workerData.path);
       database.exec("begin immediate");
       parentPort.postMessage("locked");
       setTimeout(() => { parentPort.postMessage("releasing"); database.exec("commit"); database.close(); }, workerData.ms);`,
      { eval: true, workerData: { path: join(folder, name), ms, driver: createRequire(import.meta.url).resolve("better-sqlite3") } },
    );
    await new Promise((resolve) => holder.once("message", resolve));
    return holder;
  }

  it("waits for the write lock another thread holds, in a write that reads before it writes", async () => {
    const { db, committedIds, close } = await groupedDatabase("group-locked-elsewhere.db");
    await insert(db, 1);
    const holder = await holdWriteLock("group-locked-elsewhere.db", 200);
    // A deferred BEGIN would read under a shared lock, then be refused SQLITE_BUSY at the insert
    // without waiting; the group's BEGIN IMMEDIATE waits in the busy timeout for the lock instead.
    const outcome = await db
      .transaction()
      .execute(async (tx) => {
        const rows = await tx.selectFrom("items").select("id").execute();
        await tx.insertInto("items").values({ id: rows.length + 1, note: "after the lock" }).execute();
      })
      .then(() => "committed", (error: { code?: string }) => error.code);
    expect(outcome).toBe("committed");
    expect(committedIds()).toEqual([1, 2]);
    await holder.terminate();
    await close();
  });

  it("answers reads while a write waits for that lock (they need the driver's turn, not the lock), and the write commits once it has it", async () => {
    const { db, committedIds, close } = await groupedDatabase("locked-reads.db", { reader: true });
    await insert(db, 1);
    const holder = await holdWriteLock("locked-reads.db", 300);
    let lockReleased = false;
    holder.on("message", (message) => (lockReleased ||= message === "releasing"));
    const waitingWrite = insert(db, 2);
    await new Promise((resolve) => setTimeout(resolve, 50));
    // The write has found the lock taken and waits. The reads go to the reading connection: they
    // need the driver's turn, not SQLite's lock, and are answered while the lock is still held.
    const reads = await Promise.all(Array.from({ length: 40 }, () => db.selectFrom("items").select("id").execute()));
    expect(lockReleased).toBe(false);
    expect(reads.every((rows) => rows.length === 1)).toBe(true);
    await Promise.all([waitingWrite, insert(db, 3)]);
    expect(committedIds()).toEqual([1, 2, 3]);
    await holder.terminate();
    await close();
  });

  it("waits for that lock on timers, not in SQLite's busy wait: the event loop goes on, for a transaction and a single statement alike", async () => {
    const { db, committedIds, close } = await groupedDatabase("locked-event-loop.db");
    const holder = await holdWriteLock("locked-event-loop.db", 400);
    // In SQLite's busy wait the thread sleeps until the lock is free: no timer fires meanwhile.
    let ticks = 0;
    const ticker = setInterval(() => (ticks += 1), 10);
    const transaction = insert(db, 1).then(() => ticks);
    const statement = db.insertInto("items").values({ id: 2, note: "alone" }).execute().then(() => ticks);
    const ticksBeforeCommit = await Promise.all([transaction, statement]);
    clearInterval(ticker);
    expect(Math.min(...ticksBeforeCommit)).toBeGreaterThanOrEqual(5);
    expect(committedIds()).toEqual([1, 2]);
    await holder.terminate();
    await close();
  });

  it("fails every write of a group whose commit fails, keeps none of them, and goes on", async () => {
    const { db, committedIds, close } = await groupedDatabase("group-commit-fails.db");
    // A deferred foreign key is checked at COMMIT: the one way to make SQLite refuse a commit on demand.
    await sql`create table children (id integer primary key, item_id integer not null references items (id) deferrable initially deferred)`.execute(db);
    const orphan = db.transaction().execute((tx) => sql`insert into children (id, item_id) values (1, 999)`.execute(tx));
    const outcomes = await Promise.all([
      insert(db, 1).then(() => "committed", (error: { code?: string }) => error.code),
      orphan.then(() => "committed", (error: { code?: string }) => error.code),
      insert(db, 2).then(() => "committed", (error: { code?: string }) => error.code),
    ]);
    expect(outcomes).toEqual(["SQLITE_CONSTRAINT_FOREIGNKEY", "SQLITE_CONSTRAINT_FOREIGNKEY", "SQLITE_CONSTRAINT_FOREIGNKEY"]);
    expect(committedIds()).toEqual([]);
    await insert(db, 3);
    expect(committedIds()).toEqual([3]);
    await close();
  });

  it("fails the earlier writes of a group when SQLite ends its transaction under a later one", async () => {
    const { db, committedIds, close } = await groupedDatabase("group-ended.db");
    const first = insert(db, 1).then(() => "committed", () => "failed");
    // What SQLite does by itself on a full disk or an I/O error: the whole transaction is gone.
    const ending = db
      .transaction()
      .execute(async (tx) => {
        await tx.insertInto("items").values({ id: 2, note: "n" }).execute();
        await sql`rollback`.execute(tx);
        throw new Error("the transaction ended under this write");
      })
      .then(() => "committed", () => "failed");
    expect(await Promise.all([first, ending])).toEqual(["failed", "failed"]);
    expect(committedIds()).toEqual([]);
    await insert(db, 3);
    expect(committedIds()).toEqual([3]);
    await close();
  });
});

describe.runIf(TEST_DIALECT === "sqlite")("the journal of a write's savepoint", () => {
  /** The files SQLite opened for temporary use (it names them etilqs_…, and unlinks them at once). */
  const temporaryFilesOpen = () =>
    readdirSync("/proc/self/fd").filter((fd) => {
      try {
        return readlinkSync(`/proc/self/fd/${fd}`).includes("etilqs_");
      } catch {
        return false;
      }
    });

  it.runIf(process.platform === "linux")("stays in memory however many pages the write changes: no temporary file is written", async () => {
    const { db } = await openDatabase({ dialect: "sqlite", path: join(folder, "savepoints.db") });
    const items = db as unknown as Kysely<Scratch>;
    await sql`create table items (id integer primary key, note text not null)`.execute(items);
    await items
      .insertInto("items")
      .values(Array.from({ length: 64 }, () => ({ id: null as unknown as number, note: "a".repeat(4_000) })))
      .execute();
    // Each write is a savepoint of its group (sqlite-driver.ts): every page it changes is first
    // copied to the savepoint's journal, which SQLite moves to a file past 64 KiB unless its
    // temporary storage is in memory. These 64 rows are 256 KiB.
    const opened = await items.transaction().execute(async (tx) => {
      await tx.updateTable("items").set({ note: "b".repeat(4_000) }).execute();
      return temporaryFilesOpen();
    });
    expect(opened).toEqual([]);
    expect((await items.selectFrom("items").select("note").where("note", "like", "b%").execute()).length).toBe(64);
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

  it("keep the log bounded under writes that never pause, and cut a grown log back when it starts over", async () => {
    const path = join(folder, "unpaused.db");
    const { db } = await openDatabase({ dialect: "sqlite", path }, { checkpointInBackground: true });
    // 256 MiB back to back, far faster than the server writes: a PASSIVE copy alone never catches
    // up with the last commit, and the log grew by all of it (600 MB in 25 s of issuing keys
    // through the server). Restarts at 64 MiB keep it well under, however the thread's turns fall.
    const largest = await writeMegabytes(db as unknown as Kysely<Scratch>, path, 256, 0);
    expect(largest).toBeLessThan(160 * 1024 * 1024);

    // One transaction of 80 MiB cannot start over midway: the log grows past the size limit, and
    // is cut back to it once a later write starts it over.
    await db.transaction().execute(async (tx) => {
      for (let round = 0; round < 80; round += 1) {
        await (tx as unknown as Kysely<Scratch>)
          .insertInto("items")
          .values(Array.from({ length: 16 }, () => ({ id: null as unknown as number, note: "y".repeat(64 * 1024) })))
          .execute();
      }
    });
    expect(walBytes(path)).toBeGreaterThan(80 * 1024 * 1024);
    await expect
      .poll(
        async () => {
          await (db as unknown as Kysely<Scratch>).insertInto("items").values({ id: null as unknown as number, note: "z" }).execute();
          return walBytes(path);
        },
        { timeout: 10_000, interval: 50 },
      )
      .toBeLessThanOrEqual(64 * 1024 * 1024);
    await db.destroy();
  });

  it("would otherwise let the log grow with every write: the same writes without the thread", async () => {
    const path = join(folder, "unchecked.db");
    const sqlite = new SqliteDatabase(path);
    sqlite.pragma("journal_mode = WAL");
    sqlite.pragma("wal_autocheckpoint = 0");
    const db = new Kysely<Scratch>({ dialect: new CachingSqliteDialect(sqlite) });
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
