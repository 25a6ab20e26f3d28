import Database from "better-sqlite3";
import { existsSync, readFileSync } from "node:fs";
import { performance } from "node:perf_hooks";
import { afterAll, describe, expect, it } from "vitest";
import { exitOf, runCli, serverProcessEnv, startServer, stopServer, type StartedServer } from "../test/helpers/cli-process.js";
import { persistentDatabase, removeDatabase } from "../test/helpers/test-database.js";
import { call, sleep } from "./stress-helpers.js";

/**
 * `npm run test:stress`, part (a): the server is SIGKILLed at random moments while clients issue,
 * use and revoke keys and send messages, and started again, KILLS times. Afterwards every
 * acknowledged key works unless its revocation was acknowledged, every acknowledged revocation
 * holds, every key has its audit event, every message that moved has its outbox row, no issued
 * secret is in the database file, and SQLite's integrity check passes. Embedded SQLite: the mode
 * a single machine runs.
 */

const KILLS = 20;
const CLIENTS = 6;

type Issued = { id: string; secret: string };
type Ledger = {
  issued: Issued[];
  revoked: Set<string>;
  /** Revocations sent whose answer never came: they may or may not have happened. */
  unsure: Set<string>;
  messages: string[];
};

/** One client's work until the server dies under it: issue, use, revoke, send. */
async function client(server: StartedServer, admin: string, instanceId: string, ledger: Ledger, alive: () => boolean): Promise<void> {
  while (alive()) {
    let pendingRevocation: string | null = null;
    try {
      const issued = await call(server, "POST", "/v1/api-keys", admin, { name: "stress" });
      if (issued.status !== 201) throw new Error(`issue answered ${issued.status}`);
      const key = { id: issued.body!.id as string, secret: issued.body!.secret as string };
      ledger.issued.push(key);
      const used = await call(server, "GET", "/v1/limits", key.secret);
      expect(used.status).toBe(200);
      const sent = await call(server, "POST", `/v1/instances/${instanceId}/messages`, key.secret, { type: "text", to: "+15551234567", text: "hi" });
      expect(sent.status).toBe(202);
      ledger.messages.push(sent.body!.id as string);
      if (Math.random() < 0.5) {
        pendingRevocation = key.id;
        ledger.unsure.add(key.id);
        const revoked = await call(server, "DELETE", `/v1/api-keys/${key.id}`, admin);
        expect(revoked.status).toBe(204);
        ledger.unsure.delete(key.id);
        ledger.revoked.add(key.id);
        pendingRevocation = null;
      }
    } catch (error) {
      if (alive()) throw error;
      // The server was killed mid-request: whatever was not acknowledged is unknown.
      if (pendingRevocation !== null) ledger.unsure.add(pendingRevocation);
      return;
    }
  }
}

describe("the server SIGKILLed under load", () => {
  const database = persistentDatabase();
  if (database.dialect !== "sqlite") throw new Error("the crash test runs on embedded SQLite");
  const env = { ...serverProcessEnv(database), SANDBOX_STEP_MS: "20", WORKER_POLL_MS: "20", LAST_USED_FLUSH_MS: "50", RATE_LIMIT_BURST: "1000000", CUSTOMER_RATE_LIMIT_BURST: "1000000", WEBHOOK_ALLOW_LOOPBACK: "true" };
  afterAll(() => removeDatabase(database));

  it(`${KILLS} kills: nothing acknowledged is lost, nothing half-written`, { timeout: 600_000 }, async () => {
    const created = await runCli(["customers", "create", "--name", "Stress", "--json"], env);
    expect(created.code, created.stderr).toBe(0);
    const admin = (JSON.parse(created.stdout) as { api_key: { secret: string } }).api_key.secret;
    let server = await startServer(env);
    const instance = await call(server, "POST", "/v1/instances", admin, { name: "main" });
    expect(instance.status).toBe(201);
    const endpoint = await call(server, "POST", "/v1/webhook-endpoints", admin, { url: "http://127.0.0.1:9/hook", events: ["*"] });
    expect(endpoint.status).toBe(201);
    const instanceId = instance.body!.id as string;

    const ledger: Ledger = { issued: [], revoked: new Set(), unsure: new Set(), messages: [] };
    const startedAt = performance.now();
    for (let kill = 0; kill < KILLS; kill += 1) {
      let alive = true;
      const clients = Array.from({ length: CLIENTS }, () => client(server, admin, instanceId, ledger, () => alive));
      await sleep(150 + Math.random() * 500);
      alive = false;
      const exited = exitOf(server.process);
      server.process.kill("SIGKILL");
      await Promise.all([exited, ...clients]);
      server = await startServer(env);
    }

    // Let the sandbox clock move what it will, then read everything back.
    await sleep(500);
    for (const key of ledger.issued) {
      const answer = await call(server, "GET", "/v1/limits", key.secret);
      if (ledger.revoked.has(key.id)) expect(answer.status, key.id).toBe(401);
      else if (!ledger.unsure.has(key.id)) expect(answer.status, key.id).toBe(200);
    }
    await stopServer(server);

    // No secret in the database file (nor its write-ahead log): keys are stored as digests only.
    const files = [database.path, `${database.path}-wal`].filter((file) => existsSync(file)).map((file) => readFileSync(file));
    const secretsFound = ledger.issued.filter((key) => files.some((bytes) => bytes.includes(key.secret))).length;
    expect(secretsFound).toBe(0);

    const sqlite = new Database(database.path, { readonly: true });
    try {
      expect(sqlite.pragma("integrity_check", { simple: true })).toBe("ok");
      const keysWithoutAudit = sqlite
        .prepare(
          "select k.id from api_keys k where not exists (select 1 from audit_events e where e.action = 'api_key.issued' and e.target_id = k.id)",
        )
        .all();
      expect(keysWithoutAudit).toEqual([]);
      const revokedWithoutAudit = sqlite
        .prepare(
          "select k.id from api_keys k where k.revoked_at is not null and not exists (select 1 from audit_events e where e.action = 'api_key.revoked' and e.target_id = k.id)",
        )
        .all();
      expect(revokedWithoutAudit).toEqual([]);
      const messagesStored = sqlite.prepare("select id, status from messages").all() as { id: string; status: string }[];
      const stored = new Set(messagesStored.map((message) => message.id));
      expect(ledger.messages.filter((id) => !stored.has(id))).toEqual([]);
      const movedWithoutOutbox = sqlite
        .prepare(
          "select m.id from messages m where m.status <> 'queued' and not exists (select 1 from webhook_deliveries d where d.event = 'message.sent' and d.payload like '%' || m.id || '%')",
        )
        .all();
      expect(movedWithoutOutbox).toEqual([]);
      console.log(
        `[stress:crash] ${KILLS} kills in ${((performance.now() - startedAt) / 1000).toFixed(1)} s: ${ledger.issued.length} keys acknowledged, ` +
          `${ledger.revoked.size} revocations acknowledged, ${ledger.unsure.size} unanswered, ${ledger.messages.length} messages accepted, ` +
          `${messagesStored.filter((message) => message.status !== "queued").length} moved on; integrity ok; ${secretsFound} secrets in the database file`,
      );
    } finally {
      sqlite.close();
    }
  });
});
