/**
 * What held the event loop during one measured run, from the file bench/http/stall-recorder.mjs
 * writes, as markdown for BENCHMARKS.md: late timer ticks, garbage-collector pauses, SQLite's time
 * by statement, and the longest stalls with what happened within each.
 */
import { readFileSync } from "node:fs";
import { escapeTableCell } from "./cpu-profile.js";

type LateTick = { kind: "late"; at: number; ms: number };
type Pause = { kind: "gc"; at: number; ms: number; gc: string };
type LongCall = { kind: "sqlite"; at: number; ms: number; statement: string };
type SqliteSecond = { kind: "sqlite-second"; at: number; ms: number; calls: number; statement: string };
type Recorded = LateTick | Pause | LongCall | SqliteSecond;

/**
 * The measured run: its start and end in milliseconds since the epoch (the recorder's clock), and
 * the CPU time, in microseconds, the server's main thread and its other threads (the checkpoint
 * thread, V8's helpers) used meanwhile; on one core, the others' is time the main thread could not
 * run.
 */
export type StallWindow = { fromMs: number; toMs: number; threads: { main: number; others: number } };

const LONG_STALL_MS = 10;
const STALLS_LISTED = 10;
const STATEMENTS_LISTED = 8;

const fixed = (ms: number) => ms.toFixed(1);
const cell = (statement: string) => `\`${escapeTableCell(statement)}\``;

export function stallReport(path: string, window: StallWindow, title: string): string {
  const recorded = readFileSync(path, "utf8")
    .split("\n")
    .filter((line) => line !== "")
    .map((line) => JSON.parse(line) as Recorded)
    .filter((event) => event.at >= window.fromMs && event.at <= window.toMs);
  const ticks = recorded.filter((event): event is LateTick => event.kind === "late");
  const pauses = recorded.filter((event): event is Pause => event.kind === "gc");
  const longCalls = recorded.filter((event): event is LongCall => event.kind === "sqlite");
  const seconds = recorded.filter((event): event is SqliteSecond => event.kind === "sqlite-second");

  const byKind = new Map<string, { count: number; ms: number; longest: number }>();
  for (const pause of pauses) {
    const entry = byKind.get(pause.gc) ?? { count: 0, ms: 0, longest: 0 };
    entry.count += 1;
    entry.ms += pause.ms;
    entry.longest = Math.max(entry.longest, pause.ms);
    byKind.set(pause.gc, entry);
  }
  const byStatement = new Map<string, { calls: number; ms: number; long: number; longest: number }>();
  for (const second of seconds) {
    const entry = byStatement.get(second.statement) ?? { calls: 0, ms: 0, long: 0, longest: 0 };
    entry.calls += second.calls;
    entry.ms += second.ms;
    byStatement.set(second.statement, entry);
  }
  for (const call of longCalls) {
    const entry = byStatement.get(call.statement);
    if (entry === undefined) continue;
    entry.long += 1;
    entry.longest = Math.max(entry.longest, call.ms);
  }

  // A tick is noted when it finally runs: the stall it measures is the time just before it.
  const within = <T extends { at: number; ms: number }>(events: T[], tick: LateTick) =>
    events.filter((event) => event.at + event.ms >= tick.at - tick.ms && event.at <= tick.at);
  const longest = [...ticks].sort((a, b) => b.ms - a.ms).slice(0, STALLS_LISTED);
  const measuredSeconds = (window.toMs - window.fromMs) / 1000;
  const percentOf = (micros: number) => `${((micros / 1e6 / measuredSeconds) * 100).toFixed(1)}%`;

  return `### ${title}

In the ${fixed(measuredSeconds)} s measured: ${ticks.length} ticks of a 1 ms timer came more than 4 ms late, ${
    ticks.filter((tick) => tick.ms > LONG_STALL_MS).length
  } of them more than ${LONG_STALL_MS} ms late, the latest by ${fixed(Math.max(0, ...ticks.map((tick) => tick.ms)))} ms.
The server's main thread used ${percentOf(window.threads.main)} of a core and its other threads ${percentOf(window.threads.others)}.

| garbage collection (pauses over 1 ms) | pauses | ms in all | longest ms |
| --- | --- | --- | --- |
${[...byKind].map(([kind, entry]) => `| ${kind} | ${entry.count} | ${fixed(entry.ms)} | ${fixed(entry.longest)} |`).join("\n") || "| none | 0 | 0 | 0 |"}

| SQLite on the event loop, by statement (most time first) | calls | ms in all | calls over 2 ms | longest of those, ms |
| --- | --- | --- | --- | --- |
${
  [...byStatement]
    .sort((a, b) => b[1].ms - a[1].ms)
    .slice(0, STATEMENTS_LISTED)
    .map(([statement, entry]) => `| ${cell(statement)} | ${entry.calls} | ${fixed(entry.ms)} | ${entry.long} | ${entry.long > 0 ? fixed(entry.longest) : "–"} |`)
    .join("\n") || "| none | 0 | 0 | 0 | – |"
}

| the longest stalls, ms | garbage collection within them | SQLite calls over 2 ms within them |
| --- | --- | --- |
${longest
  .map((tick) => {
    const gc = within(pauses, tick).map((pause) => `${pause.gc} ${fixed(pause.ms)} ms`);
    const calls = within(longCalls, tick).map((call) => `${cell(call.statement.slice(0, 40))} ${fixed(call.ms)} ms`);
    return `| ${fixed(tick.ms)} | ${gc.join(", ") || "none"} | ${calls.join(", ") || "none"} |`;
  })
  .join("\n")}
`;
}
