import { randomUUID } from "node:crypto";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { LightMyRequestResponse } from "fastify";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import type { FieldProblem } from "../src/errors/app-error.js";
import type { App } from "../src/http/app-types.js";
import { requestFingerprint } from "../src/idempotency/fingerprint.js";
import { IDEMPOTENCY_LEASE_MS, IDEMPOTENCY_RETENTION_MS } from "../src/idempotency/idempotency-repository.js";
import { toTimestamp } from "../src/time/timestamps.js";
import { IdempotencyPurge } from "../src/workers/idempotency-purge.js";
import { bearer, buildTestApp, createTestCustomer, expectError, issueKey, type TestCustomer } from "./helpers/test-app.js";
import { allowInserts, failInserts, rowCounts, TEST_DIALECT } from "./helpers/test-database.js";

/**
 * Idempotency-Key (issue 15, docs/idempotency.md) on one node: the three outcomes (a replay that
 * changes nothing, 422 for another request, 409 while the first runs), the record's lifetime
 * (released on failure, taken over after a crash, replaced after 24 hours, purged), the header's
 * rules, and the routes that refuse it. Two nodes at once: test/idempotency-nodes.test.ts.
 */

/** Every table a creation writes to, the records included: a replay must leave all as they were. */
const TABLES = ["instances", "webhook_endpoints", "audit_events", "webhook_deliveries", "api_keys", "idempotency_keys"];
/** Port 9 (discard) on loopback: nothing listens, so nothing is ever delivered anywhere. */
const HOOK_URL = "http://127.0.0.1:9/hook";
const FIELD = "headers.idempotency-key";

/**
 * A stand-in for the Cloud API whose number lookups, while it holds them, wait until the test
 * releases them: a `cloud_api` instance creation stays in its handler, its key held, for as long
 * as the test needs, and the test decides which of two held requests goes on first.
 */
class GatedCloudApi {
  private server: Server | null = null;
  private holding = false;
  /** The answers of the lookups held, first come first. */
  private readonly held: Array<() => void> = [];
  /** Resolves when a lookup has arrived (its request is inside its handler). */
  arrived: Promise<void> = Promise.resolve();
  private arrive: () => void = () => undefined;

  async start(): Promise<this> {
    this.server = createServer((request, response) => {
      const id = new URL(request.url ?? "/", "http://fake").pathname.split("/").pop();
      const answer = () => {
        response.writeHead(200, { "content-type": "application/json" });
        response.end(JSON.stringify({ display_phone_number: "+1 555-010-0199", verified_name: "Acme", id }));
      };
      if (this.holding) this.held.push(answer);
      else answer();
      this.arrive();
    });
    await new Promise<void>((resolve) => this.server!.listen(0, "127.0.0.1", resolve));
    return this;
  }

  close(): Promise<void> {
    this.open();
    this.server!.closeAllConnections();
    return new Promise((resolve) => this.server!.close(() => resolve()));
  }

  /** Holds the next lookups until they are released. */
  hold(): void {
    this.holding = true;
    this.awaitArrival();
  }

  /** `arrived` resolves at the next lookup. */
  awaitArrival(): void {
    this.arrived = new Promise((resolve) => (this.arrive = resolve));
  }

  /** Answers the lookup held longest. */
  releaseFirst(): void {
    this.held.shift()?.();
  }

  /** Answers every lookup held, and the next ones at once. */
  open(): void {
    this.holding = false;
    for (const answer of this.held.splice(0)) answer();
  }

  config() {
    const port = (this.server!.address() as AddressInfo).port;
    return { baseUrl: `http://127.0.0.1:${port}`, version: "v21.0", accessToken: "token", appSecret: "secret", verifyToken: "verify" };
  }
}

let app: App;
let cloudApi: GatedCloudApi;
let acme: TestCustomer;

beforeAll(async () => {
  cloudApi = await new GatedCloudApi().start();
  app = await buildTestApp({
    cloudApi: cloudApi.config(),
    webhooks: { allowLoopback: true, retryDelaysMs: [0], attemptTimeoutMs: 1000 },
    rateLimit: { burst: 100_000, refillPerSecond: 100_000 },
  });
});
afterAll(async () => {
  await app.close();
  await cloudApi.close();
});
beforeEach(async () => {
  acme = await createTestCustomer(app, "Acme");
});

function post(url: string, payload: unknown, key: string | undefined, secret = acme.secret): Promise<LightMyRequestResponse> {
  const headers: Record<string, string> = bearer(secret);
  if (key !== undefined) headers["idempotency-key"] = key;
  return app.inject({ method: "POST", url, headers, payload: payload as object });
}

