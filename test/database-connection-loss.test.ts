import { randomBytes } from "node:crypto";
import { sql } from "kysely";
import { afterEach, describe, expect, it } from "vitest";
import type pg from "pg";
import type { DatabaseConfig } from "../src/config.js";
import { reconnectingPool } from "../src/db/reconnecting-pool.js";
import type { App } from "../src/http/app-types.js";
import { bearer, buildTestApp, createTestCustomer, expectError } from "./helpers/test-app.js";
import { freshDatabase, rowCounts, TEST_DIALECT } from "./helpers/test-database.js";

/**
 * PostgreSQL drops sessions (a restart, a failover, pg_terminate_backend): the pool still holds
 * their clients, and transactions in flight die with them. What ran on its own or had not reached
 * COMMIT is run again on a fresh connection; a change lost during COMMIT is 503
 * `database_unavailable`, never a 500.
 */
describe.skipIf(TEST_DIALECT !== "postgres")("a lost connection to PostgreSQL", () => {
  let app: App | undefined;
  afterEach(async () => {
    await app?.close();
    app = undefined;
  });

  /** A private database whose connections carry a name of their own, so only they are cut. */
  async function appWithNamedConnections(): Promise<{ app: App; terminate: () => Promise<number> }> {
    const database = freshDatabase() as Extract<DatabaseConfig, { dialect: "postgres" }>;
    const name = `wt_loss_${randomBytes(4).toString("hex")}`;
    const url = new URL(database.url);
    url.searchParams.set("application_name", name);
    app = await buildTestApp({ database: { ...database, url: url.toString() } });
    const built = app;
    // Run on one of the app's own connections, which spares itself (pg_backend_pid).
    const terminate = async () => {
      const result = await sql<{ terminated: boolean }>`select pg_terminate_backend(pid) as terminated
        from (select pid from pg_stat_activity where application_name = ${name} and pid <> pg_backend_pid() offset 0) as others`.execute(built.db);
      return result.rows.filter((row) => row.terminated).length;
    };
    return { app: built, terminate };
  }

  /**
   * A trigger function `name` that ends its own session, and counts its runs in the sequence of the
   * same name (a sequence is not rolled back with the transaction the session takes with it).
   */
  async function createSessionKiller(app: App, name: string, { firstTimeOnly }: { firstTimeOnly: boolean }): Promise<void> {
    const condition = firstTimeOnly ? `nextval('${name}') = 1` : `nextval('${name}') > 0`;
    await sql.raw(`create sequence ${name}`).execute(app.db);
    await sql
      .raw(
        `create function ${name}() returns trigger language plpgsql as $$
        begin
          if ${condition} then perform pg_terminate_backend(pg_backend_pid()); perform pg_sleep(5); end if;
          return new;
        end; $$`,
      )
      .execute(app.db);
  }

  async function timesRun(app: App, name: string): Promise<number> {
    const result = await sql<{ last_value: string }>`select last_value from ${sql.raw(name)}`.execute(app.db);
    return Number(result.rows[0]!.last_value);
  }

  it("statements on connections PostgreSQL dropped are run again on fresh ones: no error reaches the client", async () => {
    const { app, terminate } = await appWithNamedConnections();
    const acme = await createTestCustomer(app);
    const warmUp = await Promise.all(Array.from({ length: 8 }, () => app.inject({ url: "/v1/instances", headers: bearer(acme.secret) })));
    expect(warmUp.map((answer) => answer.statusCode)).toEqual(Array(8).fill(200));

    expect(await terminate()).toBeGreaterThan(0);
    const reads = await Promise.all(Array.from({ length: 8 }, () => app.inject({ url: "/v1/instances", headers: bearer(acme.secret) })));
    expect(reads.map((answer) => answer.statusCode)).toEqual(Array(8).fill(200));

    await terminate();
    const issued = await app.inject({ method: "POST", url: "/v1/api-keys", headers: bearer(acme.secret), payload: { name: "after" } });
    expect(issued.statusCode, issued.body).toBe(201);
  });

  it("a transaction whose connection dies before COMMIT is run again, and commits once", async () => {
    const { app } = await appWithNamedConnections();
    const acme = await createTestCustomer(app);
    // The first audit insert kills its own session mid-transaction.
    await createSessionKiller(app, "die_once", { firstTimeOnly: true });
    await sql`create trigger die_once before insert on audit_events for each row execute function die_once()`.execute(app.db);
    const before = await rowCounts(app.db, ["api_keys", "audit_events"], acme.customer.id);

    const issued = await app.inject({ method: "POST", url: "/v1/api-keys", headers: bearer(acme.secret), payload: { name: "once" } });
    expect(issued.statusCode, issued.body).toBe(201);
    expect(await rowCounts(app.db, ["api_keys", "audit_events"], acme.customer.id)).toEqual({
      api_keys: before.api_keys! + 1,
      audit_events: before.audit_events! + 1,
    });
    expect(await timesRun(app, "die_once")).toBe(2);
  });

  it("a connection lost during COMMIT is 503 database_unavailable with Retry-After, not retried, not a 500", async () => {
    const { app } = await appWithNamedConnections();
    const acme = await createTestCustomer(app);
    // A deferred constraint trigger runs inside COMMIT: the session dies while committing.
    await createSessionKiller(app, "die_at_commit", { firstTimeOnly: false });
    await sql`create constraint trigger die_at_commit after insert on api_keys
      deferrable initially deferred for each row execute function die_at_commit()`.execute(app.db);

    const issued = await app.inject({ method: "POST", url: "/v1/api-keys", headers: bearer(acme.secret), payload: { name: "unknown" } });
    const body = expectError(issued, 503, "database_unavailable");
    expect(body.error.message).toMatch(/may or may not/);
    expect(issued.headers["retry-after"]).toBe("1");
    expect(await timesRun(app, "die_at_commit")).toBe(1);
  });
});

