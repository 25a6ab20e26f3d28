import { spawnSync } from "node:child_process";
import { afterEach, describe, expect, it, vi } from "vitest";
import { BatchedLogOutput } from "../src/http/log-output.js";

function recordingSink(): { write: (text: string) => void; writes: string[] } {
  const writes: string[] = [];
  return { write: (text) => void writes.push(text), writes };
}

describe("the batched log output", () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it("holds lines until they reach the batch size, then writes them at once, in order", () => {
    const sink = recordingSink();
    const output = new BatchedLogOutput(sink, 30, 60_000);
    output.write("first line\n");
    output.write("second line\n");
    expect(sink.writes).toEqual([]);
    output.write("third line\n");
    expect(sink.writes).toEqual(["first line\nsecond line\nthird line\n"]);
    output.write("fourth\n");
    expect(sink.writes).toHaveLength(1);
  });

  it("writes what it holds within its flush interval, and nothing when it holds nothing", () => {
    vi.useFakeTimers();
    const sink = recordingSink();
    const output = new BatchedLogOutput(sink, 4096, 100);
    output.write("a line\n");
    vi.advanceTimersByTime(99);
    expect(sink.writes).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(sink.writes).toEqual(["a line\n"]);
    vi.advanceTimersByTime(1_000);
    expect(sink.writes).toEqual(["a line\n"]);
  });

  it("when closed, writes what it holds, leaves no timer or exit listener, and writes later lines at once", () => {
    vi.useFakeTimers();
    const listeners = process.listenerCount("exit");
    const sink = recordingSink();
    const output = new BatchedLogOutput(sink, 4096, 100);
    expect(process.listenerCount("exit")).toBe(listeners + 1);
    output.write("held\n");
    output.close();
    expect(sink.writes).toEqual(["held\n"]);
    expect(process.listenerCount("exit")).toBe(listeners);
    expect(vi.getTimerCount()).toBe(0);
    output.write("after\n");
    expect(sink.writes).toEqual(["held\n", "after\n"]);
  });

  // The compiled module, as the server runs it (npm test builds first).
  const child = (ending: string) =>
    spawnSync(
      process.execPath,
      [
        "--input-type=module",
        "-e",
        `import { writeSync } from "node:fs";
         import { BatchedLogOutput } from "${new URL("../dist/http/log-output.js", import.meta.url).href}";
         const output = new BatchedLogOutput({ write: (text) => writeSync(1, text) }, 4096, 60000);
         output.write("held line\\n");
         ${ending}`,
      ],
      { encoding: "utf8", timeout: 10_000 },
    );

  it("writes what it holds when the process exits, by process.exit or by a crash", () => {
    const exited = child("process.exit(3);");
    expect(exited.status).toBe(3);
    expect(exited.stdout).toBe("held line\n");
    const crashed = child(`throw new Error("boom");`);
    expect(crashed.status).toBe(1);
    expect(crashed.stdout).toBe("held line\n");
    expect(crashed.stderr).toContain("boom");
  });

  it("does not hold a process open: one with nothing else to do ends, and writes what it held", () => {
    const ended = child("");
    expect(ended.status).toBe(0);
    expect(ended.stdout).toBe("held line\n");
  });
});
