import { connect, type Socket } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import type { DatabaseConfig } from "../src/config.js";
import { openDatabase } from "../src/db/database.js";
import type { App } from "../src/http/app-types.js";
import { exitOf, runCli, serverProcessEnv, startServer, stopServer, type StartedServer } from "./helpers/cli-process.js";
import { bearer, buildTestApp, createTestCustomer, TIMESTAMP } from "./helpers/test-app.js";
import { parseRawAnswer } from "./helpers/raw-http.js";
import { persistentDatabase, removeDatabase } from "./helpers/test-database.js";

/**
 * Deadlines over real sockets: inject() never has a slow client. The bounds below are generous
 * on purpose; without the deadlines each wait runs into them (Node's defaults are a minute and
 * more), and the tests only ask that the connection ends, not exactly when.
 */
const REQUEST_TIMEOUT_MS = 400;
const ENDS_WITHIN_MS = 8_000;

/** An authenticated POST /v1/api-keys that announces 100 bytes of body and sends 10. */
function unfinishedPost(secret: string): string {
  return (
    "POST /v1/api-keys HTTP/1.1\r\nHost: localhost\r\n" +
    `Authorization: ${bearer(secret).authorization}\r\n` +
    'Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{"name":"x'
  );
}

function portOf(app: App): number {
  const address = app.server.address();
  if (address === null || typeof address === "string") throw new Error("not listening on a port");
  return address.port;
}

describe("request deadlines, over a socket", () => {
  const apps: App[] = [];
  const sockets: Socket[] = [];
  afterEach(async () => {
    for (const socket of sockets.splice(0)) socket.destroy();
    for (const app of apps.splice(0)) await app.close();
  });

  async function listeningApp(): Promise<{ app: App; port: number }> {
    const app = await buildTestApp({ requestTimeoutMs: REQUEST_TIMEOUT_MS });
    apps.push(app);
    await app.listen({ port: 0, host: "127.0.0.1" });
    return { app, port: portOf(app) };
  }

  function open(port: number): Promise<Socket> {
    return new Promise((resolvePromise, reject) => {
      const socket = connect(port, "127.0.0.1", () => resolvePromise(socket));
      sockets.push(socket);
      socket.once("error", reject);
    });
  }

  /** Everything the server sent, once it has closed the connection; fails if it is still open after the bound. */
  function closedByServer(socket: Socket): Promise<string> {
    let received = "";
    socket.on("data", (chunk) => (received += chunk));
    return new Promise((resolvePromise, reject) => {
      const bound = setTimeout(() => reject(new Error(`the server kept the connection open for ${ENDS_WITHIN_MS} ms`)), ENDS_WITHIN_MS);
      socket.once("close", () => {
        clearTimeout(bound);
        resolvePromise(received);
      });
    });
  }

  it("answers a body that never finishes with 408 request_timeout and closes the connection; nothing is written", async () => {
    const { app, port } = await listeningApp();
    const acme = await createTestCustomer(app);
    const socket = await open(port);
    const closed = closedByServer(socket);
    socket.write(unfinishedPost(acme.secret));

    const answer = parseRawAnswer(await closed);
    expect(answer.status, answer.body).toBe(408);
    expect(answer.headers["content-type"]).toMatch(/^application\/json/);
    expect(answer.headers.connection).toBe("close");
    const body = JSON.parse(answer.body) as { error: { code: string; message: string }; request_id: string };
    expect(body.error.code).toBe("request_timeout");
    expect(body.error.message.length).toBeGreaterThan(0);
    expect(body.request_id).toMatch(/^req_/);
    expect(answer.headers["x-request-id"]).toBe(body.request_id);
    expect(Object.keys(body).sort()).toEqual(["error", "request_id"]);

    const keys = await app.db.selectFrom("api_keys").select("id").where("customer_id", "=", acme.customer.id).execute();
    expect(keys.map((key) => key.id)).toEqual([acme.key.id]);
  });

  it("closes a connection whose headers arrive a byte at a time and never end (slow-loris)", async () => {
    const { port } = await listeningApp();
    const socket = await open(port);
    const closed = closedByServer(socket);
    const head = "GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-Slow: ";
    let sent = 0;
    const dribble = setInterval(() => {
      if (socket.writable) socket.write(head[sent++] ?? "a");
    }, 100);
    try {
      const received = await closed;
      expect(received).toMatch(/^HTTP\/1\.1 408 /);
    } finally {
      clearInterval(dribble);
    }
  });

  it("closes an idle keep-alive connection after its bound", async () => {
    const { port } = await listeningApp();
    const socket = await open(port);
    const closed = closedByServer(socket);
    socket.write("GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n");

    const answer = parseRawAnswer(await closed);
    expect(answer.status).toBe(200);
    expect(answer.headers.connection).toBe("keep-alive");
    expect(JSON.parse(answer.body)).toEqual({ status: "ok" });
  });
});

