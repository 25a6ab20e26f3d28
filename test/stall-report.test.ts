import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { createRequire } from "node:module";
import { join, resolve } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { stallReport } from "../bench/http/stall-report.js";

const folder = mkdtempSync(join(tmpdir(), "stall-report-"));
afterAll(() => rmSync(folder, { recursive: true, force: true }));

const RECORDER = resolve(import.meta.dirname, "../bench/http/stall-recorder.mjs");
const WINDOW = { fromMs: 1_000_000, toMs: 1_010_000, threads: { main: 9_000_000, others: 500_000 } };

function writeRecord(name: string, events: object[]): string {
  const path = join(folder, `${name}.jsonl`);
  writeFileSync(path, events.map((event) => JSON.stringify(event)).join("\n") + "\n");
  return path;
}

/** The rows of the markdown table whose header row starts with `header`. */
function tableRows(report: string, header: string): string[] {
  const lines = report.split("\n");
  const start = lines.findIndex((line) => line.startsWith(`| ${header}`));
  expect(start).toBeGreaterThan(-1);
  const rows: string[] = [];
  for (let index = start + 2; index < lines.length && lines[index]!.startsWith("|"); index += 1) rows.push(lines[index]!);
  return rows;
}

describe("stallReport", () => {
  const path = writeRecord("basic", [
    // Before the window: left out.
    { kind: "late", at: 999_000, ms: 80 },
    { kind: "gc", at: 999_500, ms: 30, gc: "mark-compact (full)" },
    { kind: "sqlite-second", at: 999_000, calls: 50, ms: 400, statement: "select before" },
    // A stall of 30 ms ending at 1,002,000 with a scavenge and a long UPDATE inside it.
    { kind: "late", at: 1_002_000, ms: 30 },
    { kind: "gc", at: 1_001_980, ms: 5, gc: "scavenge (young)" },
    { kind: "sqlite", at: 1_001_975, ms: 12, statement: "update api_keys set last_used_at = ?" },
    // A stall of 6 ms with nothing in it; the long insert comes after it.
    { kind: "late", at: 1_005_000, ms: 6 },
    { kind: "sqlite", at: 1_005_100, ms: 3, statement: "insert into t (a|b) values (?)" },
    { kind: "gc", at: 1_006_000, ms: 2, gc: "scavenge (young)" },
    { kind: "sqlite-second", at: 1_001_000, calls: 10, ms: 40, statement: "update api_keys set last_used_at = ?" },
    { kind: "sqlite-second", at: 1_002_000, calls: 5, ms: 20, statement: "update api_keys set last_used_at = ?" },
    { kind: "sqlite-second", at: 1_005_000, calls: 2, ms: 70, statement: "insert into t (a|b) values (?)" },
    // After the window: left out.
    { kind: "late", at: 1_011_000, ms: 50 },
  ]);
  const report = stallReport(path, WINDOW, "the row");

  it("counts the late ticks within the window, and the threads' CPU as shares of a core", () => {
    expect(report).toContain("### the row");
    expect(report).toContain(
      "In the 10.0 s measured: 2 ticks of a 1 ms timer came more than 4 ms late, 1 of them more than 10 ms late, the latest by 30.0 ms.",
    );
    expect(report).toContain("The server's main thread used 90.0% of a core and its other threads 5.0%.");
  });

  it("sums the collector's pauses by kind", () => {
    expect(tableRows(report, "garbage collection")).toEqual(["| scavenge (young) | 2 | 7.0 | 5.0 |"]);
  });

  it("sums SQLite's time by statement, most first, with its calls over 2 ms", () => {
    expect(tableRows(report, "SQLite on the event loop")).toEqual([
      "| `insert into t (a\\|b) values (?)` | 2 | 70.0 | 1 | 3.0 |",
      "| `update api_keys set last_used_at = ?` | 15 | 60.0 | 1 | 12.0 |",
    ]);
  });

  it("lists the longest stalls with what overlapped each", () => {
    expect(tableRows(report, "the longest stalls")).toEqual([
      "| 30.0 | scavenge (young) 5.0 ms | `update api_keys set last_used_at = ?` 12.0 ms |",
      "| 6.0 | none | none |",
    ]);
  });

  it("says so when nothing was recorded", () => {
    const empty = stallReport(writeRecord("empty", [{ kind: "late", at: 5, ms: 9 }]), WINDOW, "quiet");
    expect(empty).toContain("0 ticks of a 1 ms timer came more than 4 ms late, 0 of them more than 10 ms late, the latest by 0.0 ms.");
    expect(tableRows(empty, "garbage collection")).toEqual(["| none | 0 | 0 | 0 |"]);
    expect(tableRows(empty, "SQLite on the event loop")).toEqual(["| none | 0 | 0 | 0 | – |"]);
    expect(tableRows(empty, "the longest stalls")).toEqual([]);
  });
});

describe("the stall recorder", () => {
  it("records a held event loop and a slow SQLite call, with the statement, when the process exits", () => {
    const record = join(folder, "recorded.jsonl");
    const slowStatement = "with recursive n(i) as (select 1 union all select i + 1 from n where i < 300000) select count(*) from n";
    // A statement that takes well over 2 ms, then 40 ms of the event loop held by a busy wait.
    const script = `
      const Database = require(${JSON.stringify(createRequire(import.meta.url).resolve("better-sqlite3"))});
      const database = new Database(":memory:");
      setTimeout(() => {
        database.prepare(${JSON.stringify(slowStatement)}).get();
        const until = performance.now() + 40;
        while (performance.now() < until);
        setTimeout(() => database.close(), 20);
      }, 20);
    `;
    execFileSync(process.execPath, ["--import", RECORDER, "-e", script], { env: { ...process.env, STALL_RECORD: record } });
    const events = readFileSync(record, "utf8")
      .trim()
      .split("\n")
      .map((line) => JSON.parse(line) as { kind: string; ms: number; statement?: string; calls?: number });
    expect(events.filter((event) => event.kind === "late").some((event) => event.ms >= 35)).toBe(true);
    const slow = events.filter((event) => event.kind === "sqlite");
    // Statements are kept to their first 70 characters.
    expect(slow.map((event) => event.statement)).toContain(slowStatement.slice(0, 70));
    const perSecond = events.filter((event) => event.kind === "sqlite-second" && event.statement!.startsWith("with recursive"));
    expect(perSecond.reduce((calls, event) => calls + event.calls!, 0)).toBe(1);
  });

  it("refuses to run without a file to write", () => {
    const { STALL_RECORD: _unset, ...env } = process.env;
    expect(() => execFileSync(process.execPath, ["--import", RECORDER, "-e", "0"], { env, stdio: "pipe" })).toThrow(/set STALL_RECORD/);
  });
});
