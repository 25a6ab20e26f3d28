import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { readdirSync, readFileSync, readlinkSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { performance } from "node:perf_hooks";
import { createInterface } from "node:readline";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MIGRATION_NAMES } from "../../src/db/migrate.js";
import type { IssuedApiKey } from "@whatisup/client";
import { TEST_PEPPER } from "../helpers/test-app.js";
import { databaseEnv, persistentDatabase, TEST_DIALECT } from "../helpers/test-database.js";
import { waitFor } from "../helpers/webhook-fixtures.js";
import { CLI, runCli } from "../helpers/cli-process.js";
import { freePorts } from "../helpers/free-ports.js";

/**
 * Issue 4's proof, with real processes: three API nodes (the compiled `whatisup serve`) started
 * together on one empty PostgreSQL schema and one Redis. A revocation through node A is refused
 * by B and C within the bound, also right after every database connection was cut; the per-key
 * bucket is one bucket for the three; and with node C killed by SIGKILL while webhooks are being
 * sent, every delivery is still made, and none twice except attempts C had in flight.
 * `npm test` builds dist/ first; by hand, run `npm run build` before this file.
 */

const databaseUrl = process.env.TEST_DATABASE_URL;
const redisUrl = process.env.TEST_REDIS_URL;
const skipReason = !databaseUrl
  ? "TEST_DATABASE_URL is not set (e.g. postgres://postgres@127.0.0.1:5432/test)"
  : !redisUrl
    ? "TEST_REDIS_URL is not set (e.g. redis://127.0.0.1:6379)"
    : null;
// Said once: from the postgres project, or from the sqlite one when there is no postgres project.
if (skipReason !== null && (TEST_DIALECT === "postgres" || !databaseUrl)) {
  console.log(`Three-node test skipped: ${skipReason}.`);
}

/** Issue 4: every node refuses a revoked key within this, whatever happens (asserted). */
const REVOCATION_BOUND_MS = 1_000;
/** ...and the target for the p99 (reported, not asserted: timing on a shared machine). */
const REVOCATION_TARGET_P99_MS = 100;
const REVOCATION_ROUNDS = 20;
const CUT_ROUNDS = 5;
const POLL_EVERY_MS = 5;

const RATE_LIMIT_BURST = 5;
/** The default: a burst of requests gets no refill while it lasts. */
const RATE_LIMIT_REFILL_PER_SEC = 1;
/** The test's own requests go round this many keys of the customer, each with its own bucket. */
const ADMIN_KEYS = 6;

/** Far above the receiver's hold, so that no attempt times out (a timeout may deliver twice). */
const WEBHOOK_TIMEOUT_MS = 2_500;
/** dispatcher.ts: a claim lasts the attempt timeout plus LEASE_MARGIN_MS (5 s). */
const LEASE_MS = WEBHOOK_TIMEOUT_MS + 5_000;
const RECEIVER_HOLD_MS = 300;
const MESSAGES = 30;
const MESSAGE_EVENTS = ["message.sent", "message.delivered", "message.read"];

const sleep = (ms: number) => new Promise((resolvePromise) => setTimeout(resolvePromise, ms));

type Node = { name: string; process: ChildProcess; url: string; output: string[] };
type Reply = { status: number; body: any; headers: Headers; at: number };
/** The part of an issued key these tests hold on to. */
type Issued = Pick<IssuedApiKey, "id" | "secret">;

function log(line: string): void {
  console.log(`[three-nodes] ${line}`);
}