function counts(customer = acme): Promise<Record<string, number>> {
  return rowCounts(app.db, TABLES, customer.customer.id);
}

function records(customer = acme) {
  return app.db.selectFrom("idempotency_keys").selectAll().where("customer_id", "=", customer.customer.id).execute();
}

function fingerprintOf(route: string, body: unknown, params: Record<string, string> = {}): string {
  return requestFingerprint({ method: "POST", route, params, body });
}

/** A record as another node would have left it: `running` with a lease, or `done` with an answer. */
async function insertRecord(values: {
  key: string;
  fingerprint: string;
  status: "running" | "done";
  leaseUntil?: number;
  createdAt?: number;
  response?: { status: number; body: unknown };
}): Promise<void> {
  await app.db
    .insertInto("idempotency_keys")
    .values({
      customer_id: acme.customer.id,
      key: values.key,
      fingerprint: values.fingerprint,
      status: values.status,
      token: "another-node",
      lease_until: values.leaseUntil === undefined ? null : toTimestamp(values.leaseUntil),
      response_status: values.response?.status ?? null,
      response_body: values.response ? JSON.stringify(values.response.body) : null,
      created_at: toTimestamp(values.createdAt ?? Date.now()),
    })
    .execute();
}

function expectHeaderRefused(response: LightMyRequestResponse, message?: RegExp): FieldProblem {
  const body = expectError(response, 400, "validation_failed");
  const fields = (body.error.details as { fields: FieldProblem[] }).fields;
  expect(fields.map((problem) => problem.field)).toEqual([FIELD]);
  if (message) expect(fields[0]!.message).toMatch(message);
  return fields[0]!;
}

describe("a retry with the same key and the same request", () => {
  it("gets the first answer again, marked Idempotent-Replayed, and creates nothing", async () => {
    const key = randomUUID();
    const first = await post("/v1/instances", { name: "main" }, key);
    expect(first.statusCode, first.body).toBe(201);
    expect(first.headers["idempotent-replayed"]).toBeUndefined();
    const after = await counts();
    expect(after).toMatchObject({ instances: 1, idempotency_keys: 1 });

    for (let retry = 0; retry < 3; retry += 1) {
      const again = await post("/v1/instances", { name: "main" }, key);
      expect(again.statusCode).toBe(201);
      expect(again.headers["idempotent-replayed"]).toBe("true");
      expect(again.headers["content-type"]).toMatch(/^application\/json/);
      expect(again.json()).toEqual(first.json());
    }
    expect(await counts()).toEqual(after);
  });

  it("is recognised whatever the order of the body's fields", async () => {
    const key = randomUUID();
    const first = await post("/v1/webhook-endpoints", { url: HOOK_URL, events: ["message.sent"] }, key);
    expect(first.statusCode, first.body).toBe(201);
    const again = await post("/v1/webhook-endpoints", { events: ["message.sent"], url: HOOK_URL }, key);
    expect(again.statusCode).toBe(201);
    expect(again.headers["idempotent-replayed"]).toBe("true");
    expect((await counts()).webhook_endpoints).toBe(1);
  });

  it("without the header, the same request twice creates two", async () => {
    expect((await post("/v1/instances", { name: "main" }, undefined)).statusCode).toBe(201);
    expect((await post("/v1/instances", { name: "main" }, undefined)).statusCode).toBe(201);
    expect((await counts()).instances).toBe(2);
  });

  it("of a webhook endpoint is answered without the signing secret, which is stored nowhere", async () => {
    const key = randomUUID();
    const first = await post("/v1/webhook-endpoints", { url: HOOK_URL, events: ["message.delivered"] }, key);
    expect(first.statusCode, first.body).toBe(201);
    const created = first.json() as { secret: string };
    expect(created.secret).toMatch(/^whsec_/);

    const again = await post("/v1/webhook-endpoints", { url: HOOK_URL, events: ["message.delivered"] }, key);
    expect(again.statusCode).toBe(201);
    expect(again.headers["idempotent-replayed"]).toBe("true");
    expect(again.headers["cache-control"]).toBe("no-store");
    const { secret: _secret, ...withoutSecret } = created;
    expect(again.json()).toEqual(withoutSecret);
    expect(again.body).not.toContain("whsec_");

    const [record] = await records();
    expect(record!.response_body).not.toContain("whsec_");
    expect(record!.response_body).not.toContain(created.secret.slice("whsec_".length));
    expect(JSON.parse(record!.response_body!)).toEqual(withoutSecret);
  });
});

