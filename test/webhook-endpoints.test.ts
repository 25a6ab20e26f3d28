import { randomUUID } from "node:crypto";
import type { LightMyRequestResponse } from "fastify";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import type { Config } from "../src/config.js";
import { readJson } from "../src/db/json.js";
import { EVENT_TYPES } from "../src/contract/webhook-event.js";
import type { AuditEvent, CreatedWebhookEndpoint, WebhookEndpoint } from "@whatisup/client";
import type { FieldProblem } from "../src/errors/app-error.js";
import type { App } from "../src/http/app-types.js";
import { SecretBox } from "../src/crypto/secret-box.js";
import {
  bearer,
  buildTestApp,
  createInstance,
  createTestCustomer,
  expectError,
  issueKey,
  type Page,
  TEST_PEPPER,
  TIMESTAMP,
  type TestCustomer,
  UUID,
} from "./helpers/test-app.js";

const ENDPOINT_FIELDS = ["created_at", "customer_id", "events", "id", "instance_id", "url"];
/** Port 9 (discard) on loopback: nothing listens, so nothing is ever delivered anywhere. */
const HOOK_URL = "http://127.0.0.1:9/hook";


function webhookSettings(allowLoopback: boolean): Pick<Config, "webhooks" | "rateLimit"> {
  return {
    webhooks: { allowLoopback, retryDelaysMs: [0], attemptTimeoutMs: 1000 },
    rateLimit: { burst: 10_000, refillPerSecond: 1 },
  };
}

let app: App;
let acme: TestCustomer;

// One app for the whole file (on PostgreSQL each app is a new schema, migrated), and a new
// customer for each test: customers see nothing of each other, so no test sees another's rows.
beforeAll(async () => {
  app = await buildTestApp(webhookSettings(true));
});
afterAll(() => app.close());
beforeEach(async () => {
  acme = await createTestCustomer(app, "Acme");
});

function get(url: string, secret: string, on: App = app): Promise<LightMyRequestResponse> {
  return on.inject({ method: "GET", url, headers: bearer(secret) });
}

function post(url: string, secret: string, payload: unknown, on: App = app): Promise<LightMyRequestResponse> {
  return on.inject({ method: "POST", url, headers: bearer(secret), payload: payload as object });
}

function del(url: string, secret: string): Promise<LightMyRequestResponse> {
  return app.inject({ method: "DELETE", url, headers: bearer(secret) });
}

/** A created endpoint as a first answer (not an idempotent replay) has it: with its secret. */
type EndpointWithSecret = CreatedWebhookEndpoint & { secret: string };

async function createEndpoint(secret: string, body: Record<string, unknown> = {}): Promise<EndpointWithSecret> {
  const response = await post("/v1/webhook-endpoints", secret, { url: HOOK_URL, events: ["*"], ...body });
  expect(response.statusCode, response.body).toBe(201);
  return response.json();
}

function withoutSecret({ secret: _secret, ...endpoint }: CreatedWebhookEndpoint): WebhookEndpoint {
  return endpoint;
}

/** Asserts a 400 validation_failed and returns the problem it names for `field`. */
function expectFieldRefused(response: LightMyRequestResponse, field: string): FieldProblem {
  const body = expectError(response, 400, "validation_failed");
  const fields = (body.error.details?.fields ?? []) as FieldProblem[];
  const problem = fields.find((candidate) => candidate.field === field);
  expect(problem, JSON.stringify(fields)).toBeDefined();
  return problem!;
}

function expectEndpointShape(endpoint: WebhookEndpoint, customerId: string): void {
  expect(Object.keys(endpoint).sort()).toEqual(ENDPOINT_FIELDS);
  expect(endpoint.id).toMatch(UUID);
  expect(endpoint.customer_id).toBe(customerId);
  expect(endpoint.created_at).toMatch(TIMESTAMP);
}

async function endpointIds(secret: string): Promise<string[]> {
  const response = await get("/v1/webhook-endpoints?limit=100", secret);
  expect(response.statusCode, response.body).toBe(200);
  return (response.json() as Page<WebhookEndpoint>).data.map((endpoint) => endpoint.id);
}

