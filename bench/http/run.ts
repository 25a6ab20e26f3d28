/**
 * `npm run bench:http` (after `npm run build`): the cost of a request over real sockets, as CPU
 * time of the server process per request, next to the naive floor (bench/http/floor-server.mjs)
 * and to our own /healthz, measured in the same run. wrk drives each server over loopback with
 * keep-alive connections; with `taskset` the server runs on core 0 and wrk on core 1. Scenarios
 * alternate in every round (forwards, then backwards) and the medians of the rounds are reported,
 * with each round's ratios taken within that round. Writes BENCHMARKS.md.
 *
 *   BENCH_ROUNDS (default 5), BENCH_SECONDS per scenario and round (default 5),
 *   BENCH_KEYS keys in rotation for the "many keys" rows (default 10000),
 *   BENCH_STORED: when set (e.g. 1000000), that many keys are written straight into the database
 *   before the server starts, and two more rows rotate 1,000 and 100,000 of them, drawn at random
 *   and sent in random order; the report then gives the server's resident memory too.
 *   BENCH_POSTGRES_URL: when set (e.g. postgres://postgres@127.0.0.1:5432/test), the write rows run
 *   a second time on a server using that PostgreSQL database, in a schema of their own that is
 *   dropped afterwards.
 *   BENCH_BETTER_AUTH=1: installs better-auth and its API-key plugin into a temporary folder
 *   (bench/http/better-auth/setup.ts) and adds a server built on it to the rounds, beside ours.
 * Where a target is missed, our server runs once more under `--cpu-prof` for that row, and the
 * report shows where its time went (bench/http/cpu-profile.ts); where the p99 of 100,000 keys in
 * rotation is missed, it runs that row once more with bench/http/stall-recorder.mjs loaded, and the
 * report shows what held its event loop (bench/http/stall-report.ts).
 */
