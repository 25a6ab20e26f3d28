/**
 * `npm run bench:idempotency` (after `npm run build`): what an `Idempotency-Key` costs a send.
 * Three rows drive `POST /v1/instances/:id/messages` on one server, alternating in every round:
 * - no header;
 * - a new `Idempotency-Key` on every request (the record is claimed, then completed in the send's
 *   own transaction);
 * - one key repeated with the same body (after the first send, every request is a replay).
 * All three build their requests in the same Lua function, so wrk's own cost is the same. The
 * ratios are taken within each round; the report gives their medians. Writes
 * BENCHMARKS-idempotency.md.
 *
 *   BENCH_ROUNDS (default 5), BENCH_SECONDS per row and round (default 5),
 *   BENCH_POSTGRES_URL: when set, the rows run a second time on a server using PostgreSQL, in a
 *   schema of their own that is dropped afterwards.
 */
import { execFileSync, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { freePorts } from "../../test/helpers/free-ports.js";
import { benchSchemaName, dropPostgresSchema } from "../postgres-schema.js";
import { CONNECTIONS, createInstance, median, onCore, pinned, runWrk, start, waitForHealth, type Run, type Scenario } from "./harness.js";

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const POSTGRES_URL = process.env.BENCH_POSTGRES_URL ?? "";
const ROOT = resolve(import.meta.dirname, "../..");
const CLI = join(ROOT, "dist/cli/main.js");
const BODY = JSON.stringify({ type: "text", to: "+15551234567", text: "bench" });

type KeyPolicy = "none" | "fresh" | "repeated";
const ROWS: { policy: KeyPolicy; label: string }[] = [
  { policy: "none", label: "no Idempotency-Key" },
  { policy: "fresh", label: "a new Idempotency-Key on every request" },
  { policy: "repeated", label: "one Idempotency-Key repeated (replays)" },
];

/**
 * A wrk script posting the send, with the key the policy says: none, `<prefix>-<n>` for the n-th
 * request, or `repeatedKey` every time. Every row builds its headers alike.
 */
function sendScript(folder: string, name: string, secret: string, policy: KeyPolicy, repeatedKey: string): string {
  const path = join(folder, `${name}.lua`);
  const key = { none: "nil", fresh: `"${randomBytes(6).toString("hex")}-" .. counter`, repeated: `"${repeatedKey}"` }[policy];
  writeFileSync(
    path,
    `local counter = 0
local body = '${BODY}'
request = function()
  counter = counter + 1
  local headers = { ["Content-Type"] = "application/json", ["Authorization"] = "Bearer ${secret}" }
  headers["Idempotency-Key"] = ${key}
  return wrk.format("POST", nil, headers, body)
end
`,
  );
  return path;
}

type Measured = { database: string; runs: Map<KeyPolicy, Run[]>; freshOverNone: number[]; replayOverNone: number[] };

async function measure(database: string, folder: string, env: NodeJS.ProcessEnv, port: number, servers: ChildProcess[]): Promise<Measured> {
  const created = JSON.parse(execFileSync(process.execPath, [CLI, "customers", "create", "--name", "Bench", "--json"], { env }).toString());
  const secret = created.api_key.secret as string;
  const server = start(onCore(0, [process.execPath, CLI, "serve"]), { ...env, PORT: String(port) });
  servers.push(server);
  await waitForHealth(port, server);
  const instance = await createInstance(port, secret);
  // The repeated key's first send is made here, alone: 32 connections sending it at once would
  // get 409 idempotency_key_in_use while it runs, and wrk counts any non-2xx as a failure.
  const repeatedKey = randomBytes(6).toString("hex");
  const first = await fetch(`http://127.0.0.1:${port}/v1/instances/${instance.id}/messages`, {
    method: "POST",
    headers: { authorization: `Bearer ${secret}`, "content-type": "application/json", "idempotency-key": repeatedKey },
    body: BODY,
  });
  if (first.status !== 202) throw new Error(`the first send of the repeated key: ${first.status} ${await first.text()}`);
  const scenarios = new Map<KeyPolicy, Scenario>(
    ROWS.map(({ policy }) => [
      policy,
      {
        name: `${database}: ${policy}`,
        port,
        pid: server.pid!,
        path: `/v1/instances/${instance.id}/messages`,
        script: sendScript(folder, `${database}-${policy}`, secret, policy, repeatedKey),
        keys: 1,
      },
    ]),
  );
  for (const scenario of scenarios.values()) runWrk(scenario, 2);
  const measured: Measured = { database, runs: new Map(ROWS.map(({ policy }) => [policy, []])), freshOverNone: [], replayOverNone: [] };
  for (let round = 0; round < ROUNDS; round += 1) {
    const order = round % 2 === 0 ? ROWS : [...ROWS].reverse();
    const thisRound = new Map<KeyPolicy, Run>();
    for (const { policy } of order) {
      const run = runWrk(scenarios.get(policy)!, SECONDS);
      thisRound.set(policy, run);
      measured.runs.get(policy)!.push(run);
    }
    const rate = (policy: KeyPolicy) => thisRound.get(policy)!.perSecond;
    measured.freshOverNone.push(rate("fresh") / rate("none"));
    measured.replayOverNone.push(rate("repeated") / rate("none"));
    console.log(`${database} round ${round + 1}/${ROUNDS}: with/without ${(rate("fresh") / rate("none")).toFixed(2)}, replay/without ${(rate("repeated") / rate("none")).toFixed(2)}`);
  }
  server.kill("SIGKILL");
  return measured;
}

function report(results: Measured[]): string {
  const rows = results.flatMap(({ database, runs }) =>
    ROWS.map(({ policy, label }) => {
      const list = runs.get(policy)!;
      const of = (pick: (run: Run) => number) => median(list.map(pick));
      return `| ${database} | ${label} | ${of((run) => run.perSecond).toFixed(0)} | ${of((run) => run.cpuMicrosPerRequest).toFixed(0)} | ${of((run) => run.p99Ms).toFixed(2)} |`;
    }),
  );
  const ratios = results.map(
    ({ database, freshOverNone, replayOverNone }) =>
      `| ${database} | ${median(freshOverNone).toFixed(2)} | ${median(replayOverNone).toFixed(2)} |`,
  );
  return `# Benchmarks: sends with an Idempotency-Key

Written by \`npm run bench:idempotency\` on ${new Date().toISOString().slice(0, 10)}. The numbers are this machine's;
the ratios, taken within each round, are what carries elsewhere.

- Machine: ${cpus().length} × ${cpus()[0]?.model ?? "unknown"}; Node.js ${process.version}; ${pinned ? "server on core 0, wrk on core 1 (taskset)" : "not pinned (no taskset)"}.
- Method: wrk, 1 thread, ${CONNECTIONS} keep-alive connections, ${SECONDS} s per row and round, ${ROUNDS} rounds
  alternating forwards and backwards; \`POST /v1/instances/:id/messages\` (sandbox, text) on one server
  per database. CPU per request is the server process's user + system time over the requests.

## Throughput with an Idempotency-Key, against without (medians of the per-round ratios)

| database | a new key per send | replays of one key |
| --- | --- | --- |
${ratios.join("\n")}

## Each row

| database | row | sends/s | CPU µs per request | p99 ms |
| --- | --- | --- | --- | --- |
${rows.join("\n")}
`;
}

async function main(): Promise<void> {
  const folder = mkdtempSync(join(tmpdir(), "whatisup-bench-idempotency-"));
  const servers: ChildProcess[] = [];
  const schema = benchSchemaName();
  try {
    const [sqlitePort, postgresPort] = await freePorts(2);
    const env = {
      ...process.env,
      DATABASE_URL: `sqlite:${join(folder, "whatisup.db")}`,
      WHATISUP_KEY_PEPPER: randomBytes(32).toString("base64"),
      LOG_LEVEL: "info",
      RATE_LIMIT_BURST: "1000000000",
      RATE_LIMIT_REFILL_PER_SEC: "1000000000",
      CUSTOMER_RATE_LIMIT_BURST: "1000000000",
      CUSTOMER_RATE_LIMIT_REFILL_PER_SEC: "1000000000",
      // The sends stay queued: the sandbox moving them would bill later rows for it.
      SANDBOX_STEP_MS: "3600000",
    };
    const results = [await measure("SQLite", folder, env, sqlitePort!, servers)];
    if (POSTGRES_URL !== "") {
      results.push(await measure("PostgreSQL", folder, { ...env, DATABASE_URL: POSTGRES_URL, DATABASE_SCHEMA: schema }, postgresPort!, servers));
    }
    writeFileSync(join(ROOT, "BENCHMARKS-idempotency.md"), report(results));
    console.log("wrote BENCHMARKS-idempotency.md");
  } finally {
    for (const server of servers) server.kill("SIGKILL");
    if (POSTGRES_URL !== "") await dropPostgresSchema(POSTGRES_URL, schema);
    rmSync(folder, { recursive: true, force: true });
  }
}

await main();