async function auditEvents(secret: string): Promise<AuditEvent[]> {
  const response = await get("/v1/audit-events?limit=100", secret);
  expect(response.statusCode, response.body).toBe(200);
  return (response.json() as Page<AuditEvent>).data;
}

describe("POST /v1/webhook-endpoints", () => {
  it("answers 201 with the endpoint and its whsec_ secret, not to be cached", async () => {
    const response = await post("/v1/webhook-endpoints", acme.secret, {
      url: HOOK_URL,
      events: ["message.delivered", "message.failed"],
    });
    expect(response.statusCode, response.body).toBe(201);
    expect(response.headers["cache-control"]).toBe("no-store");
    const created = response.json() as EndpointWithSecret;
    expect(Object.keys(created).sort()).toEqual([...ENDPOINT_FIELDS, "secret"].sort());
    expectEndpointShape(withoutSecret(created), acme.customer.id);
    expect(created.url).toBe(HOOK_URL);
    expect(created.events).toEqual(["message.delivered", "message.failed"]);
    expect(created.instance_id).toBeNull();
    expect(created.secret).toMatch(/^whsec_[A-Za-z0-9_-]{43}$/);
  });

  it("gives every endpoint its own secret", async () => {
    const first = await createEndpoint(acme.secret);
    const second = await createEndpoint(acme.secret);
    expect(first.secret).not.toBe(second.secret);
  });

  it("stores only the sealed secret, which opens back to the secret under the pepper", async () => {
    const created = await createEndpoint(acme.secret);
    const row = await app.db.selectFrom("webhook_endpoints").selectAll().where("id", "=", created.id).executeTakeFirstOrThrow();
    const randomPart = created.secret.slice("whsec_".length);
    for (const [column, value] of Object.entries(row)) {
      expect(String(value), column).not.toContain(randomPart);
    }
    expect(row.sealed_secret).not.toBe(created.secret);
    expect(new SecretBox(TEST_PEPPER).open(row.sealed_secret)).toBe(created.secret);
    // A JSON column: text on SQLite, jsonb (read back parsed) on PostgreSQL.
    expect(readJson(row.events)).toEqual(["*"]);
    expect(row.deleted_at).toBeNull();
  });

  it("accepts every event type, and * for all of them", async () => {
    const every = await createEndpoint(acme.secret, { events: [...EVENT_TYPES] });
    expect(every.events).toEqual([...EVENT_TYPES]);
    const all = await createEndpoint(acme.secret, { events: ["*"] });
    expect(all.events).toEqual(["*"]);
  });

  it("binds the endpoint to an instance of the customer, whatever the case of its id", async () => {
    const instance = await createInstance(app, acme.secret, "main");
    const created = await createEndpoint(acme.secret, { instance_id: instance.id.toUpperCase() });
    expect(created.instance_id).toBe(instance.id);
    const read = await get(`/v1/webhook-endpoints/${created.id}`, acme.secret);
    expect((read.json() as WebhookEndpoint).instance_id).toBe(instance.id);
  });

  it("accepts a URL of exactly 2048 characters", async () => {
    const url = `${HOOK_URL}?${"q".repeat(2048 - HOOK_URL.length - 1)}`;
    expect(url).toHaveLength(2048);
    expect((await createEndpoint(acme.secret, { url })).url).toBe(url);
  });

  describe("refuses a body that is not valid, with 400 validation_failed naming the field", () => {
    it.each([
      ["a missing url", { events: ["*"] }, "body.url"],
      ["a url that is not a string", { url: 42, events: ["*"] }, "body.url"],
      ["a url of 2049 characters", { url: `${HOOK_URL}?${"q".repeat(2049 - HOOK_URL.length - 1)}`, events: ["*"] }, "body.url"],
      ["missing events", { url: HOOK_URL }, "body.events"],
      ["empty events", { url: HOOK_URL, events: [] }, "body.events"],
      ["duplicate events", { url: HOOK_URL, events: ["message.sent", "message.sent"] }, "body.events"],
      ["events that are not an array", { url: HOOK_URL, events: "*" }, "body.events"],
      ["an instance_id that is not a UUID", { url: HOOK_URL, events: ["*"], instance_id: "main" }, "body.instance_id"],
      ["an unknown field", { url: HOOK_URL, events: ["*"], secret: "whsec_mine" }, "body.secret"],
    ])("%s", async (_label, payload, field) => {
      expectFieldRefused(await post("/v1/webhook-endpoints", acme.secret, payload), field);
    });

    it("an unknown event, listing the allowed values", async () => {
      const response = await post("/v1/webhook-endpoints", acme.secret, {
        url: HOOK_URL,
        events: ["message.sent", "message.exploded"],
      });
      const problem = expectFieldRefused(response, "body.events.1");
      expect([...(problem.allowed as string[])].sort()).toEqual([...EVENT_TYPES, "*"].sort());
    });
  });

  describe("refuses a URL the destination guard refuses, with its reason on body.url", () => {
    it.each([
      ["not a URL", "hook", "must be an absolute URL"],
      ["ftp", "ftp://127.0.0.1/hook", "must use http or https"],
      ["credentials", "http://user:pw@127.0.0.1:9/hook", "must not carry credentials"],
      ["the cloud metadata address", "http://169.254.169.254/latest/meta-data/", "169.254.169.254"],
      ["a private address", "http://10.0.0.1/hook", "10.0.0.1"],
      ["a private address written as an IPv4-mapped IPv6 literal", "http://[::ffff:10.0.0.1]/hook", "private"],
      ["0.0.0.0", "http://0.0.0.0:9/hook", "0.0.0.0"],
      ["a host that does not resolve", "https://no-such-host.invalid/hook", "does not resolve"],
    ])("%s, even with loopback allowed", async (_label, url, reason) => {
      const problem = expectFieldRefused(await post("/v1/webhook-endpoints", acme.secret, { url, events: ["*"] }), "body.url");
      expect(problem.message).toContain(reason);
    });

    describe("loopback, unless WEBHOOK_ALLOW_LOOPBACK", () => {
      let strict: App;
      let strictCustomer: TestCustomer;
      beforeAll(async () => {
        strict = await buildTestApp(webhookSettings(false));
      });
      afterAll(() => strict.close());
      beforeEach(async () => {
        strictCustomer = await createTestCustomer(strict, "Strict");
      });

      it.each(["http://127.0.0.1:9/hook", "http://[::1]:9/hook", "http://localhost:9/hook", "http://[::ffff:127.0.0.1]:9/"])(
        "refuses %s when loopback is not allowed, and accepts it when it is",
        async (url) => {
          const refused = await post("/v1/webhook-endpoints", strictCustomer.secret, { url, events: ["*"] }, strict);
          expect(expectFieldRefused(refused, "body.url").message).toContain("loopback");
          const list = await get("/v1/webhook-endpoints", strictCustomer.secret, strict);
          expect(list.json()).toEqual({ data: [], next_cursor: null });

          expect((await createEndpoint(acme.secret, { url })).url).toBe(url);
        },
      );
    });
  });

  describe("instance_id", () => {
    it("answers 404 instance_not_found for another customer's instance", async () => {
      const globex = await createTestCustomer(app, "Globex");
      const theirs = await createInstance(app, globex.secret, "theirs");
      const response = await post("/v1/webhook-endpoints", acme.secret, { url: HOOK_URL, events: ["*"], instance_id: theirs.id });
      expect(expectError(response, 404, "instance_not_found").error.details).toEqual({ instance_id: theirs.id });
    });

    it("answers 404 instance_not_found for an unknown instance and a deleted one", async () => {
      const deleted = await createInstance(app, acme.secret, "deleted");
      expect((await del(`/v1/instances/${deleted.id}`, acme.secret)).statusCode).toBe(204);
      for (const instanceId of [randomUUID(), deleted.id]) {
        const response = await post("/v1/webhook-endpoints", acme.secret, { url: HOOK_URL, events: ["*"], instance_id: instanceId });
        expectError(response, 404, "instance_not_found");
      }
    });
  });

  it("creates nothing and audits nothing when refused", async () => {
    const globex = await createTestCustomer(app, "Globex");
    const theirs = await createInstance(app, globex.secret, "theirs");
    const before = await auditEvents(acme.secret);
    await post("/v1/webhook-endpoints", acme.secret, { url: "http://10.0.0.1/", events: ["*"] });
    await post("/v1/webhook-endpoints", acme.secret, { url: HOOK_URL, events: [] });
    await post("/v1/webhook-endpoints", acme.secret, { url: HOOK_URL, events: ["*"], instance_id: theirs.id });
    expect(await endpointIds(acme.secret)).toEqual([]);
    const rows = await app.db
      .selectFrom("webhook_endpoints")
      .select("id")
      .where("customer_id", "in", [acme.customer.id, globex.customer.id])
      .execute();
    expect(rows).toEqual([]);
    expect(await auditEvents(acme.secret)).toEqual(before);
  });

  it("audits webhook_endpoint.created with the actor, in the request, and never the secret", async () => {
    const instance = await createInstance(app, acme.secret, "main");
    const response = await post("/v1/webhook-endpoints", acme.secret, {
      url: HOOK_URL,
      events: ["message.read"],
      instance_id: instance.id,
    });
    expect(response.statusCode, response.body).toBe(201);
    const created = response.json() as EndpointWithSecret;

    const events = (await auditEvents(acme.secret)).filter((event) => event.action === "webhook_endpoint.created");
    expect(events).toHaveLength(1);
    const event = events[0]!;
    expect(event.actor).toEqual({ type: "api_key", id: acme.key.id, prefix: acme.key.prefix });
    expect(event.target).toEqual({ type: "webhook_endpoint", id: created.id });
    expect(event.metadata).toEqual({ url: HOOK_URL, events: ["message.read"], instance_id: instance.id });
    expect(event.request_id).toBe(response.headers["x-request-id"]);

    const row = await app.db.selectFrom("webhook_endpoints").select("sealed_secret").where("id", "=", created.id).executeTakeFirstOrThrow();
    const stored = JSON.stringify(await app.db.selectFrom("audit_events").selectAll().execute());
    expect(stored).not.toContain(created.secret.slice("whsec_".length));
    expect(stored).not.toContain(row.sealed_secret);
  });
});

