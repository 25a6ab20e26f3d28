/**
 * What the HTTP benchmarks share: starting servers pinned to core 0, driving them with wrk pinned
 * to core 1, and reading the server's CPU time from /proc around each run.
 */
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";

const CLOCK_TICKS_PER_SECOND = Number(execFileSync("getconf", ["CLK_TCK"]).toString().trim());
export const CONNECTIONS = 32;

function has(command: string): boolean {
  try {
    execFileSync("sh", ["-c", `command -v ${command}`], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

if (!has("wrk")) throw new Error("the HTTP benchmarks need wrk (Debian: apt-get install -y wrk)");
export const pinned = has("taskset");
export const onCore = (core: number, command: string[]) => (pinned ? ["taskset", "-c", String(core), ...command] : command);

const sleep = (ms: number) => new Promise((resolvePromise) => setTimeout(resolvePromise, ms));

export async function waitForHealth(port: number, process: ChildProcess): Promise<void> {
  for (let attempt = 0; attempt < 300; attempt += 1) {
    if (process.exitCode !== null) throw new Error(`a server exited with ${process.exitCode}`);
    // Any answer short of a 5xx means the server listens.
    const up = await fetch(`http://127.0.0.1:${port}/healthz`).then(
      (answer) => answer.status < 500,
      () => false,
    );
    if (up) return;
    await sleep(50);
  }
  throw new Error(`nothing answered on port ${port}`);
}

export function start(command: string[], env: NodeJS.ProcessEnv): ChildProcess {
  return spawn(command[0]!, command.slice(1), { env, stdio: ["ignore", "ignore", "inherit"] });
}

/** User and system CPU time so far, in microseconds, from a `stat` file of /proc. */
function statCpuMicros(path: string): number {
  const fields = readFileSync(path, "utf8").split(") ")[1]!.split(" ");
  // After "pid (comm) ", utime and stime are the 12th and 13th fields.
  const ticks = Number(fields[11]) + Number(fields[12]);
  return (ticks / CLOCK_TICKS_PER_SECOND) * 1e6;
}

const cpuMicros = (pid: number) => statCpuMicros(`/proc/${pid}/stat`);

/** The CPU time of a process so far, in microseconds: its main thread's and its other threads'. */
export function threadCpuMicros(pid: number): { main: number; others: number } {
  let others = 0;
  for (const thread of readdirSync(`/proc/${pid}/task`)) {
    if (Number(thread) !== pid) others += statCpuMicros(`/proc/${pid}/task/${thread}/stat`);
  }
  return { main: statCpuMicros(`/proc/${pid}/task/${pid}/stat`), others };
}

/** `keys`: how many keys it sends in turn (0 or 1 for none or one), which sets its warm-up. */
export type Scenario = { name: string; port: number; pid: number; path: string; script: string; keys: number };
export type Run = { requests: number; perSecond: number; p99Ms: number; cpuMicrosPerRequest: number };

/** One wrk run of a scenario; any answer but a 2xx fails the benchmark. */
export function runWrk(scenario: Scenario, seconds: number): Run {
  const pid = scenario.pid;
  const before = cpuMicros(pid);
  const url = `http://127.0.0.1:${scenario.port}${scenario.path}`;
  const [command, ...args] = onCore(1, ["wrk", "-t1", `-c${CONNECTIONS}`, `-d${seconds}s`, "--latency", "-s", scenario.script, url]);
  const output = execFileSync(command!, args).toString();
  const used = cpuMicros(pid) - before;
  const requests = Number(/(\d+) requests in/.exec(output)?.[1]);
  const non2xx = Number(/Non-2xx or 3xx responses: (\d+)/.exec(output)?.[1] ?? 0);
  if (!(requests > 0) || non2xx > 0) throw new Error(`${scenario.name}: ${non2xx} failed answers\n${output}`);
  const p99 = /99%\s+([\d.]+)(us|ms|s)/.exec(output);
  const p99Ms = p99 ? Number(p99[1]) * { us: 0.001, ms: 1, s: 1000 }[p99[2] as "us" | "ms" | "s"] : Number.NaN;
  return { requests, perSecond: requests / seconds, p99Ms, cpuMicrosPerRequest: used / requests };
}

export const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
};

export async function createInstance(port: number, secret: string): Promise<{ id: string }> {
  const answer = await fetch(`http://127.0.0.1:${port}/v1/instances`, {
    method: "POST",
    headers: { authorization: `Bearer ${secret}`, "content-type": "application/json" },
    body: JSON.stringify({ name: "bench" }),
  });
  if (answer.status !== 201) throw new Error(`creating the bench instance: ${answer.status} ${await answer.text()}`);
  return answer.json() as Promise<{ id: string }>;
}
