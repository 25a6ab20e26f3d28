/**
 * `npx vite-node bench/leak-report.ts`: what a leak report of 1,000 well-formed keys costs when 100
 * of them are real keys of 3 customers (each with a webhook endpoint for api_key.revoked), against
 * one of 1,000 unknown keys: the time of `POST /v1/leaked-keys` through the app (median of
 * BENCH_LEAK_RUNS, default 5) and the database statements and transactions of one report. On SQLite
 * in a temporary file; on PostgreSQL too when BENCH_POSTGRES_URL is set.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import type { KyselyPlugin, PluginTransformQueryArgs, PluginTransformResultArgs, QueryResult, RootOperationNode, UnknownRow } from "kysely";
import { buildApp } from "../src/app.js";
import { SingleNodeRevocationChannel } from "../src/auth/revocation-channel.js";
import { VerifiedKeyCache } from "../src/auth/verified-key-cache.js";
import { loadConfig, type Config, type DatabaseConfig } from "../src/config.js";
import { generateKey } from "../src/crypto/key-format.js";
import type { App } from "../src/http/app-types.js";
import { CLI_ACTOR } from "../src/audit/actor.js";
import { generateWebhookSecret } from "../src/crypto/webhook-signature.js";
import { newId } from "../src/ids/uuid-v7.js";
import { nowTimestamp } from "../src/time/timestamps.js";
import { createCustomer } from "../src/use-cases/create-customer.js";
import { reportLeakedKeys } from "../src/use-cases/report-leaked-keys.js";
import { createWriter, writeDependencies, type Writer } from "../src/use-cases/write.js";
import { benchSchemaName, dropPostgresSchema } from "./postgres-schema.js";

const RUNS = Number(process.env.BENCH_LEAK_RUNS ?? 5);
const POSTGRES_URL = process.env.BENCH_POSTGRES_URL ?? "";
const REPORTED = 1_000;
const REAL_KEYS = 100;
const CUSTOMERS = 3;
const PEPPER = "bench-pepper-that-is-long-enough-0123456789";

/** Counts every statement the database runs for a query builder or raw SQL (not BEGIN/COMMIT). */
class StatementCounter implements KyselyPlugin {
  count = 0;
  transformQuery(args: PluginTransformQueryArgs): RootOperationNode {
    return args.node;
  }
  async transformResult(args: PluginTransformResultArgs): Promise<QueryResult<UnknownRow>> {
    this.count += 1;
    return args.result;
  }
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

function shuffled<T>(items: T[]): T[] {
  const copy = [...items];
  for (let index = copy.length - 1; index > 0; index -= 1) {
    const other = Math.floor(Math.random() * (index + 1));
    [copy[index], copy[other]] = [copy[other]!, copy[index]!];
  }
  return copy;
}

async function realKeys(app: App, secrets: string[]): Promise<string[]> {
  const keys: string[] = [];
  for (let index = 0; index < REAL_KEYS; index += 1) {
    const owner = secrets[index % secrets.length]!;
    const response = await app.inject({ method: "POST", url: "/v1/api-keys", headers: { authorization: `Bearer ${owner}` }, payload: { name: `leak ${index}` } });
    if (response.statusCode !== 201) throw new Error(`issue failed: ${response.body}`);
    keys.push((response.json() as { secret: string }).secret);
  }
  return keys;
}

function unknownKeys(count: number): string[] {
  return Array.from({ length: count }, () => generateKey());
}

async function timedReport(app: App, keys: string[]): Promise<number> {
  const startedAt = performance.now();
  const response = await app.inject({ method: "POST", url: "/v1/leaked-keys", payload: { keys, source: "https://bench.example/leak" } });
  const elapsed = performance.now() - startedAt;
  if (response.statusCode !== 202) throw new Error(`report failed: ${response.statusCode} ${response.body}`);
  return elapsed;
}

async function measure(label: string, database: DatabaseConfig): Promise<void> {
  const config: Config = {
    ...loadConfig({}),
    database,
    keyPepper: PEPPER,
    rateLimit: { burst: 1e9, refillPerSecond: 1e9 },
    customerRateLimit: { burst: 1e9, refillPerSecond: 1e9 },
    authFailureLimit: { burst: 1e9, refillPerSecond: 1e9 },
    lastUsedFlushMs: 3_600_000,
  };
  const app = await buildApp(config, { logger: false });
  await app.ready();
  try {
    const secrets: string[] = [];
    const dependencies = writeDependencies(config, app.dialect, PEPPER, new SingleNodeRevocationChannel(new VerifiedKeyCache(1_000)));
    for (let index = 0; index < CUSTOMERS; index += 1) {
      const created = await createWriter(app.db, dependencies)(CLI_ACTOR, (write, actor) => createCustomer(write, actor, { name: `Customer ${index}` }));
      await app.db
        .insertInto("webhook_endpoints")
        .values({
          id: newId(),
          customer_id: created.customer.id,
          instance_id: null,
          url: "https://hooks.example/leaks",
          events: JSON.stringify(["api_key.revoked"]),
          sealed_secret: dependencies.secrets.seal(generateWebhookSecret()),
          created_at: nowTimestamp(),
          deleted_at: null,
        })
        .execute();
      secrets.push(created.api_key.secret);
    }

    const matched: number[] = [];
    const unmatched: number[] = [];
    for (let run = 0; run < RUNS; run += 1) {
      const real = await realKeys(app, secrets);
      matched.push(await timedReport(app, shuffled([...real, ...unknownKeys(REPORTED - REAL_KEYS)])));
      unmatched.push(await timedReport(app, unknownKeys(REPORTED)));
      const refused = await app.inject({ url: "/v1/limits", headers: { authorization: `Bearer ${real[0]}` } });
      if (refused.statusCode !== 401) throw new Error("a reported key still works");
    }

    // One report more, through the use case on a database handle that counts statements.
    const counter = new StatementCounter();
    const counted = app.db.withPlugin(counter);
    const writer = createWriter(counted, dependencies);
    let transactions = 0;
    const countingWriter: Writer = (actor, work) => {
      transactions += 1;
      return writer(actor, work);
    };
    const real = await realKeys(app, secrets);
    const countedAt = performance.now();
    await reportLeakedKeys({ db: counted, write: countingWriter, keyDigests: dependencies.keyDigests }, { keys: shuffled([...real, ...unknownKeys(REPORTED - REAL_KEYS)]), source: "https://bench.example/leak" });
    const countedMs = performance.now() - countedAt;
    const matchedStatements = counter.count;
    const matchedTransactions = transactions;
    counter.count = 0;
    transactions = 0;
    await reportLeakedKeys({ db: counted, write: countingWriter, keyDigests: dependencies.keyDigests }, { keys: unknownKeys(REPORTED), source: null });

    const ms = (value: number) => `${value.toFixed(1)} ms`;
    console.log(`${label}: ${REPORTED} keys, ${REAL_KEYS} real of ${CUSTOMERS} customers: median ${ms(median(matched))} (runs: ${matched.map(ms).join(", ")})`);
    console.log(`${label}: ${REPORTED} unknown keys: median ${ms(median(unmatched))} (runs: ${unmatched.map(ms).join(", ")})`);
    console.log(`${label}: statements for the report with ${REAL_KEYS} real keys: ${matchedStatements} in ${matchedTransactions} write transaction(s), ${ms(countedMs)} without waiting on other nodes` +
      (app.dialect === "postgres" ? " (the server adds one pg_notify per customer: its revocation channel)" : ""));
    console.log(`${label}: statements for the report of unknown keys: ${counter.count} in ${transactions} write transaction(s)`);
  } finally {
    await app.close();
  }
}

const directory = mkdtempSync(join(tmpdir(), "whatisup-leak-bench-"));
try {
  await measure("sqlite", { dialect: "sqlite", path: join(directory, "bench.db") });
} finally {
  rmSync(directory, { recursive: true, force: true });
}
if (POSTGRES_URL !== "") {
  const schema = benchSchemaName();
  try {
    await measure("postgres", { dialect: "postgres", url: POSTGRES_URL, schema, poolSize: 10 });
  } finally {
    await dropPostgresSchema(POSTGRES_URL, schema);
  }
}
