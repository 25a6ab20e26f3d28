import type { AddressInfo } from "node:net";
import type { LightMyRequestResponse } from "fastify";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Config } from "../src/config.js";
import type { Db } from "../src/db/schema.js";
import type { App } from "../src/http/app-types.js";
import { authenticatedCount, holdRequest, type HeldRequest } from "./helpers/raw-http.js";
import { bearer, buildTestApp, createInstance, createTestCustomer, expectError, issueKey, type TestCustomer } from "./helpers/test-app.js";
import { persistentDatabase, removeDatabase, rowCounts, TEST_DIALECT } from "./helpers/test-database.js";
import { waitFor } from "./helpers/webhook-fixtures.js";

/**
 * Issue 10: a key that dies (revoked, expired, or bound to an instance that is deleted) stops
 * working for every request, including the ones already in flight. On SQLite there is one node;
 * on PostgreSQL the request is held on node B while the key dies through node A.
 */

const HOOK_URL = "http://127.0.0.1:9/hook";
const HELLO = { type: "text", to: "+15551234567", text: "hello" };

/** Every /v1 route that reads a body, and a body it accepts (the walk below keeps this complete). */
const HELD_WRITES: Record<string, { path: (instanceId: string) => string; body: object }> = {
  "POST /v1/api-keys": { path: () => "/v1/api-keys", body: { name: "minted while held" } },
  "POST /v1/instances": { path: () => "/v1/instances", body: { name: "made while held" } },
  "POST /v1/webhook-endpoints": { path: () => "/v1/webhook-endpoints", body: { url: HOOK_URL, events: ["*"] } },
  "POST /v1/instances/:id/messages": { path: (id) => `/v1/instances/${id}/messages`, body: HELLO },
  "POST /v1/instances/:id/sandbox/inbound": { path: (id) => `/v1/instances/${id}/sandbox/inbound`, body: { from: "+15557654321", text: "hello" } },
  // A key no one has: a roll that got past the re-check would answer 404, never the 401 expected.
  "POST /v1/api-keys/:id/roll": { path: () => "/v1/api-keys/00000000-0000-7000-8000-000000000000/roll", body: { expires_in_seconds: 60 } },
};

const settings: Partial<Config> = {
  metricsEnabled: true,
  rateLimit: { burst: 100_000, refillPerSecond: 1 },
  webhooks: { allowLoopback: true, retryDelaysMs: [3_600_000], attemptTimeoutMs: 1_000 },
};

const database = persistentDatabase();
let a: App;
let b: App;
let portOfB: number;

beforeAll(async () => {
  a = await buildTestApp({ ...settings, database });
  b = TEST_DIALECT === "postgres" ? await buildTestApp({ ...settings, database }) : a;
  await b.listen({ port: 0, host: "127.0.0.1" });
  portOfB = (b.server.address() as AddressInfo).port;
});

afterAll(async () => {
  await Promise.all([...new Set([a, b])].map((app) => app.close()));
  await removeDatabase(database);
});

const CUSTOMER_TABLES = ["api_keys", "instances", "webhook_endpoints", "messages", "audit_events", "webhook_deliveries"] as const;

/**
 * Audit events whose actor is a key that had already been revoked when they were recorded. The
 * invariant of issue 10: there are none.
 */
async function eventsByRevokedActors(db: Db, customerId: string): Promise<unknown[]> {
  return db
    .selectFrom("audit_events as event")
    .innerJoin("audit_events as revocation", (join) =>
      join
        .onRef("revocation.target_id", "=", "event.actor_id")
        .on("revocation.action", "=", "api_key.revoked")
        .onRef("revocation.created_at", "<", "event.created_at"),
    )
    .select(["event.id", "event.action", "event.actor_id", "event.created_at", "revocation.created_at as revoked_at"])
    .where("event.actor_type", "=", "api_key")
    .where("event.customer_id", "=", customerId)
    .execute();
}

