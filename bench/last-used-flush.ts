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
 *
 * A timer that runs late says the event loop did not come round, not why: on one core the loop's
 * thread also waits while the checkpoint thread (or any other process) has the core. On Linux the
 * bench reads how long the loop's thread waited for a CPU (/proc's schedstat) and reports each
 * late tick less that wait too: the time the process itself held the loop, in its code, the
 * garbage collector or a system call. It reports the collector's pauses during the flush as well.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { monitorEventLoopDelay, PerformanceObserver, performance } from "node:perf_hooks";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
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

// A server notes its uses over the whole interval between flushes, and by the flush they have
// moved to the old generation; the bench notes 100,000 at once, so it makes them old with a full
// collection, or the flush's first collections would be the bench's copying of them.
setFlagsFromString("--expose-gc");
const collectGarbage = runInNewContext("gc") as () => void;

const SCHEDSTAT = `/proc/self/task/${process.pid}/schedstat`;

/** How long the event loop's thread has waited for a CPU, in ms; null where /proc does not say. */
function cpuWaitMs(): number | null {
  try {
    return Number(readFileSync(SCHEDSTAT, "utf8").split(" ")[1]) / 1e6;
  } catch {
    return null;
  }
}

// V8's numbering of collections (PerformanceEntry.detail.kind).
const GC_KINDS: Record<number, string> = { 1: "scavenge", 2: "mark-compact", 4: "incremental marking", 8: "weak callbacks", 16: "minor mark-sweep" };
const pauses: Array<{ at: number; ms: number; kind: string }> = [];
new PerformanceObserver((list) => {
  for (const entry of list.getEntries()) {
    const kind = (entry as { detail?: { kind?: number } }).detail?.kind ?? 0;
    pauses.push({ at: entry.startTime, ms: entry.duration, kind: GC_KINDS[kind] ?? `kind ${kind}` });
  }
}).observe({ entryTypes: ["gc"] });

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
      collectGarbage();
      const delay = monitorEventLoopDelay({ resolution: 1 });
      // A timer that notices how late it runs: the longest wait is the longest block.
      const blocks: number[] = [];
      const held: number[] = [];
      let expected = performance.now() + 1;
      let waitedBefore = cpuWaitMs();
      const ticker = setInterval(() => {
        const now = performance.now();
        const waited = cpuWaitMs();
        blocks.push(now - expected);
        if (waited !== null && waitedBefore !== null) held.push(now - expected - (waited - waitedBefore));
        waitedBefore = waited;
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
      // The observer hears of a pause a little after it: read them once the counts are in.
      const flushPauses = pauses.filter((pause) => pause.at >= started && pause.at < started + took).sort((a, b) => b.ms - a.ms);
      const over = blocks.filter((block) => block > 2);
      const heldOver = held.filter((block) => block > 2);
      console.log(
        `${label}, ${flush}: flushed ${USED} uses (${Number(rows[0]!.n)} keys' last_used_at, ${Number(usage.rows[0]!.n)} usage rows) in ${took.toFixed(0)} ms; ` +
          `${over.length} of ${blocks.length} timer ticks late by more than 2 ms, the longest by ${Math.max(0, ...blocks).toFixed(2)} ms; ` +
          (held.length > 0
            ? `less the loop's waits for a CPU, ${heldOver.length} over 2 ms, the longest ${Math.max(0, ...held).toFixed(2)} ms; `
            : "") +
          `garbage collection ${flushPauses.length} pauses, ${sum(flushPauses.map((pause) => pause.ms)).toFixed(0)} ms` +
          (flushPauses.length > 0 ? `, the longest ${flushPauses[0]!.ms.toFixed(2)} ms (${flushPauses[0]!.kind}); ` : "; ") +
          `event-loop delay p99 ${(delay.percentile(99) / 1e6).toFixed(2)} ms (target: no block over 2 ms)`,
      );
    }
  } finally {
    await db.destroy();
  }
}

const sum = (values: number[]) => values.reduce((total, value) => total + value, 0);

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
