import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import type { Config, DatabaseConfig } from "../src/config.js";
import type { EventEnvelope } from "@whatisup/client";
import type { App } from "../src/http/app-types.js";
import { SandboxClock } from "../src/workers/sandbox-clock.js";
import {
  bearer,
  buildTestApp,
  createInstance,
  createTestCustomer,
  TEST_PEPPER,
  TIMESTAMP,
  type TestCustomer,
  writerOn,
} from "./helpers/test-app.js";
import { persistentDatabase, removeDatabase } from "./helpers/test-database.js";
import { FAST_WEBHOOKS, insertEndpoint } from "./helpers/webhook-fixtures.js";
import { MESSAGE_FIELDS } from "./helpers/message-fields.js";

const STEP_MS = 20;
const ENDPOINT_URL = "https://hooks.example.com/whatisup";
const STATE_TIMES = ["sent_at", "delivered_at", "read_at"] as const;

type Envelope = Omit<EventEnvelope, "data"> & { data: { message: Record<string, unknown> } };

const apps: App[] = [];
const databases: DatabaseConfig[] = [];

async function start(overrides: Partial<Config> = {}): Promise<App> {
  const app = await buildTestApp({
    sandboxStepMs: STEP_MS,
    workerPollMs: 10,
    rateLimit: { burst: 10_000, refillPerSecond: 1 },
    ...overrides,
  });
  apps.push(app);
  return app;
}

afterEach(async () => {
  await Promise.all(apps.splice(0).map((app) => app.close()));
  for (const database of databases.splice(0)) await removeDatabase(database);
});

async function send(app: App, customer: TestCustomer, instanceId: string, to = "+15551234567"): Promise<string> {
  const response = await app.inject({
    method: "POST",
    url: `/v1/instances/${instanceId}/messages`,
    headers: bearer(customer.secret),
    payload: { type: "text", to, text: "hello", client_ref: "ref-1" },
  });
  expect(response.statusCode, response.body).toBe(202);
  return (response.json() as { id: string }).id;
}

async function messageRow(app: App, id: string) {
  return app.db.selectFrom("messages").selectAll().where("id", "=", id).executeTakeFirstOrThrow();
}

/** The message events written for a message, in the order they were written. */
async function messageEvents(app: App, messageId: string): Promise<Envelope[]> {
  const rows = await app.db
    .selectFrom("webhook_deliveries")
    .select(["payload", "event", "created_at", "id"])
    .where("event", "like", "message.%")
    .orderBy("created_at")
    .orderBy("id")
    .execute();
  return rows
    .map((row) => JSON.parse(row.payload) as Envelope)
    .filter((envelope) => envelope.data.message.id === messageId);
}