/** Nearest-rank percentile. */
function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.max(0, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

function summary(values: number[]): string {
  const fixed = (value: number) => value.toFixed(1);
  const [p50, p99, max] = [percentile(values, 50), percentile(values, 99), Math.max(...values)].map(fixed);
  return `p50 ${p50} ms, p99 ${p99} ms, max ${max} ms (n=${values.length})`;
}

function tail(node: Node): string {
  const lines = node.output.slice(-30).map((line) => (line.length > 400 ? `${line.slice(0, 400)}…` : line));
  return `${node.name} output (last lines):\n${lines.join("\n")}`;
}

/**
 * Starts `whatisup serve` on a chosen port and waits for /healthz. (With LOG_LEVEL=warn the
 * "Server listening at" line is not printed, so the port is chosen here instead of PORT=0.)
 */
async function startNode(name: string, port: number, env: NodeJS.ProcessEnv, started: Node[]): Promise<Node> {
  const child = spawn(process.execPath, [CLI, "serve"], {
    env: { ...env, PORT: String(port) },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const node: Node = { name, process: child, url: `http://127.0.0.1:${port}`, output: [] };
  started.push(node);
  for (const stream of [child.stdout!, child.stderr!]) {
    createInterface({ input: stream }).on("line", (line) => {
      node.output.push(line);
      if (node.output.length > 500) node.output.shift();
    });
  }
  const deadline = Date.now() + 25_000;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`node ${name} exited at start (${child.exitCode ?? child.signalCode})\n${tail(node)}`);
    }
    const healthy = await fetch(`${node.url}/healthz`).then(
      (response) => response.ok,
      () => false,
    );
    if (healthy) return node;
    if (Date.now() > deadline) throw new Error(`node ${name} did not start in time\n${tail(node)}`);
    await sleep(50);
  }
}

function alive(node: Node): boolean {
  return node.process.exitCode === null && node.process.signalCode === null;
}

function exitOf(node: Node): string {
  return node.process.signalCode ? `killed by ${node.process.signalCode}` : `exit code ${node.process.exitCode}`;
}

/** Fails at once, with the node's last words, when an earlier step left a node dead. */
function requireAlive(nodes: Node[]): void {
  for (const node of nodes) {
    if (!alive(node)) throw new Error(`node ${node.name} is not running (${exitOf(node)})\n${tail(node)}`);
  }
}


