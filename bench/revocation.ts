import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { availableParallelism } from "node:os";
import { performance } from "node:perf_hooks";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { freePorts } from "../test/helpers/free-ports.js";
import { benchSchemaName, dropPostgresSchema } from "./postgres-schema.js";

/**
 * Revocation across three real API nodes on one PostgreSQL: how often a key revoked through node
 * A is still served by B or C right after A answered the DELETE, and how long that DELETE takes.
 *
 * Each round: issue a key through A, have B and C verify it (so both hold it in their caches),
 * revoke it through A (timed), then at once ask B and C with it. A round is "served" on a node
 * that answered 200: it had not yet evicted the key when the revoker was told it was gone.
 *
 *   npm run build && npm run bench:revocation
 *
 * Environment:
 *   TEST_DATABASE_URL  PostgreSQL server (default postgres://postgres@127.0.0.1:5432/test); a
 *                      fresh schema is made on it and dropped at the end
 *   TEST_REDIS_URL     optional: the nodes share their rate-limit buckets through it
 *   BENCH_ROUNDS       rounds per mode (default 1000)
 *   BENCH_MODES        comma-separated, of quiet and loaded (default quiet,loaded)
 *   BENCH_BACKGROUND   1: loaded only, 0: quiet only (when BENCH_MODES is not set)
 *
 * The nodes are the compiled server (dist/): run `npm run build` first. The machine this was
 * written for has two cores and is shared, so the nodes are pinned to core 0 and this process
 * (the load generator) to core 1: they do not compete for one core, and a run is comparable with
 * the next. Read the numbers as a comparison between two builds on the same machine, not as
 * absolute latencies.
 */

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const CLI = fileURLToPath(new URL("../dist/cli/main.js", import.meta.url));

const DATABASE_URL = process.env.TEST_DATABASE_URL || "postgres://postgres@127.0.0.1:5432/test";
const REDIS_URL = process.env.TEST_REDIS_URL || null;
const ROUNDS = positiveInteger("BENCH_ROUNDS", 1000);
const MODES = readModes();
/** Untimed rounds before the first mode: JIT, pools and connections warm, not counted. */
const WARMUP_ROUNDS = 20;
/** Loaded mode: this many request loops run beside the rounds, half on B and half on C. */
const BACKGROUND_LOOPS = 8;
/** A request that takes longer than this means something is stuck: fail rather than hang. */
const REQUEST_TIMEOUT_MS = 10_000;
const START_TIMEOUT_MS = 30_000;
/** After SIGTERM a node has this long to shut down gracefully before SIGKILL. */
const KILL_GRACE_MS = 5_000;

/** Far above anything the bench does: no 429 may ever count as a refusal. */
const UNLIMITED = "1000000000";

type Mode = "quiet" | "loaded";

type Node = {
  name: string;
  url: string;
  process: ChildProcess;
  /** The last lines it printed (stderr and stdout), for when it dies. */
  output: string[];
  /** Set once the bench itself stops it, so that its exit is not reported as a death. */
  stopping: boolean;
};

type Reply = { status: number; body: unknown };

type Issued = { id: string; secret: string };

type ModeResult = {
  mode: Mode;
  rounds: number;
  servedOnB: number;
  servedOnC: number;
  servedOnEither: number;
  deleteMs: number[];
  /** Answers to a revoked key that were neither 200 nor 401 auth_expired: reported, never hidden. */
  unexpected: string[];
  background: { requests: number; failed: number; seconds: number } | null;
};

function positiveInteger(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === "") return fallback;
  if (!/^\d+$/.test(raw) || Number(raw) < 1) throw new Error(`${name} must be a whole number from 1, got "${raw}"`);
  return Number(raw);
}

function readModes(): Mode[] {
  const raw = process.env.BENCH_MODES;
  if (raw === undefined || raw === "") {
    if (process.env.BENCH_BACKGROUND === "1") return ["loaded"];
    if (process.env.BENCH_BACKGROUND === "0") return ["quiet"];
    return ["quiet", "loaded"];
  }
  const modes = raw.split(",").map((mode) => mode.trim());
  for (const mode of modes) {
    if (mode !== "quiet" && mode !== "loaded") throw new Error(`BENCH_MODES: unknown mode "${mode}" (quiet, loaded)`);
  }
  return modes as Mode[];
}