describe("the sandbox transport", () => {
  it("plays queued → sent → delivered → read, one state per step, each with its event in webhook_deliveries", async () => {
    const app = await start();
    const acme = await createTestCustomer(app, "Acme");
    const endpointId = (await insertEndpoint(app.db, acme.customer.id, { url: ENDPOINT_URL })).id;
    const instance = await createInstance(app, acme.secret, "main");
    const id = await send(app, acme, instance.id);

    await expect.poll(async () => (await messageRow(app, id)).status, { timeout: 10_000, interval: 10 }).toBe("read");

    const events = await messageEvents(app, id);
    expect(events.map((event) => event.event)).toEqual(["message.sent", "message.delivered", "message.read"]);
    const row = await messageRow(app, id);
    for (const [index, envelope] of events.entries()) {
      expect(envelope.api_version).toBe("2026-04");
      expect(envelope.instance_id).toBe(instance.id);
      expect(envelope.occurred_at).toMatch(TIMESTAMP);
      expect(Object.keys(envelope.data.message).sort()).toEqual(MESSAGE_FIELDS);
      expect(envelope.data.message).toMatchObject({
        id,
        instance_id: instance.id,
        direction: "outbound",
        to: "+15551234567",
        type: "text",
        text: "hello",
        media: null,
        template: null,
        status: ["sent", "delivered", "read"][index],
        client_ref: "ref-1",
        error: null,
        failed_at: null,
        received_at: null,
        created_at: row.created_at,
      });
      // Each state's time is set as the message gets there, and kept after.
      for (const [state, field] of STATE_TIMES.entries()) {
        if (state <= index) expect(envelope.data.message[field]).toMatch(TIMESTAMP);
        else expect(envelope.data.message[field]).toBeNull();
      }
      expect(envelope.data.message[STATE_TIMES[index]!]).toBe(envelope.data.message.updated_at);
    }
    // One state per step: each move waited at least SANDBOX_STEP_MS after the previous one.
    const moments = [row.created_at, ...events.map((event) => event.data.message.updated_at as string)].map(Date.parse);
    for (let index = 1; index < moments.length; index++) {
      expect(moments[index]! - moments[index - 1]!).toBeGreaterThanOrEqual(STEP_MS);
    }
    expect(row.updated_at).toBe(events[2]!.data.message.updated_at);
    expect(row.error).toBeNull();

    const deliveries = await app.db.selectFrom("webhook_deliveries").selectAll().where("event", "like", "message.%").execute();
    for (const delivery of deliveries) {
      expect(delivery).toMatchObject({ endpoint_id: endpointId, customer_id: acme.customer.id, instance_id: instance.id });
    }
  });

  it("fails every message to +15550000000: queued → failed with an error and message.failed, and nothing after", async () => {
    const app = await start();
    const acme = await createTestCustomer(app, "Acme");
    await insertEndpoint(app.db, acme.customer.id, { url: ENDPOINT_URL });
    const instance = await createInstance(app, acme.secret, "main");
    const id = await send(app, acme, instance.id, "+15550000000");
    const other = await send(app, acme, instance.id, "+15550000001");

    await expect.poll(async () => (await messageRow(app, id)).status, { timeout: 10_000, interval: 10 }).toBe("failed");
    const row = await messageRow(app, id);
    expect(row.error).toMatch(/\+15550000000/);

    // Let the clock run well past the other message's lifecycle: the failed one never moves again.
    await expect.poll(async () => (await messageRow(app, other)).status, { timeout: 10_000, interval: 10 }).toBe("read");
    expect((await messageRow(app, id)).status).toBe("failed");

    const events = await messageEvents(app, id);
    expect(events.map((event) => event.event)).toEqual(["message.failed"]);
    const message = events[0]!.data.message;
    expect(Object.keys(message).sort()).toEqual(MESSAGE_FIELDS);
    expect(message).toMatchObject({ id, status: "failed", to: "+15550000000", error: row.error, sent_at: null, failed_at: row.failed_at });
    expect(message.failed_at).toMatch(TIMESTAMP);
  });

  it("writes no delivery when the customer has no endpoint, but still plays the lifecycle", async () => {
    const app = await start();
    const acme = await createTestCustomer(app, "Acme");
    const instance = await createInstance(app, acme.secret, "main");
    const id = await send(app, acme, instance.id);
    await expect.poll(async () => (await messageRow(app, id)).status, { timeout: 10_000, interval: 10 }).toBe("read");
    expect(await app.db.selectFrom("webhook_deliveries").selectAll().execute()).toEqual([]);
  });

  it("sends each event only to the customer's own endpoints", async () => {
    const app = await start();
    const acme = await createTestCustomer(app, "Acme");
    const globex = await createTestCustomer(app, "Globex");
    const globexEndpoint = (await insertEndpoint(app.db, globex.customer.id, { url: ENDPOINT_URL })).id;
    const acmeEndpoint = (await insertEndpoint(app.db, acme.customer.id, { url: ENDPOINT_URL })).id;
    const instance = await createInstance(app, acme.secret, "main");
    const id = await send(app, acme, instance.id);
    await expect.poll(async () => (await messageRow(app, id)).status, { timeout: 10_000, interval: 10 }).toBe("read");
    const endpoints = await app.db
      .selectFrom("webhook_deliveries")
      .select("endpoint_id")
      .where("event", "like", "message.%")
      .execute();
    expect(endpoints.map((row) => row.endpoint_id)).toEqual([acmeEndpoint, acmeEndpoint, acmeEndpoint]);
    expect(endpoints.map((row) => row.endpoint_id)).not.toContain(globexEndpoint);
  });

  it("two clocks running at once make each transition exactly once", async () => {
    // The app's own clock runs once at start, then sleeps for an hour: the two clocks below do the work.
    const app = await start({ sandboxStepMs: 0, workerPollMs: 3_600_000 });
    const acme = await createTestCustomer(app, "Acme");
    await insertEndpoint(app.db, acme.customer.id, { url: ENDPOINT_URL });
    const instance = await createInstance(app, acme.secret, "main");
    const ids: string[] = [];
    for (let n = 0; n < 8; n++) ids.push(await send(app, acme, instance.id, n === 0 ? "+15550000000" : `+1555123456${n}`));

    const clock = { db: app.db, write: writerOn(app.db, TEST_PEPPER, app.dialect), stepMs: 0, destinations: { allowLoopback: false } };
    const clocks = [new SandboxClock(clock), new SandboxClock(clock)];
    const rounds: number[] = [];
    for (let round = 0; round < 20; round++) {
      const handled = await Promise.all(clocks.map((clock) => clock.runOnce()));
      rounds.push(handled[0]! + handled[1]!);
      const statuses = await app.db.selectFrom("messages").select("status").execute();
      if (statuses.every((row) => row.status === "read" || row.status === "failed")) break;
    }

    // Both clocks read the same due messages each round and raced to move each of them: one move
    // per message per round (8 first: 7 sent + 1 failed; then 7 delivered; then 7 read), never two.
    expect(rounds).toEqual([8, 7, 7]);
    const deliveries = await app.db
      .selectFrom("webhook_deliveries")
      .select(["event", "payload"])
      .where("event", "like", "message.%")
      // In the order they were written (UUIDv7 ids are): PostgreSQL returns rows in any order
      // without one, and the dispatcher's updates move them.
      .orderBy("id")
      .execute();
    const seen = deliveries.map((row) => `${(JSON.parse(row.payload) as Envelope).data.message.id} ${row.event}`);
    expect(seen).toHaveLength(7 * 3 + 1);
    expect(new Set(seen).size).toBe(seen.length);
    for (const id of ids) {
      const events = seen.filter((entry) => entry.startsWith(id)).map((entry) => entry.split(" ")[1]);
      expect(events).toEqual(id === ids[0] ? ["message.failed"] : ["message.sent", "message.delivered", "message.read"]);
    }
  });

  it("two clocks probing the same media messages at once move each once: sent, or failed for a URL that answers 404", async () => {
    const fetched: string[] = [];
    const host = createServer((request, response) => {
      fetched.push(request.url ?? "");
      if (request.url === "/cat.png") response.writeHead(200, { "content-type": "image/png" }).end("png");
      else response.writeHead(404).end();
    });
    await new Promise<void>((resolve) => host.listen(0, "127.0.0.1", resolve));
    try {
      const base = `http://127.0.0.1:${(host.address() as AddressInfo).port}`;
      const app = await start({ sandboxStepMs: 0, workerPollMs: 3_600_000, webhooks: FAST_WEBHOOKS });
      const acme = await createTestCustomer(app, "Acme");
      await insertEndpoint(app.db, acme.customer.id, { url: ENDPOINT_URL });
      const instance = await createInstance(app, acme.secret, "main");
      const ids: Record<string, string> = {};
      for (const path of ["/cat.png", "/gone.png"]) {
        const response = await app.inject({
          method: "POST",
          url: `/v1/instances/${instance.id}/messages`,
          headers: bearer(acme.secret),
          payload: { type: "image", to: "+15551234567", media: { url: `${base}${path}` } },
        });
        expect(response.statusCode, response.body).toBe(202);
        ids[path] = (response.json() as { id: string }).id;
      }

      const clock = { db: app.db, write: writerOn(app.db, TEST_PEPPER, app.dialect), stepMs: 0, destinations: { allowLoopback: true } };
      const handled = await Promise.all([new SandboxClock(clock).runOnce(), new SandboxClock(clock).runOnce()]);
      expect(handled[0]! + handled[1]!).toBe(2);
      expect((await messageRow(app, ids["/cat.png"]!)).status).toBe("sent");
      expect(await messageRow(app, ids["/gone.png"]!)).toMatchObject({ status: "failed", error: "The sandbox fetched the media URL: HTTP 404" });
      expect((await messageEvents(app, ids["/cat.png"]!)).map((event) => event.event)).toEqual(["message.sent"]);
      expect((await messageEvents(app, ids["/gone.png"]!)).map((event) => event.event)).toEqual(["message.failed"]);
      // Both clocks may have fetched a URL (the probe comes before the move); only one moved it.
      expect([...new Set(fetched)].sort()).toEqual(["/cat.png", "/gone.png"]);
      expect(fetched.length).toBeLessThanOrEqual(4);
    } finally {
      host.closeAllConnections();
      await new Promise<void>((resolve) => host.close(() => resolve()));
    }
  });

  it("resumes after a restart: the state is in the table", async () => {
    const database = persistentDatabase();
    databases.push(database);

    // First process: accepts the message, then stops before its clock moves it.
    const first = await buildTestApp({ database, sandboxStepMs: 3_600_000, workerPollMs: 10 });
    const acme = await createTestCustomer(first, "Acme");
    const instance = await createInstance(first, acme.secret, "main");
    const id = await send(first, acme, instance.id);
    await first.close();

    const second = await start({ database });
    await expect.poll(async () => (await messageRow(second, id)).status, { timeout: 10_000, interval: 10 }).toBe("read");
  });

  it("leaves the messages of a deleted instance where they are", async () => {
    const app = await start({ sandboxStepMs: 3_600_000 });
    const acme = await createTestCustomer(app, "Acme");
    const instance = await createInstance(app, acme.secret, "main");
    const id = await send(app, acme, instance.id);
    const deleted = await app.inject({ method: "DELETE", url: `/v1/instances/${instance.id}`, headers: bearer(acme.secret) });
    expect(deleted.statusCode).toBe(204);
    const clock = { db: app.db, write: writerOn(app.db, TEST_PEPPER, app.dialect), stepMs: 0, destinations: { allowLoopback: false } };
    expect(await new SandboxClock(clock).runOnce()).toBe(0);
    expect((await messageRow(app, id)).status).toBe("queued");
  });
});
