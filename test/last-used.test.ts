import { randomUUID } from "node:crypto";
import type { FastifyBaseLogger } from "fastify";
import { sql } from "kysely";
import { afterEach, describe, expect, it, vi } from "vitest";
import { recordKeyUses } from "../src/api-keys/api-key-repository.js";
import { LastUsedRecorder } from "../src/auth/last-used-recorder.js";
import { UsageCounters } from "../src/auth/usage-counters.js";
import type { Config } from "../src/config.js";
import { openDatabase } from "../src/db/database.js";
import * as keyUsesApart from "../src/db/migrations/20261207160000_key_uses_apart.js";
import type { Db } from "../src/db/schema.js";
import type { App } from "../src/http/app-types.js";
import { bearer, buildTestApp, createTestCustomer, issueKey } from "./helpers/test-app.js";
import { allowWrites, failWrites, persistentDatabase, removeDatabase, tableNames } from "./helpers/test-database.js";

const ISO_WITH_MS = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

async function lastUsedInDb(app: App, keyId: string): Promise<string | null> {
  const row = await app.db.selectFrom("api_key_last_used").select("last_used_at").where("key_id", "=", keyId).executeTakeFirst();
  return row?.last_used_at ?? null;
}

const WRITES_USES = /^\s*insert into api_key_last_used\b/i;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/**
 * A view of `db` that notes every statement run through it as it reaches the driver: its SQL and
 * its bound values, whether Kysely built it or it came compiled (the flush's batches do).
 */
function recordingStatements(db: Db): { db: Db; statements: { sql: string; values: readonly unknown[] }[] } {
  const view = db.withoutPlugins();
  const executor = view.getExecutor();
  const statements: { sql: string; values: readonly unknown[] }[] = [];
  const execute = executor.executeQuery.bind(executor);
  executor.executeQuery = (query, ...rest) => {
    statements.push({ sql: query.sql, values: query.parameters });
    return execute(query, ...rest);
  };
  return { db: view, statements };
}

const writesOfUses = (statements: { sql: string }[]) => statements.filter((statement) => WRITES_USES.test(statement.sql)).length;

function silentLog(): FastifyBaseLogger & { error: ReturnType<typeof vi.fn> } {
  const log = {
    level: "silent",
    fatal: vi.fn(),
    error: vi.fn(),
    warn: vi.fn(),
    info: vi.fn(),
    debug: vi.fn(),
    trace: vi.fn(),
    silent: vi.fn(),
    child: () => log,
  };
  return log as unknown as FastifyBaseLogger & { error: ReturnType<typeof vi.fn> };
}

