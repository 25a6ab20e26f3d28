/**
 * `npm run bench:flush`: how long the flush of `last_used_at` and of the usage counts holds the
 * event loop at a time, with BENCH_FLUSH_STORED keys stored (default 1,000,000) and BENCH_FLUSH_USED
 * of them used since the last flush (default 100,000), on SQLite in a temporary file (PostgreSQL
 * too when BENCH_POSTGRES_URL is set). The used keys are drawn at random from all those stored and
 * used in random order, as a server's are: the first keys stored, in the order they were stored,
 * sit side by side in the table and made the flush look several times cheaper than it is. It
 * measures two flushes: the keys' first uses, then the same keys used again (a busy server's
 * steady state, where every key written has been written before). The target (issue 12) is no
 * block longer than 2 ms.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { monitorEventLoopDelay, performance } from "node:perf_hooks";
import { randomBytes } from "node:crypto";
import { sql } from "kysely";
import { LastUsedRecorder } from "../src/auth/last-used-recorder.js";
import { UsageCounters } from "../src/auth/usage-counters.js";
import type { DatabaseConfig } from "../src/config.js";
import { openDatabase } from "../src/db/database.js";
import { migrateToLatest } from "../src/db/migrate.js";
import { newId } from "../src/ids/uuid-v7.js";
import { benchSchemaName, dropPostgresSchema } from "./postgres-schema.js";
import { keepInSample, shuffle } from "./random-sample.js";

const STORED = Number(process.env.BENCH_FLUSH_STORED ?? 1_000_000);
const USED = Number(process.env.BENCH_FLUSH_USED ?? 100_000);
const POSTGRES_URL = process.env.BENCH_POSTGRES_URL ?? "";

const silentLog = { error: () => undefined } as never;

async function measure(label: string, config: DatabaseConfig): Promise<void> {
  // As the server opens it: on SQLite, with the log checkpointed from a thread of its own.
  const database = await openDatabase(config, { checkpointInBackground: true });
  const { db, dialect } = database;
  try {
    await migrateToLatest(database);
    const customerId = newId();
    const createdAt = new Date().toISOString();
    await db.insertInto("customers").values({ id: customerId, name: "flush bench", created_at: createdAt }).execute();
    const ids: string[] = [];
    let stored = 0;
    const loadStarted = performance.now();
    for (let done = 0; done < STORED; done += 5_000) {
      const rows = Array.from({ length: Math.min(5_000, STORED - done) }, () => {
        const id = newId();
        keepInSample(ids, USED, id, (stored += 1));
        return {
          id,
          customer_id: customerId,
          instance_id: null,
          name: "bulk",
          prefix: "zpk_live_bulk0000",
          digest: randomBytes(32).toString("base64url"),
          scopes: '["*"]',
          expires_at: null,
          created_at: createdAt,
          revoked_at: null,
        };
      });
      // Several statements per transaction: SQLite and PostgreSQL both cap a statement's parameters.
      await db.transaction().execute(async (tx) => {
        for (let start = 0; start < rows.length; start += 500) await tx.insertInto("api_keys").values(rows.slice(start, start + 500)).execute();
      });
    }
    console.log(`${label}: stored ${STORED} keys in ${((performance.now() - loadStarted) / 1000).toFixed(1)} s`);

    shuffle(ids);
    const counters = new UsageCounters();
    const recorder = new LastUsedRecorder(db, dialect, 60_000, silentLog, { counters, retentionDays: 90 });
    // A running server has flushed before: the first flush of a process also compiles its code.
    for (const id of ids.slice(0, 2_000)) {
      recorder.noteUse(id, createdAt);
      counters.count(id, customerId, 200, Date.now());
    }
    await recorder.flush();
    for (const flush of ["first uses", "used again"]) {
      const usedAt = new Date().toISOString();
      for (const id of ids) {
        recorder.noteUse(id, usedAt);
        counters.count(id, customerId, 200, Date.now());
      }
      const delay = monitorEventLoopDelay({ resolution: 1 });
      // A timer that notices how late it runs: the longest wait is the longest block.
      const blocks: number[] = [];
      let expected = performance.now() + 1;
      const ticker = setInterval(() => {
        const now = performance.now();
        blocks.push(now - expected);
        expected = now + 1;
      }, 1);
      delay.enable();
      const started = performance.now();
      await recorder.flush();
      const took = performance.now() - started;
      delay.disable();
      clearInterval(ticker);
      const { rows } = await sql<{ n: number | string }>`select count(*) as n from api_key_last_used where last_used_at = ${usedAt}`.execute(db);
      const usage = await sql<{ n: number | string }>`select count(*) as n from api_key_usage`.execute(db);
      const over = blocks.filter((block) => block > 2);
      console.log(
        `${label}, ${flush}: flushed ${USED} uses (${Number(rows[0]!.n)} keys' last_used_at, ${Number(usage.rows[0]!.n)} usage rows) in ${took.toFixed(0)} ms; ` +
          `${over.length} of ${blocks.length} timer ticks late by more than 2 ms, the longest by ${Math.max(0, ...blocks).toFixed(2)} ms; ` +
          `event-loop delay p99 ${(delay.percentile(99) / 1e6).toFixed(2)} ms (target: no block over 2 ms)`,
      );
    }
  } finally {
    await db.destroy();
  }
}

const folder = mkdtempSync(join(tmpdir(), "whatisup-flush-"));
try {
  await measure("SQLite", { dialect: "sqlite", path: join(folder, "flush.db") });
  if (POSTGRES_URL !== "") {
    const schema = benchSchemaName();
    try {
      await measure("PostgreSQL", { dialect: "postgres", url: POSTGRES_URL, schema, poolSize: 4 });
    } finally {
      await dropPostgresSchema(POSTGRES_URL, schema);
    }
  }
} finally {
  rmSync(folder, { recursive: true, force: true });
}
