import type { ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { performance } from "node:perf_hooks";
import { createInterface } from "node:readline";
import pg from "pg";
import { afterAll, describe, expect, it } from "vitest";
import type { DatabaseConfig } from "../src/config.js";
import { runCli, serverProcessEnv, startServer, stopServer, type StartedServer } from "../test/helpers/cli-process.js";
import { freePorts } from "../test/helpers/free-ports.js";
import { persistentDatabase, removeDatabase } from "../test/helpers/test-database.js";
import { call, sleep, startRedis, stopped, Tally } from "./stress-helpers.js";

/**
 * `npm run test:stress`, part (b): two nodes on one PostgreSQL database and one Redis, under load,
 * while PostgreSQL's sessions are cut (pg_terminate_backend: a restart or failover as the nodes see
 * it) and Redis is killed and restarted, or frozen. The rules (docs/api.md, "When PostgreSQL or Redis fails"):
 * - no 5xx but 503 `database_unavailable`, and only for a change whose connection was cut while it
 *   committed (at most one per connection cut);
 * - a revocation's 204 is refused by the other node on its very next request, even then;
 * - every acknowledged key works unless revoked, and every change has its audit event; every
 *   accepted message is stored with its outbox rows.
 */

const CHAOS_MS = 30_000;
const CLIENTS = 16;
const POOL_SIZE = 4;

type Ledger = {
  issued: { id: string; secret: string }[];
  revoked: Set<string>;
  unsure: Set<string>;
  messages: string[];
  /** Requests the other node served with a key whose revocation had answered 204. */
  late: number;
};

describe("two nodes while PostgreSQL drops their sessions and Redis dies", () => {
  const database = persistentDatabase() as Extract<DatabaseConfig, { dialect: "postgres" }>;
  if (database.dialect !== "postgres") throw new Error("the chaos test runs on PostgreSQL");
  const applicationName = `wt_chaos_${randomBytes(4).toString("hex")}`;
  const url = new URL(database.url);
  url.searchParams.set("application_name", applicationName);
  const named = { ...database, url: url.toString() };
  const processes: { servers: StartedServer[]; redis: ChildProcess | null } = { servers: [], redis: null };

  afterAll(async () => {
    await Promise.all(processes.servers.map((server) => stopServer(server)));
    processes.redis?.kill("SIGKILL");
    await removeDatabase(database);
  });

  it(`${CHAOS_MS / 1000} s of cut sessions and a dying Redis: no 5xx but the documented, no late revocation, nothing lost`, { timeout: 300_000 }, async () => {
    const [redisPort] = await freePorts(1);
    processes.redis = await startRedis(redisPort!);
    const env = {
      ...serverProcessEnv(named),
      REDIS_URL: `redis://127.0.0.1:${redisPort}`,
      REDIS_KEY_PREFIX: applicationName,
      DATABASE_POOL_SIZE: String(POOL_SIZE),
      RATE_LIMIT_BURST: "1000000",
      RATE_LIMIT_REFILL_PER_SEC: "1000000",
      SANDBOX_STEP_MS: "50",
      WORKER_POLL_MS: "50",
      LAST_USED_FLUSH_MS: "200",
      WEBHOOK_ALLOW_LOOPBACK: "true",
    };
    expect((await runCli(["migrate"], env)).code).toBe(0);
    const created = await runCli(["customers", "create", "--name", "Chaos", "--json"], env);
    expect(created.code, created.stderr).toBe(0);
    const admin = (JSON.parse(created.stdout) as { api_key: { secret: string } }).api_key.secret;
    processes.servers = [await startServer(env), await startServer(env)];
    const nodes = processes.servers;
    // What the nodes logged as errors, to name the cause of any 500 in the report.
    const errorLines: string[] = [];
    for (const node of nodes) {
      createInterface({ input: node.process.stdout! }).on("line", (line) => {
        if (line.includes('"level":50') && errorLines.length < 5) errorLines.push(line.slice(0, 2_000));
      });
    }
    const instance = await call(nodes[0]!, "POST", "/v1/instances", admin, { name: "main" });
    expect(instance.status).toBe(201);
    expect((await call(nodes[0]!, "POST", "/v1/webhook-endpoints", admin, { url: "http://127.0.0.1:9/hook", events: ["*"] })).status).toBe(201);
    const instanceId = instance.body!.id as string;

    const tally = new Tally();
    const ledger: Ledger = { issued: [], revoked: new Set(), unsure: new Set(), messages: [], late: 0 };
    let running = true;

    async function client(): Promise<void> {
      while (running) {
        const [here, there] = Math.random() < 0.5 ? [nodes[0]!, nodes[1]!] : [nodes[1]!, nodes[0]!];
        const issued = await tally.ask(here, "POST", "/v1/api-keys", admin, { name: "chaos" });
        if (issued?.status !== 201) continue;
        const key = { id: issued.body!.id as string, secret: issued.body!.secret as string };
        ledger.issued.push(key);
        await tally.ask(there, "GET", "/v1/limits", key.secret);
        const sent = await tally.ask(there, "POST", `/v1/instances/${instanceId}/messages`, key.secret, { type: "text", to: "+15551234567", text: "hi" });
        if (sent?.status === 202) ledger.messages.push(sent.body!.id as string);
        await tally.ask(here, "GET", "/v1/webhook-deliveries?limit=5", admin);
        if (Math.random() < 0.5) {
          const revoked = await tally.ask(here, "DELETE", `/v1/api-keys/${key.id}`, admin);
          if (revoked?.status !== 204) {
            ledger.unsure.add(key.id);
            continue;
          }
          ledger.revoked.add(key.id);
          const after = await tally.ask(there, "GET", "/v1/limits", key.secret);
          if (after !== null && after.status < 300) ledger.late += 1;
        }
      }
    }

    const operator = new pg.Client({ connectionString: database.url, application_name: "wt_chaos_operator" });
    await operator.connect();
    let sessionsCut = 0;
    let cuts = 0;
    const cutSessions = async () => {
      const result = await operator.query<{ terminated: boolean }>(
        "select pg_terminate_backend(pid) as terminated from pg_stat_activity where application_name = $1",
        [applicationName],
      );
      sessionsCut += result.rows.filter((row) => row.terminated).length;
      cuts += 1;
    };
    const redisOutages = { killed: 0, frozen: 0 };
    const killRedis = async () => {
      const redis = processes.redis!;
      redis.kill("SIGKILL");
      await stopped(redis);
      redisOutages.killed += 1;
      await sleep(1_500);
      processes.redis = await startRedis(redisPort!);
    };
    const freezeRedis = async () => {
      processes.redis!.kill("SIGSTOP");
      redisOutages.frozen += 1;
      await sleep(1_500);
      processes.redis!.kill("SIGCONT");
    };

    const startedAt = performance.now();
    const clients = Array.from({ length: CLIENTS }, () => client());
    const events = [cutSessions, killRedis, cutSessions, freezeRedis];
    try {
      for (let round = 0; performance.now() - startedAt < CHAOS_MS; round += 1) {
        await sleep(700 + Math.random() * 600);
        await events[round % events.length]!();
      }
    } finally {
      running = false;
      await Promise.all(clients);
      await operator.end();
    }

    const elapsed = ((performance.now() - startedAt) / 1000).toFixed(1);
    console.log(
      `[stress:chaos] ${elapsed} s, ${CLIENTS} clients on 2 nodes: ${tally.total} requests (${tally}); ` +
        `${cuts} cuts ended ${sessionsCut} PostgreSQL sessions; Redis killed ${redisOutages.killed}, frozen ${redisOutages.frozen} times; ` +
        `${ledger.issued.length} keys acknowledged, ${ledger.revoked.size} revocations acknowledged, ${ledger.unsure.size} unsure; ` +
        `${ledger.messages.length} messages accepted; ${ledger.late} late revocations, ${tally.unanswered} unanswered requests`,
    );
    // Once the storm is over, the next request of every kind is served.
    await sleep(1_000);
    for (const node of nodes) {
      expect((await call(node, "GET", "/v1/api-keys", admin)).status).toBe(200);
      expect((await call(node, "GET", "/readyz", admin)).status).toBe(200);
    }
    for (const key of ledger.issued) {
      if (ledger.unsure.has(key.id)) continue;
      const expected = ledger.revoked.has(key.id) ? 401 : 200;
      for (const node of nodes) expect((await call(node, "GET", "/v1/limits", key.secret)).status, key.id).toBe(expected);
    }

    const check = new pg.Client({ connectionString: database.url, options: `-c search_path=${database.schema}` });
    await check.connect();
    try {
      const keysWithoutAudit = await check.query(
        "select k.id from api_keys k where not exists (select 1 from audit_events e where e.action = 'api_key.issued' and e.target_id = k.id::text)",
      );
      expect(keysWithoutAudit.rows).toEqual([]);
      const revokedWithoutAudit = await check.query(
        "select k.id from api_keys k where k.revoked_at is not null and not exists (select 1 from audit_events e where e.action = 'api_key.revoked' and e.target_id = k.id::text)",
      );
      expect(revokedWithoutAudit.rows).toEqual([]);
      const missingKeys = ledger.issued.map((key) => key.id);
      const storedKeys = await check.query<{ id: string }>("select id from api_keys where id = any($1)", [missingKeys]);
      expect(storedKeys.rows.length).toBe(ledger.issued.length);
      const storedMessages = await check.query<{ id: string }>("select id from messages where id = any($1)", [ledger.messages]);
      expect(storedMessages.rows.length).toBe(ledger.messages.length);
      const movedWithoutOutbox = await check.query(
        "select m.id from messages m where m.status <> 'queued' and not exists (select 1 from webhook_deliveries d where d.event = 'message.sent' and d.payload::text like '%' || m.id || '%')",
      );
      expect(movedWithoutOutbox.rows).toEqual([]);
    } finally {
      await check.end();
    }

    expect(ledger.late).toBe(0);
    // The nodes never go down here: every request gets an HTTP answer.
    expect(tally.unanswered).toBe(0);
    const { "503 database_unavailable": lostInCommit = 0, ...otherServerErrors } = tally.serverErrors();
    expect(otherServerErrors, errorLines.join("\n")).toEqual({});
    expect(lostInCommit).toBeLessThanOrEqual(sessionsCut);
    expect(tally.count((label) => label === "201")).toBe(ledger.issued.length);
  });
});