describe("last_used_at", () => {
  const apps: App[] = [];
  const databases: Config["database"][] = [];
  afterEach(async () => {
    for (const app of apps.splice(0)) await app.close();
    for (const database of databases.splice(0)) await removeDatabase(database);
  });

  async function start(overrides: Partial<Config> = {}) {
    const app = await buildTestApp(overrides);
    apps.push(app);
    return app;
  }

  /** A database that outlives one app, removed after the test. */
  function sharedDatabase(): Config["database"] {
    const database = persistentDatabase();
    databases.push(database);
    return database;
  }

  async function getKey(app: App, secret: string, id: string) {
    const response = await app.inject({ url: `/v1/api-keys/${id}`, headers: bearer(secret) });
    expect(response.statusCode, response.body).toBe(200);
    return response.json() as { id: string; last_used_at: string | null };
  }

  it("is not written by the request that uses the key", async () => {
    const app = await start({ lastUsedFlushMs: 3_600_000 });
    const acme = await createTestCustomer(app);
    for (let i = 0; i < 5; i += 1) {
      expect((await app.inject({ url: "/v1/api-keys", headers: bearer(acme.secret) })).statusCode).toBe(200);
    }
    expect(await lastUsedInDb(app, acme.key.id)).toBeNull();
    expect((await getKey(app, acme.secret, acme.key.id)).last_used_at).toBeNull();
  });

  it("is written within LAST_USED_FLUSH_MS, as an ISO timestamp of the request", async () => {
    const app = await start({ lastUsedFlushMs: 100 });
    const acme = await createTestCustomer(app);
    const before = Date.now();
    expect((await app.inject({ url: "/v1/api-keys", headers: bearer(acme.secret) })).statusCode).toBe(200);
    const after = Date.now();

    await sleep(350);
    const written = await lastUsedInDb(app, acme.key.id);
    expect(written).toMatch(ISO_WITH_MS);
    const at = Date.parse(written!);
    expect(at).toBeGreaterThanOrEqual(before);
    expect(at).toBeLessThanOrEqual(after);
    // The API shows what the database holds (the GET itself is a later, unflushed use).
    expect((await getKey(app, acme.secret, acme.key.id)).last_used_at).toBe(written);
  });

  it("is written for the key that was used, not for its customer's other keys", async () => {
    const app = await start({ lastUsedFlushMs: 100 });
    const acme = await createTestCustomer(app);
    const idle = await issueKey(app, acme.secret, { name: "idle" });
    const busy = await issueKey(app, acme.secret, { name: "busy" });
    await app.inject({ url: "/v1/instances", headers: bearer(busy.secret) });
    await sleep(350);
    expect(await lastUsedInDb(app, busy.id)).toMatch(ISO_WITH_MS);
    expect(await lastUsedInDb(app, idle.id)).toBeNull();
  });

  it("is flushed at graceful shutdown", async () => {
    const database = sharedDatabase();
    const first = await buildTestApp({ database, lastUsedFlushMs: 3_600_000 });
    const acme = await createTestCustomer(first);
    const before = Date.now();
    expect((await first.inject({ url: "/v1/api-keys", headers: bearer(acme.secret) })).statusCode).toBe(200);
    expect(await lastUsedInDb(first, acme.key.id)).toBeNull();
    await first.close();

    const second = await start({ database, lastUsedFlushMs: 3_600_000 });
    const written = await lastUsedInDb(second, acme.key.id);
    expect(written).toMatch(ISO_WITH_MS);
    expect(Date.parse(written!)).toBeGreaterThanOrEqual(before);
  });

  it("coalesces many uses into one statement per flush, keeping each key's latest use", async () => {
    const app = await start();
    const acme = await createTestCustomer(app);
    const other = await issueKey(app, acme.secret, { name: "other" });
    const recording = recordingStatements(app.db);
    const recorder = new LastUsedRecorder(recording.db, app.dialect, 3_600_000, silentLog());

    const base = Date.parse("2030-01-01T00:00:00.000Z");
    const at = (seconds: number) => new Date(base + seconds * 1000).toISOString();
    // Twenty uses of each key, out of order: the latest must win whatever the arrival order.
    const order = [...Array(20).keys()].sort((a, b) => ((a * 7) % 20) - ((b * 7) % 20));
    for (const second of order) {
      recorder.noteUse(acme.key.id, at(second));
      recorder.noteUse(other.id, at(100 + second));
    }
    await recorder.flush();

    expect(writesOfUses(recording.statements)).toBe(1);
    expect(await lastUsedInDb(app, acme.key.id)).toBe(at(19));
    expect(await lastUsedInDb(app, other.id)).toBe(at(119));

    // Nothing pending: a flush writes nothing.
    await recorder.flush();
    expect(writesOfUses(recording.statements)).toBe(1);
    await recorder.stop();
  });

  it("writes a large flush in batches (200 keys on SQLite, 250 on PostgreSQL), and lets waiting requests run between them", async () => {
    const app = await start();
    const acme = await createTestCustomer(app);
    const recording = recordingStatements(app.db);
    const recorder = new LastUsedRecorder(recording.db, app.dialect, 3_600_000, silentLog());
    recorder.noteUse(acme.key.id, "2030-01-01T00:00:00.000Z");
    for (let index = 1; index < 251; index += 1) recorder.noteUse(randomUUID(), "2030-01-01T00:00:00.000Z");
    // 251 keys: two batches on either database.
    const batches = 2;

    const ranDuringFlush: number[] = [];
    const flushed = recorder.flush();
    // Queued before the flush begins, so it runs at the first turn the flush gives up, and again
    // at every turn after. (A 1 ms timer was not due yet when a fast flush gave up its first turn.)
    let flushing = true;
    const notice = () => {
      ranDuringFlush.push(writesOfUses(recording.statements));
      if (flushing) setImmediate(notice);
    };
    setImmediate(notice);
    await flushed;
    flushing = false;
    expect(writesOfUses(recording.statements)).toBe(batches);
    // Something scheduled while the flush ran got the event loop after its first batch was sent
    // and before its last.
    expect(ranDuringFlush.some((writesSoFar) => writesSoFar > 0 && writesSoFar < batches)).toBe(true);
    expect(await lastUsedInDb(app, acme.key.id)).toBe("2030-01-01T00:00:00.000Z");
    await recorder.stop();
  });

  it("writes a flush in key order across its batches, whatever order the keys were used in", async () => {
    const app = await start();
    const { db, statements } = recordingStatements(app.db);
    const recorder = new LastUsedRecorder(db, app.dialect, 3_600_000, silentLog());
    // More than one run of sorting and three batches or more, on either database.
    const keys = Array.from({ length: 1_500 }, () => randomUUID());
    for (const key of keys) recorder.noteUse(key, "2030-01-01T00:00:00.000Z");
    await recorder.flush();

    const writes = statements.filter((statement) => WRITES_USES.test(statement.sql));
    expect(writes.length).toBeGreaterThanOrEqual(6);
    const written = writes.flatMap((write) => write.values.filter((value) => typeof value === "string" && UUID.test(value)));
    expect(written).toEqual([...keys].sort());
    await recorder.stop();
  });

  it("adds the usage counts in key order, each key's hours oldest first", async () => {
    const app = await start();
    const acme = await createTestCustomer(app);
    const keys = [acme.key.id];
    for (let index = 0; index < 3; index += 1) keys.push((await issueKey(app, acme.secret, { name: `key ${index}` })).id);
    const { db, statements } = recordingStatements(app.db);
    const counters = new UsageCounters();
    const recorder = new LastUsedRecorder(db, app.dialect, 3_600_000, silentLog(), { counters, retentionDays: 90 });
    const hours = [Date.parse("2030-01-01T10:00:00.000Z"), Date.parse("2030-01-01T11:00:00.000Z")];
    // Counted newest hour first and keys in reverse: the order of rows must come from the flush.
    for (const hour of [...hours].reverse()) for (const key of [...keys].reverse()) counters.count(key, acme.customer.id, 200, hour + 1_000);
    await recorder.flush();

    const inserts = statements.filter((statement) => /^\s*insert into api_key_usage\b/i.test(statement.sql));
    expect(inserts).toHaveLength(1);
    // Six values a row: key, customer, hour, requests, rejected, rate limited.
    const rows = [];
    for (let at = 0; at < inserts[0]!.values.length; at += 6) rows.push(inserts[0]!.values.slice(at, at + 3));
    const expected = [...keys].sort().flatMap((key) => hours.map((hour) => [key, acme.customer.id, new Date(hour).toISOString()]));
    expect(rows).toEqual(expected);
    await recorder.stop();
  });

  it("never goes backwards: an older use written after a newer one is ignored", async () => {
    const app = await start();
    const acme = await createTestCustomer(app);
    const later = "2030-06-01T12:00:00.000Z";
    const earlier = "2030-06-01T11:59:59.999Z";
    await recordKeyUses(app.db, new Map([[acme.key.id, later]]));
    await recordKeyUses(app.db, new Map([[acme.key.id, earlier]]));
    expect(await lastUsedInDb(app, acme.key.id)).toBe(later);

    // A newer one still moves it forward.
    const newest = "2030-06-01T12:00:00.001Z";
    await recordKeyUses(app.db, new Map([[acme.key.id, newest]]));
    expect(await lastUsedInDb(app, acme.key.id)).toBe(newest);
  });

  it("writes a batch where some keys move forward and others would go backwards", async () => {
    const app = await start();
    const acme = await createTestCustomer(app);
    const other = await issueKey(app, acme.secret, { name: "other" });
    await recordKeyUses(
      app.db,
      new Map([
        [acme.key.id, "2030-01-01T00:00:10.000Z"],
        [other.id, "2030-01-01T00:00:10.000Z"],
      ]),
    );
    await recordKeyUses(
      app.db,
      new Map([
        [acme.key.id, "2030-01-01T00:00:05.000Z"],
        [other.id, "2030-01-01T00:00:20.000Z"],
      ]),
    );
    expect(await lastUsedInDb(app, acme.key.id)).toBe("2030-01-01T00:00:10.000Z");
    expect(await lastUsedInDb(app, other.id)).toBe("2030-01-01T00:00:20.000Z");
  });

  it("keeps the uses of a failed flush and writes them on the next one", async () => {
    const app = await start();
    const acme = await createTestCustomer(app);
    const log = silentLog();
    const recorder = new LastUsedRecorder(app.db, app.dialect, 3_600_000, log);
    const at = "2030-03-01T00:00:00.000Z";

    await failWrites(app.db, app.dialect, "api_key_last_used", "insert");
    recorder.noteUse(acme.key.id, at);
    await recorder.flush();
    expect(log.error).toHaveBeenCalledTimes(1);
    expect(await lastUsedInDb(app, acme.key.id)).toBeNull();

    await allowWrites(app.db, app.dialect, "api_key_last_used", "insert");
    await recorder.flush();
    expect(await lastUsedInDb(app, acme.key.id)).toBe(at);
    await recorder.stop();
  });

  it("rewrites no key row: a flush succeeds while every UPDATE of api_keys is refused", async () => {
    const app = await start();
    const acme = await createTestCustomer(app);
    const log = silentLog();
    const recorder = new LastUsedRecorder(app.db, app.dialect, 3_600_000, log);
    const first = "2030-04-01T00:00:00.000Z";
    const later = "2030-04-01T00:00:10.000Z";

    await failWrites(app.db, app.dialect, "api_keys", "update");
    // The first use of the key, then a later one: the row is written, then rewritten.
    for (const at of [first, later]) {
      recorder.noteUse(acme.key.id, at);
      await recorder.flush();
      expect(await lastUsedInDb(app, acme.key.id)).toBe(at);
    }
    expect(log.error).not.toHaveBeenCalled();
    await allowWrites(app.db, app.dialect, "api_keys", "update");
    expect((await getKey(app, acme.secret, acme.key.id)).last_used_at).toBe(later);
    await recorder.stop();
  });

  it("skips a key id that is not stored and writes the rest of its batch: a reference it breaks would fail the batch at every flush", async () => {
    const app = await start();
    const acme = await createTestCustomer(app);
    const at = "2030-05-01T00:00:00.000Z";
    const unknown = randomUUID();
    await recordKeyUses(app.db, new Map([[unknown, at], [acme.key.id, at]]));
    expect(await lastUsedInDb(app, acme.key.id)).toBe(at);
    expect(await lastUsedInDb(app, unknown)).toBeNull();
  });

  it("keeps every key's latest use through the migration that moves it to its own table, and back", async () => {
    const database = sharedDatabase();
    const first = await buildTestApp({ database, lastUsedFlushMs: 3_600_000 });
    const acme = await createTestCustomer(first);
    const idle = await issueKey(first, acme.secret, { name: "idle" });
    const used = "2030-06-01T00:00:00.000Z";
    await recordKeyUses(first.db, new Map([[acme.key.id, used]]));
    await first.close();

    const handle = await openDatabase(database);
    try {
      await keyUsesApart.down(handle.db, handle.dialect);
      const before = await sql<{ id: string; last_used_at: string | Date | null }>`select id, last_used_at from api_keys order by id`.execute(handle.db);
      expect(before.rows.map((row) => [row.id, row.last_used_at === null ? null : new Date(row.last_used_at).toISOString()])).toEqual(
        [
          [acme.key.id, used],
          [idle.id, null],
        ].sort(),
      );
      expect(await tableNames(handle.db, handle.dialect)).not.toContain("api_key_last_used");
      await keyUsesApart.up(handle.db, handle.dialect);
      const columns = await sql`select * from api_keys`.execute(handle.db);
      expect(Object.keys(columns.rows[0]!)).not.toContain("last_used_at");
    } finally {
      await handle.db.destroy();
    }

    const second = await start({ database, lastUsedFlushMs: 3_600_000 });
    expect(await lastUsedInDb(second, acme.key.id)).toBe(used);
    expect(await lastUsedInDb(second, idle.id)).toBeNull();
    // The GET of the key with acme's own secret is a use, but written behind: not yet flushed.
    expect((await getKey(second, acme.secret, idle.id)).last_used_at).toBeNull();
    expect((await getKey(second, acme.secret, acme.key.id)).last_used_at).toBe(used);
  });
});