describe("the same key on another request", () => {
  it("is 422 idempotency_key_reused for another body, and changes nothing", async () => {
    const key = randomUUID();
    expect((await post("/v1/instances", { name: "main" }, key)).statusCode).toBe(201);
    const before = await counts();
    const other = await post("/v1/instances", { name: "second" }, key);
    expectError(other, 422, "idempotency_key_reused");
    expect(other.headers["idempotent-replayed"]).toBeUndefined();
    expect(await counts()).toEqual(before);
  });

  it("is 422 on another route", async () => {
    const key = randomUUID();
    expect((await post("/v1/instances", { name: "main" }, key)).statusCode).toBe(201);
    expectError(await post("/v1/webhook-endpoints", { url: HOOK_URL, events: ["message.sent"] }, key), 422, "idempotency_key_reused");
    expect((await counts()).webhook_endpoints).toBe(0);
  });

  it("is another customer's own: the same key of two customers are two keys", async () => {
    const globex = await createTestCustomer(app, "Globex");
    const key = randomUUID();
    const mine = await post("/v1/instances", { name: "main" }, key);
    const theirs = await post("/v1/instances", { name: "main" }, key, globex.secret);
    expect([mine.statusCode, theirs.statusCode]).toEqual([201, 201]);
    expect(theirs.headers["idempotent-replayed"]).toBeUndefined();
    expect(theirs.json().id).not.toBe(mine.json().id);
    expect((await counts(globex)).instances).toBe(1);
    // Each customer's retry is answered with its own first answer.
    const myRetry = await post("/v1/instances", { name: "main" }, key);
    const theirRetry = await post("/v1/instances", { name: "main" }, key, globex.secret);
    expect([myRetry.headers["idempotent-replayed"], theirRetry.headers["idempotent-replayed"]]).toEqual(["true", "true"]);
    expect([myRetry.json().id, theirRetry.json().id]).toEqual([mine.json().id, theirs.json().id]);
  });

  it("is shared by the customer's keys: another key of the same customer gets the replay", async () => {
    const second = await issueKey(app, acme.secret, { name: "second", scopes: ["instances:write"] });
    const key = randomUUID();
    const first = await post("/v1/instances", { name: "main" }, key);
    const again = await post("/v1/instances", { name: "main" }, key, second.secret);
    expect(again.statusCode).toBe(201);
    expect(again.headers["idempotent-replayed"]).toBe("true");
    expect(again.json()).toEqual(first.json());
  });
});

describe("a retry while the first request runs", () => {
  it("is 409 idempotency_key_in_use, with Retry-After; once the first answered, the retry is replayed", async () => {
    const key = randomUUID();
    const body = { name: "cloud", transport: "cloud_api", phone_number_id: "900000000000001" };
    cloudApi.hold();
    const held = post("/v1/instances", body, key);
    await cloudApi.arrived;

    const during = await post("/v1/instances", body, key);
    expectError(during, 409, "idempotency_key_in_use");
    expect(during.headers["retry-after"]).toBe("1");
    expect((await counts()).instances).toBe(0);

    cloudApi.open();
    const first = await held;
    expect(first.statusCode, first.body).toBe(201);
    const after = await post("/v1/instances", body, key);
    expect(after.statusCode).toBe(201);
    expect(after.headers["idempotent-replayed"]).toBe("true");
    expect(after.json()).toEqual(first.json());
    expect((await counts()).instances).toBe(1);
  });

  it("is 409 for a record another node holds under a live lease", async () => {
    const key = randomUUID();
    await insertRecord({ key, fingerprint: fingerprintOf("/v1/instances", { name: "main" }), status: "running", leaseUntil: Date.now() + 30_000 });
    expectError(await post("/v1/instances", { name: "main" }, key), 409, "idempotency_key_in_use");
    expect((await counts()).instances).toBe(0);
  });
});