/** A customer whose endpoint receives every event, so that any write would leave outbox rows. */
async function customerWithEndpoint(): Promise<TestCustomer & { instanceId: string }> {
  const acme = await createTestCustomer(a);
  const created = await a.inject({
    method: "POST",
    url: "/v1/webhook-endpoints",
    headers: bearer(acme.secret),
    payload: { url: HOOK_URL, events: ["*"] },
  });
  expect(created.statusCode, created.body).toBe(201);
  const instance = await createInstance(a, acme.secret, "main");
  return { ...acme, instanceId: instance.id };
}

/** Holds a request on node B until it has passed authentication there. */
async function holdPastAuthentication(route: string, instanceId: string, secret: string): Promise<HeldRequest> {
  const [method, url] = route.split(" ") as [string, string];
  const fixture = HELD_WRITES[route]!;
  const before = await authenticatedCount(b);
  const held = await holdRequest(portOfB, method, fixture.path(instanceId), secret, fixture.body);
  await waitFor(async () => (await authenticatedCount(b)) > before, `the held ${method} ${url} to pass authentication`);
  return held;
}

async function expiredNoticeAt(keyId: string): Promise<string | null> {
  const row = await a.db.selectFrom("api_keys").select("expired_notice_at").where("id", "=", keyId).executeTakeFirstOrThrow();
  return row.expired_notice_at;
}

async function expectRefusedAndNothingWritten(held: HeldRequest, customerId: string): Promise<void> {
  const before = await rowCounts(a.db, CUSTOMER_TABLES, customerId);
  const answer = await held.finish();
  expect(answer.status, JSON.stringify(answer.body)).toBe(401);
  expect(answer.body.error.code).toBe("auth_expired");
  expect(await rowCounts(a.db, CUSTOMER_TABLES, customerId)).toEqual(before);
}

describe("a request held mid-body", () => {
  it("walks every /v1 route that reads a body with a key (the leak report takes none)", () => {
    const bodyRoutes = a.routeTable.routes.filter((route) => route.hasBody && route.url.startsWith("/v1/") && !route.public);
    expect(bodyRoutes.map((route) => `${route.method} ${route.url}`).sort()).toEqual(Object.keys(HELD_WRITES).sort());
  });

  it.each(Object.keys(HELD_WRITES))("%s: the key revoked while the body was held is refused 401, nothing written", async (route) => {
    const acme = await customerWithEndpoint();
    const stolen = await issueKey(a, acme.secret, { name: "stolen" });
    const held = await holdPastAuthentication(route, acme.instanceId, stolen.secret);
    const revoked = await a.inject({ method: "DELETE", url: `/v1/api-keys/${stolen.id}`, headers: bearer(acme.secret) });
    expect(revoked.statusCode).toBe(204);
    await expectRefusedAndNothingWritten(held, acme.customer.id);
  });

  it.each(Object.keys(HELD_WRITES))("%s: the key that expired while the body was held is refused 401, nothing written", async (route) => {
    const acme = await customerWithEndpoint();
    const expiresAt = new Date(Date.now() + 1_000).toISOString();
    const brief = await issueKey(a, acme.secret, { name: "brief", expires_at: expiresAt });
    const held = await holdPastAuthentication(route, acme.instanceId, brief.secret);
    await waitFor(() => Date.now() > Date.parse(expiresAt) + 5, "the key to expire");
    // The expiry notifier writes the key's api_key.expired event once it has expired: a write of
    // its own, not the held request's, so it must be in before the counts are taken.
    await waitFor(async () => (await expiredNoticeAt(brief.id)) !== null, "the api_key.expired notice to be sent");
    await expectRefusedAndNothingWritten(held, acme.customer.id);
  });

  it("a bound key whose instance was deleted while the body was held is refused 401, nothing written", async () => {
    const acme = await customerWithEndpoint();
    const bound = await issueKey(a, acme.secret, { name: "bound", instance_id: acme.instanceId });
    const held = await holdPastAuthentication("POST /v1/instances/:id/messages", acme.instanceId, bound.secret);
    const deleted = await a.inject({ method: "DELETE", url: `/v1/instances/${acme.instanceId}`, headers: bearer(acme.secret) });
    expect(deleted.statusCode).toBe(204);
    await expectRefusedAndNothingWritten(held, acme.customer.id);
  });

  it("a request whose key stays live is answered once its body arrives (the hold itself is no refusal)", async () => {
    const acme = await customerWithEndpoint();
    const held = await holdPastAuthentication("POST /v1/api-keys", acme.instanceId, acme.secret);
    const answer = await held.finish();
    expect(answer.status, JSON.stringify(answer.body)).toBe(201);
    expect(answer.body.name).toBe("minted while held");
  });
});

