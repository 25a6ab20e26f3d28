/**
 * Loaded into a benchmarked server with `node --import`, never by the server itself: a record of
 * what held its event loop, for the rows whose p99 a CPU profile cannot explain (a profile says
 * where CPU time went, not when the loop stood still). It notes
 * - every tick of a 1 ms timer that comes more than 4 ms late: the loop was held that long;
 * - every pause of the garbage collector longer than 1 ms, by kind;
 * - the time of every better-sqlite3 call (`run`, `get`, `all`, `iterate`'s start, `exec`,
 *   `pragma`) on the main thread, summed per statement and second, and each call over 2 ms alone.
 * It writes them as JSON lines to STALL_RECORD when the process exits by itself (the server does
 * on SIGTERM). Times are milliseconds since the epoch, so that the bench can keep only its window.
 * bench/http/stall-report.ts reads the file.
 */
import { writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { PerformanceObserver, performance } from "node:perf_hooks";
import { isMainThread } from "node:worker_threads";

const LATE_TICK_MS = 4;
const LONG_PAUSE_MS = 1;
const LONG_CALL_MS = 2;
// V8's numbering of collections (PerformanceEntry.detail.kind).
const GC_KINDS = { 1: "scavenge (young)", 2: "mark-compact (full)", 4: "incremental marking", 8: "weak callbacks", 16: "minor mark-sweep" };

const epochMs = (at) => performance.timeOrigin + at;

const output = process.env.STALL_RECORD;
if (output === undefined) throw new Error("stall-recorder.mjs: set STALL_RECORD to the file to write");
// Worker threads inherit the flag that loads this file; the event loop of requests is the main one.
if (isMainThread) record(output);

function record(file) {
  const events = [];
  /** "second\tstatement" → [calls, milliseconds] */
  const sqliteSeconds = new Map();

  let expected = performance.now() + 1;
  setInterval(() => {
    const now = performance.now();
    const late = now - expected;
    if (late > LATE_TICK_MS) events.push({ kind: "late", at: epochMs(now), ms: late });
    expected = now + 1;
  }, 1).unref();

  new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      if (entry.duration <= LONG_PAUSE_MS) continue;
      const kind = entry.detail?.kind ?? entry.kind;
      events.push({ kind: "gc", at: epochMs(entry.startTime), ms: entry.duration, gc: GC_KINDS[kind] ?? `kind ${kind}` });
    }
  }).observe({ entryTypes: ["gc"] });

  const timed = (original, statementOf) =>
    function (...args) {
      const startedAt = performance.now();
      try {
        return original.apply(this, args);
      } finally {
        const ms = performance.now() - startedAt;
        const statement = statementOf(this, args).replace(/\s+/g, " ").trim().slice(0, 70);
        const key = `${Math.floor(epochMs(startedAt) / 1000)}\t${statement}`;
        const sums = sqliteSeconds.get(key) ?? [0, 0];
        sums[0] += 1;
        sums[1] += ms;
        sqliteSeconds.set(key, sums);
        if (ms > LONG_CALL_MS) events.push({ kind: "sqlite", at: epochMs(startedAt), ms, statement });
      }
    };

  // The server's own copy of the driver: an ESM import of a CommonJS package is require's module.
  const Database = createRequire(import.meta.url)("better-sqlite3");
  const scratch = new Database(":memory:");
  const Statement = Object.getPrototypeOf(scratch.prepare("select 1"));
  scratch.close();
  for (const name of ["run", "get", "all", "iterate"]) Statement[name] = timed(Statement[name], (statement) => statement.source);
  for (const name of ["exec", "pragma"]) Database.prototype[name] = timed(Database.prototype[name], (_, args) => `${name} ${String(args[0])}`);

  process.on("exit", () => {
    const seconds = [...sqliteSeconds].map(([key, [calls, ms]]) => {
      const [second, statement] = key.split("\t");
      return { kind: "sqlite-second", at: Number(second) * 1000, calls, ms, statement };
    });
    writeFileSync(file, [...events, ...seconds].map((event) => JSON.stringify(event)).join("\n") + "\n");
  });
}