/**
 * The race the end-to-end cases above cannot force: a client handed out of the pool before it has
 * heard that its session was dropped. A fake pool: `fails(client, text)` says which statements of
 * the n-th client handed out fail, and with what.
 */
describe("the pool Kysely uses, when clients of dropped sessions are handed out", () => {
  const dropped = Object.assign(new Error("terminating connection due to administrator command"), { code: "57P01" });

  function fakePool(fails: (client: number, text: string) => Error | null) {
    const sent: string[] = [];
    const released: unknown[] = [];
    let handedOut = 0;
    const pool = {
      options: { max: 4 },
      connect: async () => {
        const client = (handedOut += 1);
        return {
          query: async (text: string) => {
            const error = fails(client, text);
            if (error) throw error;
            sent.push(text);
            return { command: "SELECT", rowCount: 1, rows: [{ text }] };
          },
          release: (error?: unknown) => released.push(error ?? "ok"),
        };
      },
      end: async () => undefined,
    };
    return { pool: reconnectingPool(pool as unknown as pg.Pool), sent, released };
  }

  it("a statement on its own is run again on the next client, past every dead one", async () => {
    const { pool, sent, released } = fakePool((client) => (client <= 3 ? dropped : null));
    const result = await (await pool.connect()).query<{ text: string }>("select 1", []);
    expect(result.rows).toEqual([{ text: "select 1" }]);
    expect(sent).toEqual(["select 1"]);
    expect(released).toEqual([dropped, dropped, dropped]);
  });

  it("so is the begin that opens a transaction, but not a statement inside one: the writer decides", async () => {
    const { pool, sent } = fakePool((client, text) => (client === 1 || text.startsWith("insert") ? dropped : null));
    const client = await pool.connect();
    await client.query("begin", []);
    await expect(client.query("insert into t values (1)", [])).rejects.toBe(dropped);
    expect(sent).toEqual(["begin"]);
  });

  it("gives up after as many attempts as the pool has clients; other errors are never retried", async () => {
    const dead = fakePool(() => dropped);
    await expect((await dead.pool.connect()).query("select 1", [])).rejects.toBe(dropped);
    expect(dead.released).toHaveLength(4);

    const syntax = Object.assign(new Error("syntax error"), { code: "42601" });
    const wrong = fakePool(() => syntax);
    await expect((await wrong.pool.connect()).query("selec 1", [])).rejects.toBe(syntax);
    expect(wrong.released).toEqual([]);
  });
});