/**
 * Every bodiless /v1 write: a target for it, and what reading the target shows after it ran or was
 * refused; `status` is its success when not 204, `read` where the target is read when not its path.
 */
const BODILESS_WRITES: Record<
  string,
  {
    target: (secret: string) => Promise<string>;
    expectDone: (now: LightMyRequestResponse) => void;
    expectUntouched: (now: LightMyRequestResponse) => void;
    status?: number;
    read?: (path: string) => string;
  }
> = {
  "DELETE /v1/api-keys/:id": {
    target: async (secret) => (await issueKey(a, secret, { name: "target" })).id,
    expectDone: (now) => expect(now.json().revoked_at).not.toBeNull(),
    expectUntouched: (now) => expect(now.json().revoked_at).toBeNull(),
  },
  "DELETE /v1/instances/:id": {
    target: async (secret) => (await createInstance(a, secret, "target")).id,
    expectDone: (now) => expectError(now, 404, "instance_not_found"),
    expectUntouched: (now) => expect(now.statusCode).toBe(200),
  },
  "DELETE /v1/webhook-endpoints/:id": {
    target: async (secret) => {
      const created = await a.inject({ method: "POST", url: "/v1/webhook-endpoints", headers: bearer(secret), payload: { url: HOOK_URL, events: ["*"] } });
      expect(created.statusCode, created.body).toBe(201);
      return (created.json() as { id: string }).id;
    },
    expectDone: (now) => expectError(now, 404, "webhook_endpoint_not_found"),
    expectUntouched: (now) => expect(now.statusCode).toBe(200),
  },
  // A failed delivery; once retried, it is retrying, or already failed again in another way.
  "POST /v1/webhook-deliveries/:id/retry": {
    target: async (secret) => {
      const created = await a.inject({ method: "POST", url: "/v1/webhook-endpoints", headers: bearer(secret), payload: { url: HOOK_URL, events: ["instance.created"] } });
      expect(created.statusCode, created.body).toBe(201);
      const instance = await createInstance(a, secret, "delivered");
      const listed = await a.inject({ url: `/v1/webhook-deliveries?instance_id=${instance.id}`, headers: bearer(secret) });
      const [delivery] = (listed.json() as { data: { id: string }[] }).data;
      await a.db.updateTable("webhook_deliveries").set(SPENT_DELIVERY).where("id", "=", delivery!.id).execute();
      return delivery!.id;
    },
    expectDone: (now) => expect(now.json()).not.toMatchObject(SPENT_DELIVERY),
    expectUntouched: (now) => expect(now.json()).toMatchObject(SPENT_DELIVERY),
    status: 202,
    read: (path) => path.slice(0, -"/retry".length),
  },
};

const SPENT_DELIVERY = { status: "failed", attempt_count: 3, last_error: "HTTP 500", next_attempt_at: null };