async function request(node: Node, method: string, path: string, key: string, body?: unknown): Promise<Reply> {
  const response = await fetch(`${node.url}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${key}`,
      ...(body === undefined ? {} : { "content-type": "application/json" }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const at = performance.now();
  const text = await response.text();
  let parsed: unknown = text;
  try {
    parsed = text === "" ? null : JSON.parse(text);
  } catch {
    // not JSON: kept as text for the failure message
  }
  return { status: response.status, body: parsed, headers: response.headers, at };
}

type Refusal = { node: string; delayMs: number; before: (number | string)[] };

/**
 * Asks `node` with `secret` (GET /v1/limits: spends no token) every POLL_EVERY_MS until it
 * answers 401 auth_expired, and returns how long after `from` that answer arrived, with what it
 * answered before. Gives up after three times the bound (delayMs is then Infinity).
 */
async function pollUntilRefused(node: Node, secret: string, from: number): Promise<Refusal> {
  const before: (number | string)[] = [];
  for (;;) {
    let reply: Reply | null = null;
    try {
      reply = await request(node, "GET", "/v1/limits", secret);
    } catch (error) {
      before.push(`fetch failed: ${(error as Error).message}`);
    }
    if (reply?.status === 401) {
      expect(reply.body?.error?.code, JSON.stringify(reply.body)).toBe("auth_expired");
      return { node: node.name, delayMs: reply.at - from, before };
    }
    if (reply) before.push(reply.status);
    if (!alive(node)) throw new Error(`node ${node.name} died (${exitOf(node)})\n${tail(node)}`);
    if (performance.now() - from > 3 * REVOCATION_BOUND_MS) return { node: node.name, delayMs: Infinity, before };
    await sleep(POLL_EVERY_MS);
  }
}

/** The local TCP ports of the sockets these processes hold (Linux /proc): their PostgreSQL connections' client ports. */
function tcpPortsOf(pids: number[]): Set<number> | null {
  const inodes = new Set<string>();
  for (const pid of pids) {
    let fds: string[];
    try {
      fds = readdirSync(`/proc/${pid}/fd`);
    } catch {
      continue;
    }
    for (const fd of fds) {
      try {
        const socket = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
        if (socket) inodes.add(socket[1]!);
      } catch {
        // closed meanwhile
      }
    }
  }
  let found = false;
  const ports = new Set<number>();
  for (const table of ["/proc/net/tcp", "/proc/net/tcp6"]) {
    let text: string;
    try {
      text = readFileSync(table, "utf8");
      found = true;
    } catch {
      continue;
    }
    for (const line of text.split("\n").slice(1)) {
      const columns = line.trim().split(/\s+/);
      if (columns.length > 9 && inodes.has(columns[9]!)) ports.add(Number.parseInt(columns[1]!.split(":")[1]!, 16));
    }
  }
  return found ? ports : null;
}

/** One request the webhook receiver got in full, and whether its answer went out. */
type Received = {
  deliveryId: string;
  event: string;
  /** When the whole request had arrived (this process's clock, as the nodes' leases are). */
  at: number;
  /** The 200 was written; false when the sender's connection closed first (its node died). */
  answered: boolean;
};

/**
 * A receiver that holds every request RECEIVER_HOLD_MS before its 200 (so that attempts are in
 * flight when a node is killed), and records each one. `open()`: requests not yet answered.
 */
async function startSlowReceiver(): Promise<{ server: Server; url: string; received: Received[]; open: () => number }> {
  const received: Received[] = [];
  let open = 0;
  const server = createServer((req, res) => {
    open += 1;
    let record: Received | null = null;
    const timer = setTimeout(() => {
      if (!res.destroyed) res.writeHead(200, { "content-type": "text/plain" }).end("ok");
    }, RECEIVER_HOLD_MS);
    res.on("finish", () => {
      if (record) record.answered = true;
    });
    res.on("close", () => {
      open -= 1;
      clearTimeout(timer);
    });
    req.resume();
    req.on("end", () => {
      record = {
        deliveryId: String(req.headers["x-whatisup-delivery"]),
        event: String(req.headers["x-whatisup-event"]),
        at: Date.now(),
        answered: res.writableFinished,
      };
      received.push(record);
    });
  });
  await new Promise<void>((resolvePromise) => server.listen(0, "127.0.0.1", () => resolvePromise()));
  const { port } = server.address() as AddressInfo;
  return { server, url: `http://127.0.0.1:${port}/hooks`, received, open: () => open };
}

describe.skipIf(skipReason !== null || TEST_DIALECT !== "postgres")("three API nodes on one PostgreSQL and one Redis", () => {
  const started: Node[] = [];
  let A: Node;
  let B: Node;
  let C: Node;
  let env: NodeJS.ProcessEnv;
  let schema: string;
  let client: pg.Client;
  /** The CLI's key, then ADMIN_KEYS - 1 more it issued: the test's own requests take turns. */
  const admins: Issued[] = [];
  let nextAdmin = 0;
  let receiver: Awaited<ReturnType<typeof startSlowReceiver>> | null = null;
  const fileStarted = performance.now();

  beforeAll(async () => {
    const database = persistentDatabase();
    if (database.dialect !== "postgres" || database.schema === null) throw new Error("expected a PostgreSQL schema");
    schema = database.schema;
    env = {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      HOST: "127.0.0.1",
      ...databaseEnv(database),
      DATABASE_POOL_SIZE: "5",
      WHATISUP_KEY_PEPPER: TEST_PEPPER,
      REDIS_URL: redisUrl,
      REDIS_KEY_PREFIX: `wt3n_${process.pid}_${randomBytes(6).toString("hex")}`,
      LOG_LEVEL: "warn",
      RATE_LIMIT_BURST: String(RATE_LIMIT_BURST),
      RATE_LIMIT_REFILL_PER_SEC: String(RATE_LIMIT_REFILL_PER_SEC),
      // The per-customer bucket is test/customer-limits.test.ts's: here it stays out of the way.
      CUSTOMER_RATE_LIMIT_BURST: "1000000000",
      CUSTOMER_RATE_LIMIT_REFILL_PER_SEC: "1000000000",
      // Failed reads while connections are cut must not lock the test's own address out.
      AUTH_FAILURE_BURST: "10000",
      AUTH_FAILURE_REFILL_PER_SEC: "1000",
      WEBHOOK_ALLOW_LOOPBACK: "true",
      WEBHOOK_RETRY_DELAYS_MS: "0,200,200,200,200,200",
      WEBHOOK_TIMEOUT_MS: String(WEBHOOK_TIMEOUT_MS),
      WORKER_POLL_MS: "20",
      SANDBOX_STEP_MS: "200",
    };

    // Together, on an empty schema: the three race to create it and to migrate it.
    const ports = await freePorts(3);
    const nodes = await Promise.all(["A", "B", "C"].map((name, index) => startNode(name, ports[index]!, env, started)));
    [A, B, C] = nodes as [Node, Node, Node];
    log(`three nodes serving after ${(performance.now() - fileStarted).toFixed(0)} ms (schema ${schema})`);

    client = new pg.Client({
      connectionString: databaseUrl,
      application_name: "whatisup-three-nodes-test",
      options: `-c search_path=${schema}`,
    });
    await client.connect();

    const created = await runCli(["customers", "create", "--name", "Three Nodes", "--json"], env);
    expect(created.code, created.stderr).toBe(0);
    const { api_key } = JSON.parse(created.stdout) as { api_key: Issued };
    admins.push({ id: api_key.id, secret: api_key.secret });
    for (let index = 1; index < ADMIN_KEYS; index += 1) admins.push(await issueKey(`admin-${index}`));
  }, 40_000);

  afterAll(async () => {
    for (const node of started) if (alive(node)) node.process.kill("SIGKILL");
    await Promise.all(
      started.map((node) =>
        alive(node) ? new Promise((resolvePromise) => node.process.once("exit", resolvePromise)) : undefined,
      ),
    );
    if (receiver) {
      receiver.server.closeAllConnections();
      await new Promise((resolvePromise) => receiver!.server.close(resolvePromise));
    }
    await client?.end().catch(() => undefined);
    log(`file took ${((performance.now() - fileStarted) / 1000).toFixed(1)} s`);
  });

  /**
   * A node that died where it should not have (its failure is reported by the test it died in)
   * is replaced by a new process, so that the tests after it still say something.
   */
  async function replaceDeadNodes(): Promise<void> {
    const replaced = await Promise.all(
      [A, B, C].map(async (node) => {
        if (alive(node)) return node;
        log(`node ${node.name} had died (${exitOf(node)}): starting a new one in its place`);
        return startNode(node.name, (await freePorts(1))[0]!, env, started);
      }),
    );
    [A, B, C] = replaced as [Node, Node, Node];
  }

  /**
   * A request the test itself needs done (issuing, revoking, sending). With a per-key burst of
   * RATE_LIMIT_BURST, the test's requests take turns among its keys; when every one of them is
   * spent (429), it waits for the buckets to refill: that is not what these tests test.
   */
  async function spend(node: Node, method: string, path: string, body?: unknown): Promise<Reply> {
    const deadline = Date.now() + 20_000;
    for (;;) {
      for (let tried = 0; tried < admins.length; tried += 1) {
        const key = admins[nextAdmin]!;
        nextAdmin = (nextAdmin + 1) % admins.length;
        const reply = await request(node, method, path, key.secret, body);
        if (reply.status !== 429) return reply;
      }
      if (Date.now() > deadline) throw new Error(`every test key stayed rate-limited: ${method} ${path}`);
      await sleep(250);
    }
  }

  async function issueKey(name: string, body: Record<string, unknown> = {}): Promise<Issued> {
    const reply = await spend(A, "POST", "/v1/api-keys", { name, ...body });
    expect(reply.status, JSON.stringify(reply.body)).toBe(201);
    return { id: reply.body.id, secret: reply.body.secret };
  }

  /** Issues a key through A and has B and C verify it, so that both hold it in their caches. */
  async function keyCachedOnBAndC(name: string): Promise<Issued> {
    const key = await issueKey(name);
    for (const node of [B, C]) {
      const reply = await request(node, "GET", "/v1/limits", key.secret);
      expect(reply.status, `${node.name}: ${JSON.stringify(reply.body)}`).toBe(200);
    }
    return key;
  }

  /** The live nodes' PostgreSQL sessions by application_name, found by their client ports. */
  async function sessionsOfNodes(): Promise<{ pid: number; application_name: string }[]> {
    const ports = tcpPortsOf(started.filter(alive).map((node) => node.process.pid!));
    if (ports === null) throw new Error("no /proc/net/tcp: cannot tell this file's connections apart");
    const { rows } = await client.query<{ pid: number; application_name: string }>(
      `select pid, application_name from pg_stat_activity
       where application_name in ('whatisup-api', 'whatisup-key-events') and pid <> pg_backend_pid()
         and client_port = any($1::int[])`,
      [[...ports]],
    );
    return rows;
  }

  /**
   * Cuts every database connection of the three nodes: their pools' and their LISTEN
   * connections. Only this file's nodes' sessions (by client port): other test files run in
   * parallel on the same PostgreSQL with the same application names.
   */
  async function cutEveryConnection(): Promise<{ api: number; listeners: number }> {
    const ports = tcpPortsOf(started.filter(alive).map((node) => node.process.pid!));
    if (ports === null) throw new Error("no /proc/net/tcp: cannot tell this file's connections apart");
    const { rows } = await client.query<{ application_name: string }>(
      `select application_name, pg_terminate_backend(pid) from pg_stat_activity
       where application_name in ('whatisup-api', 'whatisup-key-events') and pid <> pg_backend_pid()
         and client_port = any($1::int[])`,
      [[...ports]],
    );
    return {
      api: rows.filter((row) => row.application_name === "whatisup-api").length,
      listeners: rows.filter((row) => row.application_name === "whatisup-key-events").length,
    };
  }

  async function listenersBack(count: number): Promise<void> {
    await waitFor(
      async () => (await sessionsOfNodes()).filter((row) => row.application_name === "whatisup-key-events").length === count,
      `${count} nodes to subscribe to the revocation channel again`,
      10_000,
    );
  }

  async function expectServing(nodes: Node[]): Promise<void> {
    requireAlive(nodes);
    for (const node of nodes) {
      const health = await fetch(`${node.url}/healthz`);
      expect(health.status, tail(node)).toBe(200);
      const limits = await request(node, "GET", "/v1/limits", admins[0]!.secret);
      expect(limits.status, `${node.name}: ${JSON.stringify(limits.body)}\n${tail(node)}`).toBe(200);
    }
  }

  it("started on an empty schema together: the migrations ran once", async () => {
    const { rows } = await client.query<{ name: string }>("select name from kysely_migration order by name");
    expect(rows.map((row) => row.name)).toEqual(MIGRATION_NAMES);
    const sessions = await sessionsOfNodes();
    expect(sessions.filter((row) => row.application_name === "whatisup-key-events")).toHaveLength(3);
    await expectServing([A, B, C]);
  });

  it(`a key revoked through A is refused by B and C within ${REVOCATION_BOUND_MS} ms (${REVOCATION_ROUNDS} rounds)`, async () => {
    requireAlive([A, B, C]);
    const began = performance.now();
    const delays: number[] = [];
    let staleAnswers = 0;
    for (let round = 0; round < REVOCATION_ROUNDS; round += 1) {
      const key = await keyCachedOnBAndC(`round-${round}`);
      const revoked = await spend(A, "DELETE", `/v1/api-keys/${key.id}`);
      expect(revoked.status, JSON.stringify(revoked.body)).toBe(204);
      const refusals = await Promise.all([B, C].map((node) => pollUntilRefused(node, key.secret, revoked.at)));
      for (const refusal of refusals) {
        // Before the refusal the node may still serve the key from its cache (200), nothing else.
        expect(refusal.before.every((status) => status === 200), `${refusal.node}: ${refusal.before.join(",")}`).toBe(true);
        staleAnswers += refusal.before.length;
        expect(refusal.delayMs, `round ${round}, node ${refusal.node}`).toBeLessThan(REVOCATION_BOUND_MS);
        delays.push(refusal.delayMs);
      }
    }
    const p99 = percentile(delays, 99);
    log(
      `revocation through A -> refused on B and C: ${summary(delays)}; ` +
        `target p99 < ${REVOCATION_TARGET_P99_MS} ms ${p99 < REVOCATION_TARGET_P99_MS ? "met" : "NOT met"}; ` +
        `${staleAnswers} cached 200s answered after A's 204; ${((performance.now() - began) / 1000).toFixed(1)} s`,
    );
    expect(p99).toBeLessThan(REVOCATION_BOUND_MS);
  }, 60_000);

  it(`the same right after every database connection is cut (${CUT_ROUNDS} rounds), and all three nodes keep serving`, async () => {
    requireAlive([A, B, C]);
    const began = performance.now();
    const delays: number[] = [];
    const failedRevokes: (number | string)[] = [];
    const beforeRefusal: (number | string)[] = [];
    for (let round = 0; round < CUT_ROUNDS; round += 1) {
      await listenersBack(3);
      const key = await keyCachedOnBAndC(`cut-${round}`);
      const cut = await cutEveryConnection();
      expect(cut.listeners, "one LISTEN connection per node").toBe(3);
      expect(cut.api).toBeGreaterThanOrEqual(3);

      // A's pool may hand out a connection it has not yet noticed is dead: retry until 204.
      let revoked: Reply | null = null;
      const deadline = Date.now() + 5_000;
      while (revoked === null) {
        const reply = await spend(A, "DELETE", `/v1/api-keys/${key.id}`).catch(
          (error: Error) => `fetch failed: ${error.message}`,
        );
        if (typeof reply !== "string" && reply.status === 204) {
          revoked = reply;
          break;
        }
        failedRevokes.push(typeof reply === "string" ? reply : reply.status);
        if (!alive(A)) throw new Error(`node A died after the cut (${exitOf(A)})\n${tail(A)}`);
        if (Date.now() > deadline) throw new Error(`A never revoked after the cut: ${failedRevokes.join(", ")}\n${tail(A)}`);
        await sleep(20);
      }
      const revokedAt = revoked.at;
      const refusals = await Promise.all([B, C].map((node) => pollUntilRefused(node, key.secret, revokedAt)));
      for (const refusal of refusals) {
        beforeRefusal.push(...refusal.before.filter((status) => status !== 200));
        expect(refusal.delayMs, `cut round ${round}, node ${refusal.node}: ${refusal.before.join(",")}`).toBeLessThan(
          REVOCATION_BOUND_MS,
        );
        delays.push(refusal.delayMs);
      }
    }
    await listenersBack(3);
    await expectServing([A, B, C]);
    log(
      `after cutting every connection: refused on B and C ${summary(delays)}; ` +
        `A's failed DELETEs before its 204: ${failedRevokes.length ? failedRevokes.join(", ") : "none"}; ` +
        `B/C answers other than 200 before refusing: ${beforeRefusal.length ? beforeRefusal.join(", ") : "none"}; ` +
        `${((performance.now() - began) / 1000).toFixed(1)} s`,
    );
    expect(percentile(delays, 99)).toBeLessThan(REVOCATION_BOUND_MS);

    // Subscribed again: a plain revocation is heard through the channel as before.
    const key = await keyCachedOnBAndC("after-the-cuts");
    const revoked = await spend(A, "DELETE", `/v1/api-keys/${key.id}`);
    expect(revoked.status).toBe(204);
    for (const refusal of await Promise.all([B, C].map((node) => pollUntilRefused(node, key.secret, revoked.at)))) {
      expect(refusal.delayMs, refusal.node).toBeLessThan(REVOCATION_BOUND_MS);
    }
  }, 60_000);

  it(`one key's bucket is shared: ${RATE_LIMIT_BURST} requests at once on each of A, B and C, ${RATE_LIMIT_BURST} allowed in all`, async () => {
    await replaceDeadNodes();
    const key = await issueKey("rate-limited");
    // Each node verifies the key first (GET /v1/limits spends no token), so that the burst below
    // runs on warm nodes, in a few milliseconds: little time for the bucket to refill.
    for (const node of [A, B, C]) expect((await request(node, "GET", "/v1/limits", key.secret)).status).toBe(200);

    // All at once: the three nodes spend from the one bucket at the same moment (atomic in Redis).
    // Buckets of each node's own would allow all of them.
    const began = performance.now();
    const replies = await Promise.all(
      [A, B, C].flatMap((node) =>
        Array.from({ length: RATE_LIMIT_BURST }, async () => ({
          node: node.name,
          reply: await request(node, "GET", "/v1/instances", key.secret),
        })),
      ),
    );
    const elapsedMs = performance.now() - began;

    const allowed = replies.filter(({ reply }) => reply.status === 200).length;
    const perNode = [A, B, C]
      .map((node) => {
        const mine = replies.filter((entry) => entry.node === node.name);
        return `${node.name} ${mine.filter(({ reply }) => reply.status === 200).length}/${mine.length}`;
      })
      .join(", ");
    const refill = Math.floor((elapsedMs / 1000) * RATE_LIMIT_REFILL_PER_SEC);
    log(
      `shared bucket (burst ${RATE_LIMIT_BURST}, ${RATE_LIMIT_REFILL_PER_SEC}/s): ${replies.length} requests at once, ` +
        `${allowed} allowed (${perNode}) in ${elapsedMs.toFixed(0)} ms (room for ${refill} refilled)`,
    );
    // The bucket starts full, and while the burst lasts it can only have refilled so much.
    expect(allowed).toBeGreaterThanOrEqual(RATE_LIMIT_BURST);
    expect(allowed).toBeLessThanOrEqual(RATE_LIMIT_BURST + refill);
    for (const { reply } of replies.filter(({ reply }) => reply.status !== 200)) {
      expect(reply.status, JSON.stringify(reply.body)).toBe(429);
      expect(reply.body.error.code).toBe("rate_limited");
      expect(reply.headers.get("retry-after")).toMatch(/^\d+$/);
      expect(reply.headers.get("x-ratelimit-remaining")).toBe("0");
    }
  });

  it("with node C killed mid-delivery, every delivery arrives, and none twice but C's attempts in flight", async () => {
    await replaceDeadNodes();
    const began = performance.now();
    receiver = await startSlowReceiver();
    const instance = await spend(A, "POST", "/v1/instances", { name: "sandbox" });
    expect(instance.status, JSON.stringify(instance.body)).toBe(201);
    const instanceId: string = instance.body.id;
    const endpoint = await spend(A, "POST", "/v1/webhook-endpoints", {
      url: receiver.url,
      events: MESSAGE_EVENTS,
      instance_id: instanceId,
    });
    expect(endpoint.status, JSON.stringify(endpoint.body)).toBe(201);
    const endpointId: string = endpoint.body.id;
    const claimers = async () =>
      (
        await client.query<{ n: number }>(
          "select count(distinct claimed_by)::int as n from webhook_deliveries where claimed_by is not null",
        )
      ).rows[0]!.n;

    let killedAt = 0;
    let openAtKill = 0;
    let claimersAtKill = 0;
    for (let index = 0; index < MESSAGES; index += 1) {
      if (index === MESSAGES / 2) {
        // Kill C while it holds claims: wait (bounded) until all three nodes hold some at once.
        claimersAtKill = await waitFor(
          async () => {
            const n = await claimers();
            return n === 3 ? n : false;
          },
          "three nodes to hold claims at once",
          5_000,
        ).catch(async () => claimers());
        killedAt = Date.now();
        C.process.kill("SIGKILL");
        openAtKill = receiver.open();
        if (alive(C)) await new Promise((resolvePromise) => C.process.once("exit", resolvePromise));
      }
      const which = killedAt === 0 ? index % 3 : index % 2;
      const node = [A, B, C][which]!;
      const sent = await spend(node, "POST", `/v1/instances/${instanceId}/messages`, {
        type: "text",
        to: `+1555123${String(index).padStart(4, "0")}`,
        text: `message ${index}`,
      });
      expect(sent.status, `${node.name}: ${JSON.stringify(sent.body)}`).toBe(202);
      await sleep(40);
    }

    // Before C's leases lapse, whatever is still claimed since before the kill is what C held
    // when it died (A's and B's attempts from then have long been answered and recorded).
    await sleep(Math.max(0, killedAt + LEASE_MS - 3_500 - Date.now()));
    const { rows: orphaned } = await client.query<{ id: string; claimed_by: string; claimed_until: string }>(
      `select id::text, claimed_by, claimed_until from webhook_deliveries
       where claimed_by is not null and claimed_until <= $1::timestamptz`,
      [new Date(killedAt + LEASE_MS).toISOString()],
    );
    const heldByC = new Map(orphaned.map((row) => [row.id, new Date(row.claimed_until).getTime()]));
    const holders = new Set(orphaned.map((row) => row.claimed_by));
    expect(holders.size, "only the killed node holds claims from before the kill").toBeLessThanOrEqual(1);

    const expected = MESSAGES * MESSAGE_EVENTS.length;
    const rows = await waitFor(
      async () => {
        const { rows } = await client.query<{ id: string; status: string; attempt_count: number }>(
          "select id::text, status, attempt_count from webhook_deliveries where endpoint_id = $1",
          [endpointId],
        );
        return rows.length === expected && rows.every((row) => row.status === "success") ? rows : false;
      },
      `all ${expected} deliveries to succeed`,
      30_000,
    );
    await expectServing([A, B]);

    const receptions = new Map<string, Received[]>();
    for (const request of receiver.received) {
      receptions.set(request.deliveryId, [...(receptions.get(request.deliveryId) ?? []), request]);
    }
    const duplicates = [...receptions].filter(([, copies]) => copies.length > 1);
    const unanswered = receiver.received.filter((request) => !request.answered);
    log(
      `deliveries: ${rows.length} rows, ${receiver.received.length} requests received for ${receptions.size} ids; ` +
        `C killed while ${claimersAtKill} nodes held claims, with ${openAtKill} requests open at the receiver; ` +
        `C held ${heldByC.size} deliveries at its death, ${unanswered.length} of its requests went unanswered; ` +
        `delivered twice: ${duplicates.length}; all delivered ${((Date.now() - killedAt) / 1000).toFixed(1)} s after the kill; ` +
        `${((performance.now() - began) / 1000).toFixed(1)} s`,
    );

    // Every delivery reached the receiver...
    expect([...receptions.keys()].sort()).toEqual(rows.map((row) => row.id).sort());
    // ...at most twice, and twice only when C died holding it: C's attempt was in flight (sent,
    // its result not recorded), and another node sent it again once C's lease had lapsed.
    for (const [id, copies] of duplicates) {
      expect(copies, id).toHaveLength(2);
      expect(heldByC.has(id), `${id} arrived twice, but C did not hold it when it died`).toBe(true);
      expect(copies[0]!.at, `${id}: C's copy came after the kill`).toBeLessThan(killedAt + 1_000);
      expect(copies[1]!.at, `${id}: sent again before C's lease lapsed`).toBeGreaterThanOrEqual(heldByC.get(id)!);
    }
    // The receiver's view: the kill can only have cut requests C was making.
    for (const request of unanswered) expect(heldByC.has(request.deliveryId), `unanswered: ${request.deliveryId}`).toBe(true);
    // C's attempts never counted: each delivery is recorded as made on its first recorded attempt.
    expect(rows.filter((row) => Number(row.attempt_count) !== 1)).toEqual([]);
  }, 60_000);
});