describe("GET /v1/webhook-endpoints", () => {
  it("answers {data, next_cursor} with the customer's endpoints, newest first, without secrets", async () => {
    const first = await createEndpoint(acme.secret, { events: ["message.sent"] });
    const second = await createEndpoint(acme.secret, { events: ["message.read"] });
    const response = await get("/v1/webhook-endpoints", acme.secret);
    expect(response.statusCode, response.body).toBe(200);
    const page = response.json() as Page<WebhookEndpoint>;
    expect(Object.keys(page).sort()).toEqual(["data", "next_cursor"]);
    expect(page.next_cursor).toBeNull();
    expect(page.data).toEqual([withoutSecret(second), withoutSecret(first)]);
    for (const endpoint of page.data) expectEndpointShape(endpoint, acme.customer.id);
    for (const secret of [first.secret, second.secret]) expect(response.body).not.toContain(secret.slice("whsec_".length));
    expect(response.body).not.toContain("secret");
  });

  it("answers an empty page for a customer without endpoints", async () => {
    const response = await get("/v1/webhook-endpoints", acme.secret);
    expect(response.statusCode).toBe(200);
    expect(response.json()).toEqual({ data: [], next_cursor: null });
  });

  it("paginates with limit and cursor: 5 endpoints, limit 2, 3 pages, no duplicates", async () => {
    const created: string[] = [];
    for (let n = 0; n < 5; n++) created.push((await createEndpoint(acme.secret)).id);
    const pages: Page<WebhookEndpoint>[] = [];
    let cursor: string | null = null;
    do {
      const query: string = cursor === null ? "limit=2" : `limit=2&cursor=${encodeURIComponent(cursor)}`;
      const response = await get(`/v1/webhook-endpoints?${query}`, acme.secret);
      expect(response.statusCode, response.body).toBe(200);
      const page = response.json() as Page<WebhookEndpoint>;
      pages.push(page);
      cursor = page.next_cursor;
      expect(pages.length).toBeLessThan(5);
    } while (cursor !== null);
    expect(pages.map((page) => page.data.length)).toEqual([2, 2, 1]);
    expect(pages.flatMap((page) => page.data.map((endpoint) => endpoint.id))).toEqual([...created].reverse());
  });

  it("refuses a cursor it did not issue and a limit over 100", async () => {
    expectFieldRefused(await get("/v1/webhook-endpoints?cursor=not-a-cursor", acme.secret), "querystring.cursor");
    expectFieldRefused(await get("/v1/webhook-endpoints?limit=101", acme.secret), "querystring.limit");
  });

  it("lists neither deleted endpoints nor another customer's", async () => {
    const globex = await createTestCustomer(app, "Globex");
    await createEndpoint(globex.secret);
    const deleted = await createEndpoint(acme.secret);
    const kept = await createEndpoint(acme.secret);
    expect((await del(`/v1/webhook-endpoints/${deleted.id}`, acme.secret)).statusCode).toBe(204);
    expect(await endpointIds(acme.secret)).toEqual([kept.id]);
  });
});