describe("bodiless writes racing the revocation of their key", () => {
  const ROUNDS = 25;

  it.each(Object.keys(BODILESS_WRITES))("%s: either it happened before the revocation committed, or it is refused", async (route) => {
    const write = BODILESS_WRITES[route]!;
    const acme = await createTestCustomer(a);
    let done = 0;
    for (let round = 0; round < ROUNDS; round += 1) {
      const stolen = await issueKey(a, acme.secret, { name: `stolen ${round}` });
      const [method, pattern] = route.split(" ") as ["DELETE" | "POST", string];
      const path = pattern.replace(":id", await write.target(acme.secret));
      const [byStolen, revocation] = await Promise.all([
        b.inject({ method, url: path, headers: bearer(stolen.secret) }),
        a.inject({ method: "DELETE", url: `/v1/api-keys/${stolen.id}`, headers: bearer(acme.secret) }),
      ]);
      expect(revocation.statusCode).toBe(204);
      const targetNow = await a.inject({ url: write.read?.(path) ?? path, headers: bearer(acme.secret) });
      if (byStolen.statusCode === (write.status ?? 204)) {
        done += 1;
        write.expectDone(targetNow);
      } else {
        expectError(byStolen, 401, "auth_expired");
        write.expectUntouched(targetNow);
      }
    }
    console.log(`[revocation] ${route} racing its key's revocation: ${done} of ${ROUNDS} went first`);
    expect(await eventsByRevokedActors(a.db, acme.customer.id)).toEqual([]);
  });

  it("walks every bodiless /v1 write: each route that writes without reading a body has its race above", () => {
    const bodiless = a.routeTable.routes.filter(
      (route) => !["GET", "HEAD", "OPTIONS"].includes(route.method) && !route.hasBody && route.url.startsWith("/v1/") && !route.public,
    );
    expect(bodiless.map((route) => `${route.method} ${route.url}`).sort()).toEqual(Object.keys(BODILESS_WRITES).sort());
  });

  // On PostgreSQL each round is a deadlock (each write holds its own key's row and wants the
  // other's), which PostgreSQL breaks after its deadlock_timeout (1 s): few rounds.
  it("two keys revoking each other at once: exactly one wins, and the lock conflict is never a 500", { timeout: 60_000 }, async () => {
    const acme = await createTestCustomer(a);
    for (let round = 0; round < 6; round += 1) {
      const first = await issueKey(a, acme.secret, { name: `first ${round}` });
      const second = await issueKey(a, acme.secret, { name: `second ${round}` });
      const answers = await Promise.all([
        a.inject({ method: "DELETE", url: `/v1/api-keys/${second.id}`, headers: bearer(first.secret) }),
        b.inject({ method: "DELETE", url: `/v1/api-keys/${first.id}`, headers: bearer(second.secret) }),
      ]);
      expect(answers.map((answer) => answer.statusCode).sort()).toEqual([204, 401]);
      expectError(answers.find((answer) => answer.statusCode === 401)!, 401, "auth_expired");
    }
    expect(await eventsByRevokedActors(a.db, acme.customer.id)).toEqual([]);
  });
});

describe("the audit invariant", () => {
  it("finds an event recorded after its actor's revocation (the check itself can fail)", async () => {
    const acme = await createTestCustomer(a);
    const late = await issueKey(a, acme.secret, { name: "late" });
    const revoked = await a.inject({ method: "DELETE", url: `/v1/api-keys/${late.id}`, headers: bearer(acme.secret) });
    expect(revoked.statusCode).toBe(204);
    const revocation = await a.db
      .selectFrom("audit_events")
      .selectAll()
      .where("target_id", "=", late.id)
      .where("action", "=", "api_key.revoked")
      .executeTakeFirstOrThrow();
    // Forged: an event that claims the revoked key acted a second after its revocation.
    const forgedAt = new Date(Date.parse(revocation.created_at) + 1_000).toISOString();
    expect(await eventsByRevokedActors(a.db, acme.customer.id)).toEqual([]);
    await a.db
      .insertInto("audit_events")
      .values({ ...revocation, id: crypto.randomUUID(), actor_type: "api_key", actor_id: late.id, created_at: forgedAt })
      .execute();
    expect(await eventsByRevokedActors(a.db, acme.customer.id)).toHaveLength(1);
  });
});
