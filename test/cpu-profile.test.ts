import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { profileMarkdown, summarizeCpuProfile } from "../bench/http/cpu-profile.js";

// A repository that need not exist: the summary only reads the profile.
const ROOT = "/srv/whatisup";
const folder = mkdtempSync(join(tmpdir(), "cpu-profile-"));
afterAll(() => rmSync(folder, { recursive: true, force: true }));

type Node = { id: number; functionName: string; url: string; lineNumber?: number; children?: number[] };

/** A .cpuprofile as `node --cpu-prof` writes it, from nodes, the sampled node ids and their deltas (µs). */
function writeProfile(name: string, nodes: Node[], samples: number[], timeDeltas: number[], startTime = 0): string {
  const path = join(folder, `${name}.cpuprofile`);
  const profile = {
    nodes: nodes.map(({ id, functionName, url, lineNumber = -1, children = [] }) => ({
      id,
      callFrame: { functionName, scriptId: "0", url, lineNumber, columnNumber: 0 },
      hitCount: samples.filter((sample) => sample === id).length,
      children,
    })),
    startTime,
    endTime: startTime + timeDeltas.reduce((sum, delta) => sum + delta, 0),
    samples,
    timeDeltas,
  };
  writeFileSync(path, JSON.stringify(profile));
  return path;
}

describe("summarizeCpuProfile", () => {
  // Self time: logRequest 100 + 300 + 0 = 400 µs, asJson 250, the native write under it 100,
  // the collector 150 + 100 = 250, idle 3000. Busy: 1000 µs.
  const NODES: Node[] = [
    { id: 1, functionName: "(root)", url: "", children: [2, 3, 4, 5] },
    { id: 2, functionName: "logRequest", url: `file://${ROOT}/dist/http/logging.js`, lineNumber: 9 },
    { id: 3, functionName: "asJson", url: `file://${ROOT}/node_modules/pino/lib/tools.js`, lineNumber: 142, children: [6] },
    { id: 4, functionName: "(garbage collector)", url: "" },
    { id: 5, functionName: "(idle)", url: "" },
    { id: 6, functionName: "writeString", url: "" },
  ];
  const SAMPLES = [2, 3, 2, 6, 4, 5, 4, 2];
  const DELTAS = [100, 250, 300, 100, 150, 3000, 100, 0];
  const path = writeProfile("basic", NODES, SAMPLES, DELTAS);
  const summary = summarizeCpuProfile(path, ROOT);

  it("shares busy time by category, a native frame counting as its caller's", () => {
    expect(summary.categories).toEqual([
      { category: "our code (src/)", micros: 400, share: 0.4 },
      { category: "logging (pino)", micros: 350, share: 0.35 },
      { category: "garbage collector", micros: 250, share: 0.25 },
    ]);
  });

  it("leaves idle time out of the busy time", () => {
    expect(summary.busyMicros).toBe(1000);
    expect(summary.idleMicros).toBe(3000);
    expect(summary.samples).toBe(8);
  });

  it("lists functions by self time, where relative to the repository or the package", () => {
    expect(summary.functions).toEqual([
      { name: "logRequest", where: "dist/http/logging.js:10", micros: 400, share: 0.4 },
      { name: "asJson", where: "pino/lib/tools.js:143", micros: 250, share: 0.25 },
      { name: "writeString", where: "native, from pino/lib/tools.js", micros: 100, share: 0.1 },
    ]);
    expect(summarizeCpuProfile(path, ROOT, 2).functions.map((entry) => entry.name)).toEqual(["logRequest", "asJson"]);
  });

  it("counts only the samples taken within a window, on the clock of the profile's start", () => {
    // The same samples, taken 5 s into the clock: at 5_000_100, _350, _650, _750, _900, 5_003_900 and twice 5_004_000.
    const late = writeProfile("late", NODES, SAMPLES, DELTAS, 5_000_000);
    const windowed = summarizeCpuProfile(late, ROOT, 12, { fromMicros: 5_000_300, toMicros: 5_000_950 });
    expect(windowed.samples).toBe(4);
    expect(windowed.busyMicros).toBe(800);
    expect(windowed.idleMicros).toBe(0);
    expect(windowed.categories).toEqual([
      { category: "logging (pino)", micros: 350, share: 0.4375 },
      { category: "our code (src/)", micros: 300, share: 0.375 },
      { category: "garbage collector", micros: 150, share: 0.1875 },
    ]);
    expect(summarizeCpuProfile(late, ROOT, 12, { fromMicros: 0, toMicros: 5_000_000 }).samples).toBe(0);
  });

  it("renders both tables and the busy time", () => {
    const markdown = profileMarkdown(summary, "GET /v1/limits");
    expect(markdown).toContain("### GET /v1/limits");
    expect(markdown).toContain("Busy time sampled: 1 ms in 8 samples; idle time (3 ms) is left out");
    expect(markdown).toContain("| our code (src/) | 40.0% |\n| logging (pino) | 35.0% |\n| garbage collector | 25.0% |\n");
    expect(markdown).toContain("| `logRequest` | dist/http/logging.js:10 | 40.0% |");
    expect(markdown).not.toContain("idle |");
  });
});

describe("the category rules", () => {
  it("count SQLite inside our driver, module loading as start-up, and generated code as its caller's", () => {
    const path = writeProfile(
      "rules",
      [
        { id: 1, functionName: "(root)", url: "", children: [2, 3, 4, 6, 8] },
        { id: 2, functionName: "executeQuery", url: `file://${ROOT}/dist/db/sqlite-driver.js`, lineNumber: 77 },
        { id: 3, functionName: "(program)", url: "" },
        { id: 4, functionName: "run", url: "node:internal/modules/esm/module_job", children: [5] },
        { id: 5, functionName: "", url: `file://${ROOT}/dist/app.js`, lineNumber: 0 },
        { id: 6, functionName: "serialize", url: `file://${ROOT}/node_modules/fastify/lib/reply.js`, lineNumber: 154, children: [7] },
        { id: 7, functionName: "anonymous0", url: "" },
        { id: 8, functionName: "compile", url: `file://${ROOT}/node_modules/@fastify/ajv-compiler/index.js`, lineNumber: 10, children: [9] },
        { id: 9, functionName: "emit", url: "node:events", lineNumber: 469 },
      ],
      [2, 3, 5, 7, 8, 9],
      [100, 100, 100, 100, 100, 500],
    );
    const summary = summarizeCpuProfile(path, ROOT);
    expect(Object.fromEntries(summary.categories.map((entry) => [entry.category, entry.micros]))).toEqual({
      "SQLite (better-sqlite3)": 100,
      "V8 and native (program)": 100,
      "loading modules (start-up)": 100,
      "Fastify and its parts": 200,
      "Node.js core": 500,
    });
    expect(summary.functions.map((entry) => [entry.name, entry.where])).toEqual([
      ["emit", "node:events:470"],
      ["executeQuery", "dist/db/sqlite-driver.js:78"],
      ["(anonymous)", "dist/app.js:1"],
      ["anonymous0", "native, from fastify/lib/reply.js"],
      ["compile", "@fastify/ajv-compiler/index.js:11"],
    ]);
  });
});