const sleep = (ms: number) => new Promise((resolvePromise) => setTimeout(resolvePromise, ms));

function log(line: string): void {
  console.error(`[bench:revocation] ${line}`);
}

/** Whether `taskset` can be run here (util-linux; absent on macOS and slim images). */
function hasTaskset(): boolean {
  try {
    execFileSync("taskset", ["--version"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

/**
 * Moves this process to core 1, leaving core 0 to the nodes. `-a`: every thread of it, not
 * only the main one (V8's and libuv's threads already exist by now; later ones inherit).
 */
function pinSelf(taskset: boolean): string {
  if (!taskset) return "not pinned (no taskset)";
  if (availableParallelism() < 2) return "not pinned (one core)";
  try {
    execFileSync("taskset", ["-a", "-cp", "1", String(process.pid)], { stdio: "ignore" });
    return "nodes on core 0, load generator on core 1";
  } catch (error) {
    return `not pinned (taskset failed: ${(error as Error).message})`;
  }
}

function alive(node: Node): boolean {
  return node.process.exitCode === null && node.process.signalCode === null;
}

function exitOf(node: Node): string {
  return node.process.signalCode ? `killed by ${node.process.signalCode}` : `exit code ${node.process.exitCode}`;
}

function tail(node: Node): string {
  if (node.output.length === 0) return `(node ${node.name} printed nothing)`;
  return `--- ${node.name} output (last ${node.output.length} lines) ---\n${node.output.join("\n")}\n--- end of ${node.name} ---`;
}

/** Throws if any node is no longer running (its "close" handler prints why). */
function requireAlive(nodes: Node[]): void {
  for (const node of nodes) {
    if (!alive(node)) throw new Error(`node ${node.name} is not running (${exitOf(node)}); its output is above`);
  }
}

/**
 * Starts `whatisup serve` on `port` (pinned to core 0 when it can be) and waits for /healthz.
 * The port is chosen here because with LOG_LEVEL=warn the server does not print its address.
 */
async function startNode(name: string, port: number, env: NodeJS.ProcessEnv, pinned: boolean, started: Node[]): Promise<Node> {
  const [command, args] = pinned
    ? ["taskset", ["-c", "0", process.execPath, CLI, "serve"]]
    : [process.execPath, [CLI, "serve"]];
  // taskset execs node in place: the child's pid is the server's, and signals reach it.
  const child = spawn(command, args, { env: { ...env, PORT: String(port) }, stdio: ["ignore", "pipe", "pipe"] });
  const node: Node = { name, url: `http://127.0.0.1:${port}`, process: child, output: [], stopping: false };
  started.push(node);
  for (const [stream, label] of [
    [child.stdout!, "out"],
    [child.stderr!, "err"],
  ] as const) {
    createInterface({ input: stream }).on("line", (line) => {
      node.output.push(`${label}| ${line.length > 1000 ? `${line.slice(0, 1000)}…` : line}`);
      if (node.output.length > 60) node.output.shift();
    });
  }
  // A death is said as soon as it happens, with the node's last words, whatever the bench was
  // doing. Whether it was expected is decided at the exit; the words are printed at "close",
  // once its output has been read to the end.
  child.once("exit", () => {
    if (node.stopping) return;
    child.once("close", () => log(`node ${name} died (${exitOf(node)})\n${tail(node)}`));
  });

  const deadline = performance.now() + START_TIMEOUT_MS;
  for (;;) {
    if (!alive(node)) throw new Error(`node ${name} exited at start (${exitOf(node)}); its output is above`);
    const healthy = await fetch(`${node.url}/healthz`, { signal: AbortSignal.timeout(1_000) }).then(
      async (response) => {
        await response.arrayBuffer();
        return response.ok;
      },
      () => false,
    );
    if (healthy) return node;
    if (performance.now() > deadline) throw new Error(`node ${name} did not start within ${START_TIMEOUT_MS} ms\n${tail(node)}`);
    await sleep(50);
  }
}

/** SIGTERM (a graceful stop), then SIGKILL for whatever still runs after KILL_GRACE_MS. */
async function stopNodes(nodes: Node[]): Promise<void> {
  await Promise.all(
    nodes.map(async (node) => {
      node.stopping = true;
      if (!alive(node)) return;
      const exited = new Promise((resolvePromise) => node.process.once("exit", resolvePromise));
      node.process.kill("SIGTERM");
      const timer = setTimeout(() => {
        if (alive(node)) {
          log(`node ${node.name} still running ${KILL_GRACE_MS} ms after SIGTERM: SIGKILL`);
          node.process.kill("SIGKILL");
        }
      }, KILL_GRACE_MS);
      await exited;
      clearTimeout(timer);
    }),
  );
}

/** Runs `whatisup ARGS` (the compiled CLI) to its end. */
function runCli(args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [CLI, ...args], { env, stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (chunk) => (stdout += chunk));
  child.stderr.on("data", (chunk) => (stderr += chunk));
  return new Promise((resolvePromise, reject) => {
    child.once("error", reject);
    // "close", not "exit": the child's output can still be in its pipes when it has exited.
    child.once("close", (code) => resolvePromise({ code, stdout, stderr }));
  });
}

/**
 * One request through the global fetch (undici): it keeps connections alive per origin, so a
 * round's requests reuse warm connections and the timings hold no TCP handshakes. The body is
 * always read in full, so that the connection goes back to the pool.
 */
async function call(node: Node, method: string, path: string, secret: string, body?: unknown): Promise<Reply> {
  const response = await fetch(`${node.url}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${secret}`,
      ...(body === undefined ? {} : { "content-type": "application/json" }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
  });
  const text = await response.text();
  let parsed: unknown = text;
  try {
    parsed = text === "" ? null : JSON.parse(text);
  } catch {
    // not JSON: kept as text for the error message
  }
  return { status: response.status, body: parsed };
}

function describeReply(reply: Reply): string {
  return `${reply.status} ${typeof reply.body === "string" ? reply.body : JSON.stringify(reply.body)}`.slice(0, 300);
}

function errorCode(reply: Reply): unknown {
  const body = reply.body as { error?: { code?: unknown } } | null;
  return body?.error?.code;
}

/** Nearest-rank percentile: the smallest value with at least p% of the values at or below it. */
function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.max(0, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

type Cluster = { A: Node; B: Node; C: Node; admin: Issued };

/** Issues a key through A and has B and C verify it: both now hold it in their caches. */
async function keyWarmOnBAndC(cluster: Cluster, name: string): Promise<Issued> {
  const issued = await call(cluster.A, "POST", "/v1/api-keys", cluster.admin.secret, { name });
  if (issued.status !== 201) throw new Error(`POST /v1/api-keys on A: ${describeReply(issued)}`);
  const key = issued.body as Issued;
  for (const node of [cluster.B, cluster.C]) {
    // GET /v1/limits: authenticated, and reads nothing but the key (no database read once cached).
    const warm = await call(node, "GET", "/v1/limits", key.secret);
    if (warm.status !== 200) throw new Error(`warming ${node.name} with a fresh key: ${describeReply(warm)}`);
  }
  return key;
}

/** One round; returns what B and C answered right after A's 204, and how long the DELETE took. */
async function round(cluster: Cluster, name: string): Promise<{ deleteMs: number; b: Reply; c: Reply }> {
  const key = await keyWarmOnBAndC(cluster, name);
  const began = performance.now();
  const revoked = await call(cluster.A, "DELETE", `/v1/api-keys/${key.id}`, cluster.admin.secret);
  const deleteMs = performance.now() - began;
  if (revoked.status !== 204) throw new Error(`DELETE /v1/api-keys/${key.id} on A: ${describeReply(revoked)}`);
  // Both at once, the moment the revoker has its answer: what a client elsewhere would see.
  const [b, c] = await Promise.all([cluster.B, cluster.C].map((node) => call(node, "GET", "/v1/limits", key.secret)));
  return { deleteMs, b: b!, c: c! };
}

/**
 * Loaded mode's other traffic: loops of GET /v1/api-keys (authenticated, and a database read)
 * with the admin key on B and C, so that the nodes that must hear the revocation are busy.
 */
function startBackground(cluster: Cluster): () => Promise<{ requests: number; failed: number; seconds: number }> {
  let stopped = false;
  let requests = 0;
  let failed = 0;
  const began = performance.now();
  const loops = Array.from({ length: BACKGROUND_LOOPS }, async (_, index) => {
    const node = index % 2 === 0 ? cluster.B : cluster.C;
    while (!stopped) {
      try {
        const reply = await call(node, "GET", "/v1/api-keys", cluster.admin.secret);
        requests += 1;
        if (reply.status !== 200) failed += 1;
      } catch {
        // A dead node is reported by the rounds; here, only do not spin on it.
        failed += 1;
        await sleep(100);
      }
    }
  });
  return async () => {
    stopped = true;
    await Promise.all(loops);
    return { requests, failed, seconds: (performance.now() - began) / 1000 };
  };
}

async function runMode(cluster: Cluster, mode: Mode, signal: { aborted: string | null }): Promise<ModeResult> {
  const result: ModeResult = {
    mode,
    rounds: 0,
    servedOnB: 0,
    servedOnC: 0,
    servedOnEither: 0,
    deleteMs: [],
    unexpected: [],
    background: null,
  };
  const stopBackground = mode === "loaded" ? startBackground(cluster) : null;
  try {
    // Let the background loops reach their steady state before the first timed round.
    if (stopBackground) await sleep(300);
    const began = performance.now();
    for (let index = 0; index < ROUNDS; index += 1) {
      if (signal.aborted) throw new Error(`stopped by ${signal.aborted}`);
      requireAlive([cluster.A, cluster.B, cluster.C]);
      const { deleteMs, b, c } = await round(cluster, `${mode}-${index}`);
      result.rounds += 1;
      result.deleteMs.push(deleteMs);
      if (b.status === 200) result.servedOnB += 1;
      if (c.status === 200) result.servedOnC += 1;
      if (b.status === 200 || c.status === 200) result.servedOnEither += 1;
      for (const [node, reply] of [
        ["B", b],
        ["C", c],
      ] as const) {
        if (reply.status !== 200 && !(reply.status === 401 && errorCode(reply) === "auth_expired")) {
          result.unexpected.push(`round ${index}, ${node}: ${describeReply(reply)}`);
        }
      }
      if ((index + 1) % 250 === 0) {
        log(`${mode}: ${index + 1}/${ROUNDS} rounds, ${result.servedOnEither} served, ${((performance.now() - began) / 1000).toFixed(1)} s`);
      }
    }
  } finally {
    if (stopBackground) result.background = await stopBackground();
  }
  return result;
}

function table(results: ModeResult[]): string {
  const ms = (value: number) => value.toFixed(2);
  const lines = [
    "| mode | rounds | served (B or C) | served on B | served on C | DELETE p50 ms | p90 ms | p99 ms | max ms |",
    "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
  ];
  for (const result of results) {
    const latencies = result.deleteMs;
    lines.push(
      `| ${result.mode} | ${result.rounds} | ${result.servedOnEither} | ${result.servedOnB} | ${result.servedOnC} | ` +
        `${ms(percentile(latencies, 50))} | ${ms(percentile(latencies, 90))} | ${ms(percentile(latencies, 99))} | ` +
        `${ms(Math.max(...latencies))} |`,
    );
  }
  const notes: string[] = [];
  for (const result of results) {
    if (result.background) {
      const { requests, failed, seconds } = result.background;
      notes.push(
        `${result.mode}: background ${BACKGROUND_LOOPS} loops of GET /v1/api-keys on B and C, ` +
          `${requests} requests (${(requests / seconds).toFixed(0)}/s), ${failed} not 200`,
      );
    }
    if (result.unexpected.length > 0) {
      notes.push(`${result.mode}: ${result.unexpected.length} answers to a revoked key neither 200 nor 401 auth_expired:`);
      notes.push(...result.unexpected.slice(0, 10).map((line) => `  ${line}`));
    }
  }
  return [...lines, ...(notes.length ? ["", ...notes] : [])].join("\n");
}

function commitOf(): string {
  try {
    return execFileSync("git", ["rev-parse", "--short", "HEAD"], { cwd: ROOT, encoding: "utf8" }).trim();
  } catch {
    return "unknown";
  }
}

async function main(): Promise<void> {
  const taskset = hasTaskset();
  const pinning = pinSelf(taskset);
  const pinned = pinning.startsWith("nodes on core 0");

  // Should this process die before dropping it, the PostgreSQL tests' global setup drops it.
  const schema = benchSchemaName();
  // Only what the nodes need: none of the developer's own DATABASE_URL, pepper or API settings.
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    HOST: "127.0.0.1",
    DATABASE_URL,
    DATABASE_SCHEMA: schema,
    // One pepper for the three nodes and the CLI: PostgreSQL mode refuses to invent one per node.
    WHATISUP_KEY_PEPPER: randomBytes(32).toString("hex"),
    ...(REDIS_URL ? { REDIS_URL, REDIS_KEY_PREFIX: `wbench_${process.pid}_${randomBytes(6).toString("hex")}` } : {}),
    LOG_LEVEL: "warn",
    RATE_LIMIT_BURST: UNLIMITED,
    RATE_LIMIT_REFILL_PER_SEC: UNLIMITED,
    CUSTOMER_RATE_LIMIT_BURST: UNLIMITED,
    CUSTOMER_RATE_LIMIT_REFILL_PER_SEC: UNLIMITED,
    // Every probe with a revoked key is an authentication failure: they must never be throttled.
    AUTH_FAILURE_BURST: UNLIMITED,
    AUTH_FAILURE_REFILL_PER_SEC: UNLIMITED,
  };

  // On stdout with the table: the numbers mean little without the build and setup they came from.
  console.log(
    `commit ${commitOf()}, node ${process.version}, ${ROUNDS} rounds per mode (${MODES.join(", ")}), ` +
      `redis ${REDIS_URL ? "yes" : "no"}, ${pinning}\n`,
  );
  log(`schema ${schema}`);

  const signal: { aborted: string | null } = { aborted: null };
  const onSignal = (name: NodeJS.Signals) => {
    signal.aborted = name;
  };
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);

  const started: Node[] = [];
  let failed = false;
  try {
    // All three at once on the empty schema, as a deployment starts: they race to migrate it.
    const ports = await freePorts(3);
    const [A, B, C] = await Promise.all(
      ["A", "B", "C"].map((name, index) => startNode(name, ports[index]!, env, pinned, started)),
    );
    const created = await runCli(["customers", "create", "--name", "Revocation bench", "--json"], env);
    if (created.code !== 0) throw new Error(`customers create failed (${created.code}):\n${created.stderr}`);
    const { api_key } = JSON.parse(created.stdout) as { api_key: Issued };
    const cluster: Cluster = { A: A!, B: B!, C: C!, admin: { id: api_key.id, secret: api_key.secret } };

    for (let index = 0; index < WARMUP_ROUNDS; index += 1) await round(cluster, `warmup-${index}`);

    const results: ModeResult[] = [];
    for (const mode of MODES) results.push(await runMode(cluster, mode, signal));
    console.log(table(results));
  } catch (error) {
    failed = true;
    // fetch's own message is only "fetch failed": the reason (ECONNREFUSED, a timeout) is its cause.
    const cause = error instanceof Error && error.cause !== undefined ? `\ncaused by: ${String(error.cause)}` : "";
    console.error(`[bench:revocation] failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}${cause}`);
    // A request to a node that just died can fail before its exit is seen here: wait for that
    // exit, so that the node is reported as dead (with its output) rather than stopped by us.
    await sleep(500);
  } finally {
    await stopNodes(started);
    // Once no node uses it any more.
    await dropPostgresSchema(DATABASE_URL, schema).catch((error: Error) => {
      failed = true;
      console.error(`[bench:revocation] could not drop schema ${schema}: ${error.message}`);
    });
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
  }
  if (failed) process.exitCode = 1;
}

await main();