describe("the record's lifetime", () => {
  it("a running record whose lease ran out (its node crashed) is taken over: the retry runs", async () => {
    const key = randomUUID();
    await insertRecord({ key, fingerprint: fingerprintOf("/v1/instances", { name: "main" }), status: "running", leaseUntil: Date.now() - 1 });
    const retry = await post("/v1/instances", { name: "main" }, key);
    expect(retry.statusCode, retry.body).toBe(201);
    expect(retry.headers["idempotent-replayed"]).toBeUndefined();
    const [record] = await records();
    expect(record).toMatchObject({ status: "done", response_status: 201, lease_until: null });
    expect(record!.token).not.toBe("another-node");
    expect((await post("/v1/instances", { name: "main" }, key)).headers["idempotent-replayed"]).toBe("true");
    expect((await counts()).instances).toBe(1);
  });

  it("a request that outlives its lease and is taken over changes nothing: the retry's change is the one", async () => {
    const key = randomUUID();
    const body = { name: "cloud", transport: "cloud_api", phone_number_id: "900000000000002" };
    cloudApi.hold();
    const slow = post("/v1/instances", body, key);
    await cloudApi.arrived;
    // As if IDEMPOTENCY_LEASE_MS had passed with the first request still in its handler.
    await app.db.updateTable("idempotency_keys").set({ lease_until: toTimestamp(Date.now() - 1) }).where("key", "=", key).execute();
    // The retry takes the key over and reaches its own lookup; then the first one goes on, first.
    cloudApi.awaitArrival();
    const retrying = post("/v1/instances", body, key);
    await cloudApi.arrived;
    cloudApi.releaseFirst();
    expectError(await slow, 409, "idempotency_key_in_use");
    expect((await counts()).instances).toBe(0);

    cloudApi.open();
    const retry = await retrying;
    expect(retry.statusCode, retry.body).toBe(201);
    expect(retry.headers["idempotent-replayed"]).toBeUndefined();
    expect((await counts()).instances).toBe(1);
    const replay = await post("/v1/instances", body, key);
    expect(replay.headers["idempotent-replayed"]).toBe("true");
    expect(replay.json()).toEqual(retry.json());
  });

  it("a record older than 24 hours is replaced: the key starts afresh, for any request", async () => {
    const key = randomUUID();
    await insertRecord({
      key,
      fingerprint: fingerprintOf("/v1/instances", { name: "yesterday" }),
      status: "done",
      createdAt: Date.now() - IDEMPOTENCY_RETENTION_MS - 1000,
      response: { status: 201, body: { name: "yesterday" } },
    });
    const fresh = await post("/v1/instances", { name: "today" }, key);
    expect(fresh.statusCode, fresh.body).toBe(201);
    expect(fresh.headers["idempotent-replayed"]).toBeUndefined();
    expect(fresh.json().name).toBe("today");
    const [record] = await records();
    expect(Date.parse(record!.created_at)).toBeGreaterThan(Date.now() - 60_000);
  });

  it("a first request refused (404) leaves no record: a corrected retry with the same key runs", async () => {
    const key = randomUUID();
    const refused = await post("/v1/webhook-endpoints", { url: HOOK_URL, events: ["message.sent"], instance_id: randomUUID() }, key);
    expectError(refused, 404, "instance_not_found");
    expect(await records()).toEqual([]);
    const corrected = await post("/v1/webhook-endpoints", { url: HOOK_URL, events: ["message.sent"] }, key);
    expect(corrected.statusCode, corrected.body).toBe(201);
    expect(corrected.headers["idempotent-replayed"]).toBeUndefined();
    // From now on the key is the corrected request's.
    const retry = await post("/v1/webhook-endpoints", { url: HOOK_URL, events: ["message.sent"] }, key);
    expect(retry.headers["idempotent-replayed"]).toBe("true");
  });

  it("a first request refused by validation (400) leaves no record either", async () => {
    const key = randomUUID();
    expectError(await post("/v1/webhook-endpoints", { url: "ftp://example.com", events: ["message.sent"] }, key), 400, "validation_failed");
    expect(await records()).toEqual([]);
    expect((await post("/v1/webhook-endpoints", { url: HOOK_URL, events: ["message.sent"] }, key)).statusCode).toBe(201);
    expect((await post("/v1/webhook-endpoints", { url: HOOK_URL, events: ["message.sent"] }, key)).headers["idempotent-replayed"]).toBe("true");
    expect((await counts()).webhook_endpoints).toBe(1);
  });

  it("a write that fails in the database (500) rolls back with its record: the retry runs", async () => {
    const key = randomUUID();
    await failInserts(app.db, TEST_DIALECT, "audit_events");
    try {
      expectError(await post("/v1/instances", { name: "main" }, key), 500, "internal_error");
    } finally {
      await allowInserts(app.db, TEST_DIALECT, "audit_events");
    }
    expect(await counts()).toMatchObject({ instances: 0, idempotency_keys: 0 });
    const retry = await post("/v1/instances", { name: "main" }, key);
    expect(retry.statusCode).toBe(201);
    expect(retry.headers["idempotent-replayed"]).toBeUndefined();
    expect((await post("/v1/instances", { name: "main" }, key)).headers["idempotent-replayed"]).toBe("true");
    expect((await counts()).instances).toBe(1);
  });

  it("the purge deletes the records past 24 hours, and only those", async () => {
    const now = Date.now();
    await insertRecord({ key: "old", fingerprint: "f", status: "done", createdAt: now - IDEMPOTENCY_RETENTION_MS - 1, response: { status: 201, body: {} } });
    await insertRecord({ key: "old-running", fingerprint: "f", status: "running", createdAt: now - IDEMPOTENCY_RETENTION_MS - 1, leaseUntil: now - IDEMPOTENCY_RETENTION_MS + IDEMPOTENCY_LEASE_MS });
    await insertRecord({ key: "recent", fingerprint: "f", status: "done", createdAt: now - IDEMPOTENCY_RETENTION_MS + 60_000, response: { status: 201, body: {} } });
    const purge = new IdempotencyPurge({ db: app.db, clock: () => now });
    // The app's own purge may have run meanwhile: what counts is what is left.
    await purge.runOnce();
    expect(await purge.runOnce()).toBe(0);
    expect((await records()).map((record) => record.key)).toEqual(["recent"]);
  });
});