describe("GET /v1/webhook-endpoints/:id", () => {
  it("answers the endpoint as it was created, without its secret", async () => {
    const created = await createEndpoint(acme.secret, { events: ["instance.created", "instance.deleted"] });
    const response = await get(`/v1/webhook-endpoints/${created.id.toUpperCase()}`, acme.secret);
    expect(response.statusCode, response.body).toBe(200);
    expect(response.json()).toEqual(withoutSecret(created));
    expectEndpointShape(response.json(), acme.customer.id);
    expect(response.body).not.toContain(created.secret.slice("whsec_".length));
  });

  it("answers 404 webhook_endpoint_not_found for another customer's, an unknown and a deleted endpoint", async () => {
    const globex = await createTestCustomer(app, "Globex");
    const theirs = await createEndpoint(globex.secret);
    const deleted = await createEndpoint(acme.secret);
    expect((await del(`/v1/webhook-endpoints/${deleted.id}`, acme.secret)).statusCode).toBe(204);
    for (const id of [theirs.id, randomUUID(), deleted.id]) {
      expectError(await get(`/v1/webhook-endpoints/${id}`, acme.secret), 404, "webhook_endpoint_not_found");
    }
  });

  it("answers 400 validation_failed for an id that is not a UUID", async () => {
    expectFieldRefused(await get("/v1/webhook-endpoints/not-a-uuid", acme.secret), "params.id");
  });
});