describe("requests Node refuses before routing", () => {
  let app: App | undefined;
  afterEach(async () => {
    await app?.close();
  });

  it.each([
    ["not HTTP at all", "HELLO\r\n\r\n", /not a valid HTTP/],
    ["a request line over 16 KiB", `GET /v1/${"a".repeat(17 * 1024)} HTTP/1.1\r\nHost: localhost\r\n\r\n`, /16 KiB/],
  ])("answers %s with 400 validation_failed in the envelope and closes the connection", async (_label, request, message) => {
    app = await buildTestApp();
    await app.listen({ port: 0, host: "127.0.0.1" });
    const socket = connect(portOf(app), "127.0.0.1");
    let received = "";
    socket.on("data", (chunk) => (received += chunk));
    const closed = new Promise((resolvePromise) => socket.once("close", resolvePromise));
    socket.on("error", () => undefined);
    socket.write(request);
    await closed;

    const answer = parseRawAnswer(received);
    expect(answer.status).toBe(400);
    expect(answer.headers.connection).toBe("close");
    const body = JSON.parse(answer.body) as { error: { code: string; details: { fields: Array<{ field: string; message: string }> } }; request_id: string };
    expect(body.error.code).toBe("validation_failed");
    expect(body.error.details.fields).toEqual([{ field: "request", message: expect.stringMatching(message) }]);
    expect(answer.headers["x-request-id"]).toBe(body.request_id);
  });
});

describe("graceful shutdown with a held request", () => {
  const databases: DatabaseConfig[] = [];
  let server: StartedServer | undefined;
  let held: Socket | undefined;
  afterEach(async () => {
    held?.destroy();
    await stopServer(server);
    for (const database of databases.splice(0)) await removeDatabase(database);
  });

  it("writes last_used_at as soon as close begins, while a held request still keeps the server open", async () => {
    const app = await buildTestApp({ requestTimeoutMs: 60_000 });
    await app.listen({ port: 0, host: "127.0.0.1" });
    const acme = await createTestCustomer(app);
    // The flush interval of the test config is an hour: this use stays pending in memory.
    expect((await app.inject({ method: "GET", url: "/v1/api-keys", headers: bearer(acme.secret) })).statusCode).toBe(200);
    const lastUsed = async () =>
      (await app.db.selectFrom("api_key_last_used").select("last_used_at").where("key_id", "=", acme.key.id).executeTakeFirst())?.last_used_at ?? null;

    held = connect(portOf(app), "127.0.0.1");
    held.on("error", () => undefined);
    let heldOpen = true;
    const heldClosed = new Promise<void>((resolvePromise) =>
      held!.once("close", () => {
        heldOpen = false;
        resolvePromise();
      }),
    );
    const heldArrived = new Promise((resolvePromise) => app.server.once("request", resolvePromise));
    held.write(unfinishedPost(acme.secret));
    await heldArrived;

    const closing = app.close();
    try {
      await expect.poll(lastUsed, { timeout: ENDS_WITHIN_MS }).toMatch(TIMESTAMP);
      expect(heldOpen).toBe(true);
    } finally {
      app.server.closeAllConnections();
      await closing;
    }
    await heldClosed;
  });

  it("flushes last_used_at, ends the held request at SHUTDOWN_TIMEOUT_MS and exits 0", async () => {
    const database = persistentDatabase();
    databases.push(database);
    // The request deadline is far away: only the shutdown deadline can end the held request.
    // At debug, a request's arrival is logged ("incoming request"): the held one's is awaited.
    const env = { ...serverProcessEnv(database), REQUEST_TIMEOUT_MS: "60000", SHUTDOWN_TIMEOUT_MS: "500", LOG_LEVEL: "debug" };
    const created = await runCli(["customers", "create", "--name", "Acme", "--json"], env);
    expect(created.code, created.stderr).toBe(0);
    const { api_key: key } = JSON.parse(created.stdout) as { api_key: { id: string; secret: string } };
    server = await startServer(env);
    const started = server;

    // LAST_USED_FLUSH_MS is ten minutes: this use is pending in memory until shutdown.
    const listed = await fetch(`${started.baseUrl}/v1/api-keys`, { headers: bearer(key.secret) });
    expect(listed.status).toBe(200);

    let log = "";
    const heldArrived = new Promise<void>((resolvePromise) => {
      started.process.stdout!.on("data", (chunk) => {
        log += chunk;
        if (/"method":"POST".*"msg":"incoming request"/.test(log)) resolvePromise();
      });
    });
    const port = Number(new URL(started.baseUrl).port);
    held = connect(port, "127.0.0.1");
    held.on("error", () => undefined);
    held.write(unfinishedPost(key.secret));
    await heldArrived;

    const exited = exitOf(started.process);
    started.process.kill("SIGTERM");
    expect(await exited).toBe(0);

    const { db } = await openDatabase(database);
    try {
      const row = await db.selectFrom("api_key_last_used").select("last_used_at").where("key_id", "=", key.id).executeTakeFirstOrThrow();
      expect(row.last_used_at).toMatch(TIMESTAMP);
    } finally {
      await db.destroy();
    }
  });
});