import { execFileSync, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import { join, resolve } from "node:path";
import Database from "better-sqlite3";
import { KeyDigester } from "../../src/crypto/key-digest.js";
import { displayPrefix, generateKey } from "../../src/crypto/key-format.js";
import { newId } from "../../src/ids/uuid-v7.js";
import { freePorts } from "../../test/helpers/free-ports.js";
import { benchSchemaName, dropPostgresSchema } from "../postgres-schema.js";
import { keepInSample, shuffle } from "../random-sample.js";
import { betterAuthServer, prepareBetterAuth } from "./better-auth/setup.js";
import { monotonicMicros, profileMarkdown, summarizeCpuProfile } from "./cpu-profile.js";
import { stallReport } from "./stall-report.js";
import { CONNECTIONS, createInstance, median, onCore, pinned, runWrk, start, threadCpuMicros, waitForHealth, type Run, type Scenario } from "./harness.js";

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const KEYS = Number(process.env.BENCH_KEYS ?? 10_000);
const STORED = Number(process.env.BENCH_STORED ?? 0);
const POSTGRES_URL = process.env.BENCH_POSTGRES_URL ?? "";
const BETTER_AUTH = process.env.BENCH_BETTER_AUTH === "1";
const LARGE_ROTATIONS = [1_000, 100_000];
const BETTER_AUTH_ROW = "better-auth: GET /v1/limits, one key";
const QUIET_ROW = "ours at LOG_LEVEL=warn: GET /v1/limits, one cached key";
const ROOT = resolve(import.meta.dirname, "../..");
const CLI = join(ROOT, "dist/cli/main.js");

/**
 * Writes `count` keys of the customer straight into the SQLite file, in the shape issuing them
 * would have (digest under the pepper, display prefix, `["*"]`), a million in well under a
 * minute. Returns the secrets of the first `first` (the floor server loads the oldest keys), and
 * of `sampled` keys drawn at random from all of them, in random order: a server's keys in use are
 * spread over its table and used in no order, and the first keys stored, sent in the order they
 * were stored, touch neighbouring rows only. 100,000 of those ran at 13,664 requests a second
 * where 100,000 drawn at random ran at 7,101 (docs/performance.md, eleventh part).
 */
function bulkLoadKeys(path: string, pepper: string, customerId: string, count: number, first: number, sampled: number): { first: string[]; sample: string[] } {
  const sqlite = new Database(path);
  const insert = sqlite.prepare(
    "insert into api_keys (id, customer_id, instance_id, name, prefix, digest, scopes, expires_at, created_at, revoked_at) values (?, ?, null, 'bulk', ?, ?, '[\"*\"]', null, ?, null)",
  );
  const digester = new KeyDigester(pepper);
  const kept: string[] = [];
  const sample: string[] = [];
  let written = 0;
  const createdAt = new Date().toISOString();
  const batch = sqlite.transaction((size: number) => {
    for (let index = 0; index < size; index += 1) {
      const secret = generateKey();
      written += 1;
      if (kept.length < first) kept.push(secret);
      keepInSample(sample, sampled, secret, written);
      insert.run(newId(), customerId, displayPrefix(secret), digester.digest(secret), createdAt);
    }
  });
  for (let done = 0; done < count; done += 50_000) batch(Math.min(50_000, count - done));
  sqlite.prepare("update customers set unrevoked_keys = unrevoked_keys + ? where id = ?").run(count, customerId);
  sqlite.close();
  shuffle(sample);
  return { first: kept, sample };
}

function residentMegabytes(pid: number): number {
  const line = readFileSync(`/proc/${pid}/status`, "utf8").split("\n").find((entry) => entry.startsWith("VmRSS:"));
  return Number(/(\d+)/.exec(line ?? "")?.[1]) / 1024;
}

/**
 * Runs a scenario long enough for every key in rotation to be used (and cached) before anything is
 * counted: 2 s, or 1 s per 5,000 keys, and longer if that run did not reach every key. One run must
 * reach them all, since wrk starts its rotation over with each run.
 */
function warmUp(scenario: Scenario): void {
  let seconds = Math.max(2, Math.ceil(scenario.keys / 5_000));
  for (let run = runWrk(scenario, seconds); run.requests < scenario.keys; run = runWrk(scenario, seconds)) {
    seconds = Math.ceil((seconds * scenario.keys) / run.requests) + 1;
  }
}

const largeRow = (inUse: number) => `ours: GET /v1/limits, ${inUse} of ${STORED} stored keys (drawn at random) in rotation`;

/** The rows of the BENCH_STORED scenarios: 100,000 keys in rotation against 1,000, p99, memory. */
function largeReport(runs: Map<string, Run[]>, afterReadsMb: number, afterWritesMb: number): string {
  const [few, many] = LARGE_ROTATIONS.map((count) => runs.get(largeRow(count))!);
  const throughput = median(many!.map((run) => run.perSecond)) / median(few!.map((run) => run.perSecond));
  const p99 = median(many!.map((run) => run.p99Ms));
  return `| ${LARGE_ROTATIONS[1]} of ${STORED} stored keys in rotation: throughput against ${LARGE_ROTATIONS[0]} in rotation | ${throughput.toFixed(2)} | ${throughput >= 0.9 ? "yes" : "no"} (target: at least 0.9) |
| the same: p99 | ${p99.toFixed(2)} ms | ${p99 < 15 ? "yes" : "no"} (target: under 15 ms) |
| resident memory of the server after the read rows (${STORED} stored, the last row's ${LARGE_ROTATIONS[1]} in use) | ${afterReadsMb.toFixed(0)} MB | ${afterReadsMb < 300 ? "yes" : "no"} (target: under 300 MB) |
| the same server after the write rows too (tens of thousands of keys issued, messages sent) | ${afterWritesMb.toFixed(0)} MB | (no target) |
`;
}

async function main(): Promise<void> {
  const folder = mkdtempSync(join(tmpdir(), "whatisup-bench-"));
  const servers: ChildProcess[] = [];
  try {
    const databasePath = join(folder, "whatisup.db");
    const [ourPort, floorPort, postgresPort, betterAuthPort, profilePort, quietPort] = await freePorts(6);
    const env = {
      ...process.env,
      DATABASE_URL: `sqlite:${databasePath}`,
      DATABASE_PATH: databasePath,
      WHATISUP_KEY_PEPPER: randomBytes(32).toString("base64"),
      LOG_LEVEL: "info",
      RATE_LIMIT_BURST: "1000000000",
      RATE_LIMIT_REFILL_PER_SEC: "1000000000",
      CUSTOMER_RATE_LIMIT_BURST: "1000000000",
      CUSTOMER_RATE_LIMIT_REFILL_PER_SEC: "1000000000",
      // The write rows issue tens of thousands of keys; their sends stay queued (the sandbox
      // would otherwise move them during later rows and bill those rows for it).
      MAX_ACTIVE_KEYS: "10000000",
      SANDBOX_STEP_MS: "3600000",
    };
    const created = JSON.parse(execFileSync(process.execPath, [CLI, "customers", "create", "--name", "Bench", "--json"], { env }).toString());
    const admin = created.api_key.secret as string;
    // The write rows issue with a customer of their own, so that the tens of thousands of keys they
    // leave behind are none of the read rows' customer's.
    const writer = JSON.parse(execFileSync(process.execPath, [CLI, "customers", "create", "--name", "Bench writes", "--json"], { env }).toString())
      .api_key.secret as string;
    let secrets: string[] = [];
    let sampledSecrets: string[] = [];
    if (STORED > 0) {
      const startedAt = Date.now();
      ({ first: secrets, sample: sampledSecrets } = bulkLoadKeys(
        databasePath,
        env.WHATISUP_KEY_PEPPER,
        created.customer.id as string,
        STORED,
        KEYS,
        Math.max(...LARGE_ROTATIONS),
      ));
      console.log(`wrote ${STORED} keys in ${((Date.now() - startedAt) / 1000).toFixed(1)} s`);
    }

    const ours = start(onCore(0, [process.execPath, CLI, "serve"]), { ...env, PORT: String(ourPort) });
    servers.push(ours);
    await waitForHealth(ourPort!, ours);
    // The same server logging only warnings: what our request line costs is the difference.
    const quiet = start(onCore(0, [process.execPath, CLI, "serve"]), { ...env, PORT: String(quietPort), LOG_LEVEL: "warn" });
    servers.push(quiet);
    await waitForHealth(quietPort!, quiet);
    // The instance the send row sends from, made now: a connection kept from here until after the
    // read rows would be one the server has long closed.
    const instance = await createInstance(ourPort!, writer);
    if (STORED === 0) console.log(`issuing ${KEYS} keys…`);
    for (let batch = 0; STORED === 0 && batch < KEYS; batch += 50) {
      const issued = await Promise.all(
        Array.from({ length: Math.min(50, KEYS - batch) }, () =>
          fetch(`http://127.0.0.1:${ourPort}/v1/api-keys`, {
            method: "POST",
            headers: { authorization: `Bearer ${admin}`, "content-type": "application/json" },
            body: JSON.stringify({ name: "bench" }),
          }).then((answer) => answer.json() as Promise<{ secret: string }>),
        ),
      );
      secrets.push(...issued.map((key) => key.secret));
    }
    // The floor loads keys oldest first: the two customers' first keys, then those its rows send.
    const floorKeys = String(KEYS + 2);
    const floor = start(onCore(0, [process.execPath, join(ROOT, "bench/http/floor-server.mjs")]), { ...env, PORT: String(floorPort), FLOOR_KEYS: floorKeys });
    servers.push(floor);
    // The floor has no /healthz: its 404 says it is up.
    await waitForHealth(floorPort!, floor);
    let betterAuth: { pid: number; script: string } | undefined;
    let betterAuthVersions = "";
    if (BETTER_AUTH) {
      console.log("installing better-auth into a temporary folder…");
      const prepared = await prepareBetterAuth({ folder: join(folder, "better-auth"), keys: 1 });
      betterAuthVersions = Object.entries(prepared.versions).map(([name, version]) => `${name} ${version}`).join(", ");
      const { command, env: betterAuthEnv } = betterAuthServer(prepared, betterAuthPort!);
      const server = start(onCore(0, command), { ...process.env, ...betterAuthEnv });
      servers.push(server);
      await waitForHealth(betterAuthPort!, server);
      const key = readFileSync(prepared.keysFile, "utf8").trim();
      betterAuth = { pid: server.pid!, script: join(folder, "better-auth-key.lua") };
      writeFileSync(betterAuth.script, `wrk.headers["Authorization"] = "Bearer ${key}"\n`);
    }

    const script = (name: string, body: string) => {
      const path = join(folder, `${name}.lua`);
      writeFileSync(path, body);
      return path;
    };
    /** A wrk script that sends the first `count` of `from` in turn. */
    const rotation = (count: number, from: string[], name: string) => {
      const keysFile = join(folder, `${name}-${count}.txt`);
      writeFileSync(keysFile, `${from.slice(0, count).join("\n")}\n`);
      return script(
        `${name}-${count}`,
        `local keys = {}
for line in io.lines("${keysFile}") do keys[#keys + 1] = line end
local turn = 0
request = function()
  turn = turn % #keys + 1
  return wrk.format("GET", nil, { ["Authorization"] = "Bearer " .. keys[turn] })
end
`,
      );
    };
    const none = script("none", "");
    const oneKey = script("one-key", `wrk.headers["Authorization"] = "Bearer ${admin}"\n`);
    const manyKeys = rotation(KEYS, secrets, "oldest");
    const scenarios: Scenario[] = [
      { name: "ours: GET /healthz", port: ourPort!, pid: ours.pid!, path: "/healthz", script: none, keys: 0 },
      { name: "ours: GET /v1/limits, one cached key", port: ourPort!, pid: ours.pid!, path: "/v1/limits", script: oneKey, keys: 1 },
      { name: "floor: GET /v1/limits, one key", port: floorPort!, pid: floor.pid!, path: "/v1/limits", script: oneKey, keys: 1 },
      { name: `ours: GET /v1/limits, ${KEYS} keys in rotation`, port: ourPort!, pid: ours.pid!, path: "/v1/limits", script: manyKeys, keys: KEYS },
      { name: `floor: GET /v1/limits, ${KEYS} keys in rotation`, port: floorPort!, pid: floor.pid!, path: "/v1/limits", script: manyKeys, keys: KEYS },
      { name: QUIET_ROW, port: quietPort!, pid: quiet.pid!, path: "/v1/limits", script: oneKey, keys: 1 },
      ...(betterAuth ? [{ name: BETTER_AUTH_ROW, port: betterAuthPort!, pid: betterAuth.pid, path: "/v1/limits", script: betterAuth.script, keys: 1 }] : []),
      ...(STORED > 0
        ? LARGE_ROTATIONS.map((count) => ({
            name: largeRow(count),
            port: ourPort!,
            pid: ours.pid!,
            path: "/v1/limits",
            script: rotation(count, sampledSecrets, "sampled"),
            keys: count,
          }))
        : []),
    ];

    console.log("warming up…");
    for (const scenario of scenarios) warmUp(scenario);
    const runs = new Map(scenarios.map((scenario) => [scenario.name, [] as Run[]]));
    const ratios = { floor: [] as number[], overHealth: [] as number[], manyFloor: [] as number[], manyOverOne: [] as number[], betterAuthCpu: [] as number[], betterAuthRate: [] as number[], logging: [] as number[] };
    for (let round = 0; round < ROUNDS; round += 1) {
      const order = round % 2 === 0 ? scenarios : [...scenarios].reverse();
      const thisRound = new Map<string, Run>();
      for (const scenario of order) {
        const run = runWrk(scenario, SECONDS);
        thisRound.set(scenario.name, run);
        runs.get(scenario.name)!.push(run);
      }
      const cpu = (index: number) => thisRound.get(scenarios[index]!.name)!.cpuMicrosPerRequest;
      ratios.floor.push(cpu(1) / cpu(2));
      ratios.overHealth.push(cpu(1) - cpu(0));
      ratios.manyFloor.push(cpu(3) / cpu(4));
      ratios.manyOverOne.push(cpu(3) / cpu(1));
      ratios.logging.push(cpu(1) - thisRound.get(QUIET_ROW)!.cpuMicrosPerRequest);
      if (betterAuth) {
        const theirs = thisRound.get(BETTER_AUTH_ROW)!;
        ratios.betterAuthCpu.push(theirs.cpuMicrosPerRequest / cpu(1));
        ratios.betterAuthRate.push(theirs.perSecond / thisRound.get(scenarios[1]!.name)!.perSecond);
      }
      console.log(`round ${round + 1}/${ROUNDS}: ours/floor ${(cpu(1) / cpu(2)).toFixed(2)}, ${KEYS} keys ours/floor ${(cpu(3) / cpu(4)).toFixed(2)}`);
    }

    quiet.kill("SIGKILL");
    // What the memory target describes: a million keys stored and the last rows' 100,000 in use.
    const residentAfterReads = residentMegabytes(ours.pid!);

    // Writes after every read row, so that what they leave behind (rows, WAL) weighs on none of them.
    const post = (name: string, secret: string, body: unknown) =>
      script(
        name,
        `wrk.method = "POST"
wrk.body = '${JSON.stringify(body)}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer ${secret}"
`,
      );
    const writeRows = (database: string, port: number, pid: number, secret: string, instanceId: string): Scenario[] => [
      { name: `ours: POST /v1/api-keys (${database})`, port, pid, path: "/v1/api-keys", script: post(`issue-${database}`, secret, { name: "bench" }), keys: 1 },
      {
        name: `ours: POST /v1/instances/:id/messages, sandbox (${database})`,
        port,
        pid,
        path: `/v1/instances/${instanceId}/messages`,
        script: post(`send-${database}`, secret, { type: "text", to: "+15551234567", text: "bench" }),
        keys: 1,
      },
    ];
    const writes = writeRows("SQLite", ourPort!, ours.pid!, writer, instance.id);
    const runWrites = (rows: Scenario[]) => {
      for (const scenario of rows) {
        runWrk(scenario, 2);
        runs.set(scenario.name, Array.from({ length: ROUNDS }, () => runWrk(scenario, SECONDS)));
      }
    };
    runWrites(writes);
    const residentAfterWrites = residentMegabytes(ours.pid!);
    // Whatever runs next runs alone on its core: the SQLite server's workers would take their share.
    ours.kill("SIGKILL");

    const floorRatio = median(ratios.floor);
    const overHealth = median(ratios.overHealth);
    const loggingCost = median(ratios.logging);
    const issueRate = median(runs.get(writes[0]!.name)!.map((run) => run.perSecond));
    const sendCpu = median(runs.get(writes[1]!.name)!.map((run) => run.cpuMicrosPerRequest));
    const sendP99 = median(runs.get(writes[1]!.name)!.map((run) => run.p99Ms));
    /**
     * Our SQLite server once more, started with `nodeOptions`, for one measured run of `scenario`
     * after its warm-up; resolves once the server has exited by itself (SIGTERM is a graceful
     * shutdown), which is when V8 writes a profile and the stall recorder its record.
     */
    const runAgain = async (scenario: Scenario, nodeOptions: string[], extraEnv: NodeJS.ProcessEnv = {}) => {
      const server = start(onCore(0, [process.execPath, ...nodeOptions, CLI, "serve"]), { ...env, ...extraEnv, PORT: String(profilePort) });
      servers.push(server);
      await waitForHealth(profilePort!, server);
      const again = { ...scenario, port: profilePort!, pid: server.pid! };
      warmUp(again);
      const from = { micros: monotonicMicros(), ms: Date.now(), threads: threadCpuMicros(server.pid!) };
      runWrk(again, SECONDS);
      const to = threadCpuMicros(server.pid!);
      const window = {
        fromMicros: from.micros,
        toMicros: monotonicMicros(),
        fromMs: from.ms,
        toMs: Date.now(),
        threads: { main: to.main - from.threads.main, others: to.others - from.threads.others },
      };
      const exited = new Promise((resolvePromise) => server.once("exit", resolvePromise));
      server.kill("SIGTERM");
      await exited;
      return window;
    };
    /** Under --cpu-prof, for the row of a missed target. */
    const profile = async (scenario: Scenario): Promise<string> => {
      const directory = join(folder, `profile-${scenario.path.replace(/\W+/g, "-")}`);
      const measured = await runAgain(scenario, ["--cpu-prof", `--cpu-prof-dir=${directory}`]);
      // A file per thread (the checkpoint thread has its own): the main thread's is the largest.
      const [file] = readdirSync(directory)
        .map((name) => join(directory, name))
        .sort((a, b) => statSync(b).size - statSync(a).size);
      return profileMarkdown(summarizeCpuProfile(file!, ROOT, 12, measured), scenario.name);
    };
    const profiles: string[] = [];
    if (floorRatio > 1.15 || overHealth > 10 || loggingCost > 8) profiles.push(await profile(scenarios[1]!));
    if (issueRate < 2_500) profiles.push(await profile(writes[0]!));
    if (sendCpu > 339 || sendP99 >= 25) profiles.push(await profile(writes[1]!));
    /** With bench/http/stall-recorder.mjs loaded, for the row whose p99 a profile cannot explain. */
    const stalls = async (scenario: Scenario): Promise<string> => {
      const record = join(folder, "stalls.jsonl");
      const measured = await runAgain(scenario, ["--import", join(ROOT, "bench/http/stall-recorder.mjs")], { STALL_RECORD: record });
      return stallReport(record, measured, scenario.name);
    };
    const manyInUse = scenarios.find((scenario) => scenario.name === largeRow(LARGE_ROTATIONS[1]!));
    const stallRecord = manyInUse !== undefined && median(runs.get(manyInUse.name)!.map((run) => run.p99Ms)) >= 15 ? await stalls(manyInUse) : "";

    if (POSTGRES_URL !== "") {
      const postgresEnv = { ...env, DATABASE_URL: POSTGRES_URL, DATABASE_SCHEMA: postgresSchema };
      const postgresWriter = JSON.parse(
        execFileSync(process.execPath, [CLI, "customers", "create", "--name", "Bench writes", "--json"], { env: postgresEnv }).toString(),
      ).api_key.secret as string;
      const onPostgres = start(onCore(0, [process.execPath, CLI, "serve"]), { ...postgresEnv, PORT: String(postgresPort) });
      servers.push(onPostgres);
      await waitForHealth(postgresPort!, onPostgres);
      const postgresInstance = await createInstance(postgresPort!, postgresWriter);
      const postgresRows = writeRows("PostgreSQL", postgresPort!, onPostgres.pid!, postgresWriter, postgresInstance.id);
      runWrites(postgresRows);
      writes.push(...postgresRows);
    }

    const row = (scenario: Scenario) => {
      const results = runs.get(scenario.name)!;
      return `| ${scenario.name} | ${median(results.map((run) => run.cpuMicrosPerRequest)).toFixed(1)} | ${median(results.map((run) => run.perSecond)).toFixed(0)} | ${median(results.map((run) => run.p99Ms)).toFixed(2)} |`;
    };
    const rows = scenarios.map(row);
    const cpuModel = cpus()[0]?.model ?? "unknown";
    const large = STORED > 0 ? largeReport(runs, residentAfterReads, residentAfterWrites) : "";
    const report = `# Benchmarks

Written by \`npm run bench:http\` on ${new Date().toISOString().slice(0, 10)}. Rerun it on your machine: the
numbers below are this machine's, and only the ratios mean much elsewhere.

- Machine: ${cpus().length} × ${cpuModel}; Node.js ${process.version}; ${pinned ? "server on core 0, wrk on core 1 (taskset)" : "not pinned (no taskset)"}.
- Method: wrk, 1 thread, ${CONNECTIONS} keep-alive connections, ${SECONDS} s per scenario and round, ${ROUNDS} rounds
  alternating forwards and backwards, after a warm-up of each (2 s, or long enough to use every
  key in rotation once). CPU per request is the server
  process's user + system time (\`/proc/<pid>/stat\`) over the requests wrk counted, which is steadier
  than throughput on a shared machine. Each ratio is taken within a round; the tables give medians.
- Both servers log one line per request at \`info\` to /dev/null with the same pino settings
  (written by the 4 KiB, flushed every 100 ms), run on embedded SQLite, and
  answer \`GET /v1/limits\` with the same JSON. The floor (\`bench/http/floor-server.mjs\`) does
  only the Bearer parse, the key format and checksum, the HMAC digest, a Map lookup, two bucket
  reads and three headers: what any server must do.
- The ${KEYS}-key rows send the customer's oldest keys, which the floor loads.${
      STORED > 0
        ? ` The rows of ${LARGE_ROTATIONS.join(" and ")} keys among ${STORED} stored send keys drawn at random from
  all of them, in random order, as a server's keys in use are spread over its table.`
        : ""
    }

## Per request

![CPU per request and p99 of GET /v1/limits against the keys in use and stored](BENCHMARKS.svg)

| scenario | CPU µs per request | requests/s | p99 ms |
| --- | --- | --- | --- |
${rows.join("\n")}

## Writes

Each ${ROUNDS} times ${SECONDS} s, after the reads; SQLite in WAL mode with \`synchronous=NORMAL\` (a commit
survives a crash of the process, not of the machine; the writes of one turn of the event loop share one
commit)${POSTGRES_URL === "" ? "" : ", then PostgreSQL on this machine (its processes are not pinned and share both cores)"}. Sends stay queued
(\`SANDBOX_STEP_MS\` is an hour here), so a send's cost is its request, its row and its outbox rows.
At saturation a row's mean latency is its ${CONNECTIONS} connections over its throughput (Little's law): a p99
under 25 ms at ${CONNECTIONS} connections needs well over ${Math.round(CONNECTIONS / 0.025)} requests a second.

| scenario | CPU µs per request | requests/s | p99 ms |
| --- | --- | --- | --- |
${writes.map(row).join("\n")}

## Targets (issue 12)

| target | measured (median of ${ROUNDS} rounds) | met |
| --- | --- | --- |
| CPU per authenticated request at most 1.15× the floor's | ${floorRatio.toFixed(2)}× | ${floorRatio <= 1.15 ? "yes" : "no"} |
| at most 10 µs more than our /healthz | +${overHealth.toFixed(1)} µs | ${overHealth <= 10 ? "yes" : "no"} |
| our request line at \`info\`: CPU per request above the same server at \`warn\` | ${loggingCost.toFixed(1)} µs | ${loggingCost <= 8 ? "yes" : "no"} (target: at most 8 µs) |
| ${KEYS} keys in rotation: ours against the floor | ${median(ratios.manyFloor).toFixed(2)}× | (no target; the floor keeps exactly these keys in a Map) |
| ${KEYS} keys in rotation against one cached key (ours) | ${median(ratios.manyOverOne).toFixed(2)}× | ${median(ratios.manyOverOne) <= 1.1 ? "yes" : "no"} (target: within 10%) |
| keys issued per second on SQLite | ${issueRate.toFixed(0)} | ${issueRate >= 2_500 ? "yes" : "no"} (target: at least 2,500) |
| sends: CPU per send on SQLite | ${sendCpu.toFixed(0)} µs | ${sendCpu <= 339 ? "yes" : "no"} (target: half the issue's 678 µs) |
| sends: p99 at ${CONNECTIONS} connections | ${sendP99.toFixed(2)} ms | ${sendP99 < 25 ? "yes" : "no"} (target: under 25 ms) |
${large}${betterAuth ? betterAuthReport(ratios.betterAuthRate, ratios.betterAuthCpu, betterAuthVersions) : ""}${
      profiles.length === 0
        ? ""
        : `
## Where the time goes, for the targets missed

Our server again, on the same database, under \`node --cpu-prof\` for one ${SECONDS} s run of each row whose
target is missed (after a 2 s warm-up), summarized by \`bench/http/cpu-profile.ts\`: self time by
where the code comes from, then the functions with the most self time. Only the samples of that
run count: the server's start-up and the warm-up are left out. The profiler itself slows the
server; the shares are what matter.

${profiles.join("\n")}`
    }${
      stallRecord === ""
        ? ""
        : `
## What held the event loop, for the p99 missed

A CPU profile says where the time went, not when requests waited. Our server again, on the same
database, with \`bench/http/stall-recorder.mjs\` loaded (\`node --import\`), for one ${SECONDS} s run of
the row after its warm-up, summarized by \`bench/http/stall-report.ts\`: the ticks of a 1 ms timer
that came late (the event loop was held that long), the garbage collector's pauses, and the time of
every SQLite call on the event loop (counted in the whole seconds that begin within the run). Each
of the longest stalls lists the pauses and the SQLite calls over 2 ms that overlap it; a stall with
neither was spent elsewhere: in JavaScript, in the kernel, or waiting for the CPU.

${stallRecord}`
    }`;
    const count = (n: number) => n.toLocaleString("en");
    const bars = [
      { label: "1 key in use", runs: runs.get(scenarios[1]!.name)! },
      { label: `${count(KEYS)} in use`, runs: runs.get(scenarios[3]!.name)! },
      ...LARGE_ROTATIONS.filter(() => STORED > 0).map((inUse) => ({
        label: `${count(inUse)} in use, ${count(STORED)} stored`,
        runs: runs.get(largeRow(inUse))!,
      })),
    ];
    writeFileSync(join(ROOT, "BENCHMARKS.svg"), chart(bars));
    writeFileSync(join(ROOT, "BENCHMARKS.md"), report);
    console.log(report);
  } finally {
    for (const server of servers) server.kill("SIGKILL");
    rmSync(folder, { recursive: true, force: true });
    if (POSTGRES_URL !== "") await dropPostgresSchema(POSTGRES_URL, postgresSchema);
  }
}

/** Two bar charts side by side, CPU per request and p99, one bar per row: plain SVG, no library. */
function chart(bars: Array<{ label: string; runs: Run[] }>): string {
  const width = 760;
  const panelWidth = 340;
  const height = 90 + bars.length * 34;
  const panel = (left: number, title: string, unit: string, value: (run: Run) => number) => {
    const values = bars.map((bar) => median(bar.runs.map(value)));
    const top = Math.max(...values) * 1.15;
    const rows = bars.map((bar, index) => {
      const y = 50 + index * 34;
      const length = (values[index]! / top) * (panelWidth - 220);
      return `<text x="${left}" y="${y + 15}" font-size="11">${escapeXml(bar.label)}</text>
<rect x="${left + 170}" y="${y + 3}" width="${length.toFixed(1)}" height="18" fill="#3b6ea8"/>
<text x="${(left + 174 + length).toFixed(1)}" y="${y + 16}" font-size="11">${values[index]!.toFixed(1)} ${unit}</text>`;
    });
    return `<text x="${left}" y="30" font-size="13" font-weight="bold">${title}</text>\n${rows.join("\n")}`;
  };
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif">
<rect width="100%" height="100%" fill="#ffffff"/>
${panel(10, "CPU per request (median)", "µs", (run) => run.cpuMicrosPerRequest)}
${panel(400, "p99 latency (median)", "ms", (run) => run.p99Ms)}
</svg>
`;
}

/** better-auth against ours, in the same rounds: no target, the comparison the issue asks for. */
function betterAuthReport(throughput: number[], cpu: number[], versions: string): string {
  return `
## better-auth's API-key plugin, side by side (BENCH_BETTER_AUTH=1)

What a TypeScript developer would likely pick instead: a Fastify server whose \`GET /v1/limits\`
verifies the key with better-auth's API-key plugin (${versions}), installed into a temporary folder
by \`bench/http/better-auth/setup.ts\`, on better-auth's own SQLite storage (WAL, \`synchronous=NORMAL\`,
as ours), with the plugin's defaults but a rate limit it never reaches, and the same logger settings.
Each ratio is taken within a round against our one-cached-key row.

| measured (median of ${throughput.length} rounds) | better-auth against ours |
| --- | --- |
| requests per second | ${median(throughput).toFixed(2)}× |
| CPU per request | ${median(cpu).toFixed(1)}× |
`;
}

function escapeXml(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

const postgresSchema = benchSchemaName();

await main();
