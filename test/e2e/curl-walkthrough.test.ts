import { statSync } from "node:fs";
import { dirname, join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { DatabaseConfig } from "../../src/config.js";
import { openDatabase } from "../../src/db/database.js";
import { persistentDatabase, removeDatabase } from "../helpers/test-database.js";
import { exitOf, runCli, serverProcessEnv, startServer, stopServer, type StartedServer } from "../helpers/cli-process.js";

/**
 * The README's first steps, checked answer by answer against the compiled program: a real server
 * process on a socket and the real CLI, sharing one database (readme-walkthrough.test.ts runs the
 * README's blocks themselves, as written). On embedded SQLite the first of them generates the pepper
 * beside the database file; on PostgreSQL both are given the same WHATISUP_KEY_PEPPER, as every
 * node must be. `npm test` builds dist/ first (pretest).
 */

describe("the README walk-through, over a socket", () => {
  const databases: DatabaseConfig[] = [];
  let database: DatabaseConfig;
  let env: NodeJS.ProcessEnv;
  let server: StartedServer;

  beforeAll(async () => {
    database = persistentDatabase();
    databases.push(database);
    env = serverProcessEnv(database);
    server = await startServer(env);
  });

  afterAll(async () => {
    await stopServer(server);
    for (const each of databases) await removeDatabase(each);
  });

  it("bootstraps with the CLI while the server runs, then walks list → issue → use → revoke → refused", async () => {
    const created = await runCli(["customers", "create", "--name", "Acme", "--json"], env);
    expect(created.code, created.stderr).toBe(0);
    const { customer, api_key: firstKey } = JSON.parse(created.stdout);
    expect(customer).toEqual({ id: expect.any(String), name: "Acme", created_at: expect.any(String) });
    expect(firstKey.scopes).toEqual(["*"]);
    expect(firstKey.secret).toMatch(/^zpk_live_[0-9A-Za-z]{49}$/);
    if (database.dialect === "sqlite") {
      // Embedded mode only: the pepper the first process generated, beside the database file.
      expect(statSync(join(dirname(database.path), "whatisup.pepper")).mode & 0o777).toBe(0o600);
    }

    type KeyBody = { id: string; secret: string; name: string };
    const call = (path: string, key: string, init: RequestInit = {}) =>
      fetch(`${server.baseUrl}${path}`, { ...init, headers: { authorization: `Bearer ${key}`, ...init.headers } });

    const listed = await call("/v1/api-keys", firstKey.secret);
    expect(listed.status).toBe(200);
    expect(((await listed.json()) as KeyBody[]).map((key) => key.id)).toEqual([firstKey.id]);

    const issuedResponse = await call("/v1/api-keys", firstKey.secret, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ name: "app-2026-q2" }),
    });
    expect(issuedResponse.status).toBe(201);
    expect(issuedResponse.headers.get("cache-control")).toBe("no-store");
    const issued = (await issuedResponse.json()) as KeyBody;
    expect(issued).toMatchObject({ name: "app-2026-q2", scopes: ["*"], revoked_at: null });

    const withNewKey = await call("/v1/api-keys", issued.secret);
    expect(withNewKey.status).toBe(200);
    expect(((await withNewKey.json()) as KeyBody[]).map((key) => key.id)).toEqual([issued.id, firstKey.id]);

    const revoked = await call(`/v1/api-keys/${issued.id}`, firstKey.secret, { method: "DELETE" });
    expect(revoked.status).toBe(204);
    expect(await revoked.text()).toBe("");

    const refused = await call("/v1/api-keys", issued.secret);
    expect(refused.status).toBe(401);
    expect(refused.headers.get("www-authenticate")).toMatch(/^Bearer/);
    const refusal = (await refused.json()) as { error: { code: string }; request_id: string };
    expect(refusal.error.code).toBe("auth_expired");
    expect(refusal.request_id).toBe(refused.headers.get("x-request-id"));

    const health = await fetch(`${server.baseUrl}/healthz`);
    expect(await health.json()).toEqual({ status: "ok" });

    // Graceful shutdown writes the pending last_used_at (the flush interval is ten minutes).
    const exited = exitOf(server.process);
    server.process.kill("SIGTERM");
    expect(await exited).toBe(0);
    const { db } = await openDatabase(database);
    try {
      const row = await db.selectFrom("api_key_last_used").select("last_used_at").where("key_id", "=", firstKey.id).executeTakeFirstOrThrow();
      expect(row.last_used_at).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    } finally {
      await db.destroy();
    }
  });

  it("prints a readable summary without --json, and refuses bad usage with exit code 2", async () => {
    const readable = await runCli(["customers", "create", "--name", "Globex"], env);
    expect(readable.code).toBe(0);
    expect(readable.stdout).toMatch(/zpk_live_[0-9A-Za-z]{49}/);
    expect(readable.stdout).toContain("will not be shown again");

    const missingName = await runCli(["customers", "create"], env);
    expect(missingName.code).toBe(2);
    expect(missingName.stderr).toContain("--name is required");

    const unknown = await runCli(["frobnicate"], env);
    expect(unknown.code).toBe(2);
  });

  it("migrates a new database once, then finds it up to date", async () => {
    const other = persistentDatabase();
    databases.push(other);
    const fresh = serverProcessEnv(other);
    const first = await runCli(["migrate"], fresh);
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout).toContain("Applied: 20261126130000_initial_schema");
    const second = await runCli(["migrate"], fresh);
    expect(second.code).toBe(0);
    expect(second.stdout).toContain("Already up to date.");

    const misconfigured = await runCli(["migrate"], { ...env, DATABASE_URL: "mysql://localhost/x" });
    expect(misconfigured.code).toBe(2);
    expect(misconfigured.stderr).toContain("DATABASE_URL");
  });
});