describe("DELETE /v1/webhook-endpoints/:id", () => {
  it("answers 204 with no body and soft-deletes the endpoint: gone for the API, kept in the database", async () => {
    const doomed = await createEndpoint(acme.secret);
    const response = await del(`/v1/webhook-endpoints/${doomed.id}`, acme.secret);
    expect(response.statusCode, response.body).toBe(204);
    expect(response.body).toBe("");

    const row = await app.db.selectFrom("webhook_endpoints").selectAll().where("id", "=", doomed.id).executeTakeFirstOrThrow();
    expect(row.deleted_at).toMatch(TIMESTAMP);
    expectError(await get(`/v1/webhook-endpoints/${doomed.id}`, acme.secret), 404, "webhook_endpoint_not_found");
  });

  it("answers 404 webhook_endpoint_not_found when already deleted, and audits the deletion once", async () => {
    const doomed = await createEndpoint(acme.secret);
    const first = await del(`/v1/webhook-endpoints/${doomed.id}`, acme.secret);
    expect(first.statusCode).toBe(204);
    expectError(await del(`/v1/webhook-endpoints/${doomed.id}`, acme.secret), 404, "webhook_endpoint_not_found");

    const deletions = (await auditEvents(acme.secret)).filter((event) => event.action === "webhook_endpoint.deleted");
    expect(deletions).toHaveLength(1);
    const event = deletions[0]!;
    expect(event.actor).toEqual({ type: "api_key", id: acme.key.id, prefix: acme.key.prefix });
    expect(event.target).toEqual({ type: "webhook_endpoint", id: doomed.id });
    expect(event.metadata).toEqual({ url: HOOK_URL, events: ["*"], instance_id: null });
    expect(event.request_id).toBe(first.headers["x-request-id"]);
    expect(JSON.stringify(deletions)).not.toContain(doomed.secret.slice("whsec_".length));
  });

  it("answers 404 for another customer's endpoint and leaves it alone", async () => {
    const globex = await createTestCustomer(app, "Globex");
    const theirs = await createEndpoint(globex.secret);
    expectError(await del(`/v1/webhook-endpoints/${theirs.id}`, acme.secret), 404, "webhook_endpoint_not_found");
    expect((await get(`/v1/webhook-endpoints/${theirs.id}`, globex.secret)).statusCode).toBe(200);
    const deletions = (await auditEvents(globex.secret)).filter((event) => event.action === "webhook_endpoint.deleted");
    expect(deletions).toEqual([]);
  });

  it("answers 404 for an unknown id and 400 for an id that is not a UUID", async () => {
    expectError(await del(`/v1/webhook-endpoints/${randomUUID()}`, acme.secret), 404, "webhook_endpoint_not_found");
    expectFieldRefused(await del("/v1/webhook-endpoints/not-a-uuid", acme.secret), "params.id");
  });

  it("has no PATCH: an endpoint is replaced, not changed (405 method_not_allowed)", async () => {
    const created = await createEndpoint(acme.secret);
    const response = await app.inject({
      method: "PATCH",
      url: `/v1/webhook-endpoints/${created.id}`,
      headers: bearer(acme.secret),
      payload: { url: "http://127.0.0.1:10/" },
    });
    expectError(response, 405, "method_not_allowed");
    expect(response.headers.allow).toBe("GET, DELETE");
  });
});