describe("the Idempotency-Key header", () => {
  it.each([
    ["empty", "", /empty/],
    ["256 characters", "k".repeat(256), /at most 255/],
    ["not ASCII", "clé-1", /printable ASCII/],
    ["a control character", "key\u007f", /printable ASCII/],
  ])("%s is 400 naming headers.idempotency-key, and nothing is created", async (_label, key, message) => {
    expectHeaderRefused(await post("/v1/instances", { name: "main" }, key), message);
    expect(await counts()).toMatchObject({ instances: 0, idempotency_keys: 0 });
  });

  it("255 printable characters, spaces included, are a key", async () => {
    const key = `${"~ !".repeat(85)}`;
    expect(key).toHaveLength(255);
    expect((await post("/v1/instances", { name: "main" }, key)).statusCode).toBe(201);
    expect((await post("/v1/instances", { name: "main" }, key)).headers["idempotent-replayed"]).toBe("true");
  });

  it("sent on two header lines is 400, even with the same value", async () => {
    for (const values of [["one", "one"], ["one", "two"]]) {
      const response = await app.inject({
        method: "POST",
        url: "/v1/instances",
        headers: { ...bearer(acme.secret), "idempotency-key": values },
        payload: { name: "main" },
      });
      expectHeaderRefused(response, /more than once/);
    }
    expect((await counts()).instances).toBe(0);
  });

  it("is refused by POST /v1/api-keys and its roll, saying that a replay would need the secret stored", async () => {
    const before = await counts();
    const issued = await post("/v1/api-keys", { name: "ci" }, randomUUID());
    expect(expectHeaderRefused(issued).message).toMatch(/secret/);
    const rolled = await post(`/v1/api-keys/${acme.key.id}/roll`, {}, randomUUID());
    expect(expectHeaderRefused(rolled).message).toMatch(/secret/);
    expect(await counts()).toEqual(before);
  });

  it("is refused as unsupported on any other POST route", async () => {
    const refused = await post(`/v1/webhook-deliveries/${randomUUID()}/retry`, undefined, randomUUID());
    expectHeaderRefused(refused, /not supported on this route/);
  });

  it("is ignored by GET and DELETE, which are idempotent already", async () => {
    const created = await post("/v1/instances", { name: "main" }, undefined);
    const headers = { ...bearer(acme.secret), "idempotency-key": "any" };
    expect((await app.inject({ method: "GET", url: "/v1/instances", headers })).statusCode).toBe(200);
    const deleted = await app.inject({ method: "DELETE", url: `/v1/instances/${created.json().id}`, headers });
    expect(deleted.statusCode).toBe(204);
    expect(await records()).toEqual([]);
  });

  it("an unknown route stays 404 with the header", async () => {
    expectError(await post("/v1/nowhere", {}, "key"), 404, "not_found");
  });

  it("is documented on the routes that honour it, with the new error codes", async () => {
    const document = (await app.inject({ url: "/openapi.json" })).json() as {
      paths: Record<string, Record<string, { parameters?: { name: string; in: string }[]; responses: Record<string, unknown> }>>;
    };
    for (const path of ["/v1/instances", "/v1/webhook-endpoints"]) {
      const operation = document.paths[path]!.post!;
      expect(operation.parameters?.some((parameter) => parameter.in === "header" && parameter.name.toLowerCase() === "idempotency-key")).toBe(true);
      expect(Object.keys(operation.responses)).toEqual(expect.arrayContaining(["409", "422"]));
    }
  });
});