describe("the outbox reads what is stored", () => {
  async function deliveriesTo(endpointId: string): Promise<string[]> {
    const rows = await app.db.selectFrom("webhook_deliveries").select("event").where("endpoint_id", "=", endpointId).execute();
    return rows.map((row) => row.event);
  }

  it("writes a delivery for a subscribed endpoint, none for an unsubscribed or a deleted one", async () => {
    const subscribed = await createEndpoint(acme.secret, { events: ["instance.created"] });
    const unsubscribed = await createEndpoint(acme.secret, { events: ["message.sent"] });
    const deleted = await createEndpoint(acme.secret, { events: ["*"] });
    expect((await del(`/v1/webhook-endpoints/${deleted.id}`, acme.secret)).statusCode).toBe(204);

    await createInstance(app, acme.secret, "main");
    expect(await deliveriesTo(subscribed.id)).toEqual(["instance.created"]);
    expect(await deliveriesTo(unsubscribed.id)).toEqual([]);
    expect(await deliveriesTo(deleted.id)).toEqual([]);
  });
});

describe("instance-bound keys", () => {
  it.each([
    ["POST", "/v1/webhook-endpoints"],
    ["DELETE", "/v1/webhook-endpoints/:endpoint"],
  ] as const)("get 403 instance_scoped_key on %s %s, and change nothing", async (method, template) => {
    const instance = await createInstance(app, acme.secret, "own");
    const bound = await issueKey(app, acme.secret, { name: "bound", instance_id: instance.id });
    const endpoint = await createEndpoint(acme.secret, { instance_id: instance.id });
    const url = template.replace(":endpoint", endpoint.id);
    const payload = { url: HOOK_URL, events: ["*"], instance_id: instance.id };
    const response = await app.inject({
      method,
      url,
      headers: bearer(bound.secret),
      ...(method === "POST" ? { payload } : {}),
    });
    const body = expectError(response, 403, "instance_scoped_key");
    expect(body.error.details).toEqual({ instance_id: instance.id });
    expect(await endpointIds(acme.secret)).toEqual([endpoint.id]);
  });
});

describe("scopes on the webhook endpoint routes", () => {
  it("a key without webhooks:write changes nothing: the refused create and delete leave the endpoints as they were", async () => {
    const endpoint = await createEndpoint(acme.secret);
    const reader = await issueKey(app, acme.secret, { name: "reader", scopes: ["webhooks:read"] });
    expectError(await post("/v1/webhook-endpoints", reader.secret, { url: HOOK_URL, events: ["*"] }), 403, "insufficient_scope");
    expectError(await del(`/v1/webhook-endpoints/${endpoint.id}`, reader.secret), 403, "insufficient_scope");
    expect(await endpointIds(acme.secret)).toEqual([endpoint.id]);
  });
});
