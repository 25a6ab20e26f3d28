import { randomUUID } from "node:crypto";
import Fastify, { type LightMyRequestResponse } from "fastify";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildApp } from "../src/app.js";
import type { ErrorCode, IssuedApiKey } from "@whatisup/client";
import { installAuthentication, type AuthenticationDependencies } from "../src/http/authentication.js";
import { generateKey } from "../src/crypto/key-format.js";
import type { RouteAccess } from "../src/http/route-access.js";
import type { RegisteredRoute } from "../src/http/route-table.js";
import { SCOPES, type Scope } from "../src/contract/scopes.js";
import type { App } from "../src/http/app-types.js";
import { bearer, createInstance, createTestCustomer, expectError, issueKey, testConfig } from "./helpers/test-app.js";
import { rowCounts } from "./helpers/test-database.js";
import { deliveriesOf, emitEvent, insertEndpoint } from "./helpers/webhook-fixtures.js";

/** The routes every build must have; the walk fails if the route table stops seeing them. */
const KNOWN_V1_ROUTES = [
  "DELETE /v1/api-keys/:id",
  "DELETE /v1/instances/:id",
  "GET /v1/api-keys",
  "GET /v1/api-keys/:id",
  "GET /v1/api-keys/current",
  "POST /v1/api-keys/:id/roll",
  "GET /v1/audit-events",
  "GET /v1/instances",
  "GET /v1/instances/:id",
  "GET /v1/limits",
  "POST /v1/api-keys",
  "POST /v1/instances",
  "POST /v1/instances/:id/messages",
  "GET /v1/instances/:id/messages",
  "GET /v1/instances/:id/messages/:message_id",
  "POST /v1/instances/:id/sandbox/inbound",
  "GET /v1/webhook-endpoints",
  "POST /v1/webhook-endpoints",
  "GET /v1/webhook-endpoints/:id",
  "DELETE /v1/webhook-endpoints/:id",
  "GET /v1/webhook-deliveries",
  "GET /v1/webhook-deliveries/:id",
  "POST /v1/webhook-deliveries/:id/retry",
];

type WalkedRoute = RegisteredRoute & { name: string };

/**
 * One entry per method and path under /v1 that takes a key, HEAD excluded (Fastify adds it beside
 * each GET). The routes declared public (config.public) are walked by their own tests.
 */
function v1Routes(table: readonly RegisteredRoute[]): WalkedRoute[] {
  return table
    .filter((route) => (route.url.startsWith("/v1/") || route.url === "/v1") && route.method !== "HEAD" && !route.public)
    .map((route) => ({ ...route, name: `${route.method} ${route.url}` }))
    .sort((a, b) => a.name.localeCompare(b.name));
}

const HOUR = 3_600_000;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

const app: App = await buildApp(
  testConfig({
    rateLimit: { burst: 100_000, refillPerSecond: 1 },
    authFailureLimit: { burst: 100_000, refillPerSecond: 1 },
  }),
  { logger: false },
);
await app.ready();
afterAll(() => app.close());

// The app records every route of every encapsulated context itself (src/http/route-table.ts).
const allRoutes = app.routeTable.routes;
const routes = v1Routes(allRoutes);
const scopedRoutes = routes.filter((route) => route.access?.scope != null);
const multiRoutes = routes.filter((route) => route.access?.instances === "multi");
const singleInstanceRoutes = routes.filter((route) => route.access !== undefined && route.access.instances !== "multi");
const narrowedRoutes = routes.filter((route) => route.access?.instances === "narrowed");

// Keys shared by the walk: the customer's first key (*), one key per single scope, one bound key
// with every scope, a revoked key and an expired one. Acme has a second instance, for narrowing.
const acme = await createTestCustomer(app, "Acme");
const expiresAt = new Date(Date.now() + 1_000).toISOString();
const expiredKey = await issueKey(app, acme.secret, { name: "expired", expires_at: expiresAt });
const ownInstance = await createInstance(app, acme.secret, "own");
const otherInstance = await createInstance(app, acme.secret, "other");
const boundKey = await issueKey(app, acme.secret, { name: "bound", instance_id: ownInstance.id, scopes: ["*"] });
const singleScopeKeys = new Map<Scope, IssuedApiKey>();
for (const scope of SCOPES) {
  if (scope !== "*") singleScopeKeys.set(scope, await issueKey(app, acme.secret, { name: `only ${scope}`, scopes: [scope] }));
}
const revokedKey = await issueKey(app, acme.secret, { name: "revoked" });
// Usable only from 203.0.113.0/24; the walk's requests come from 127.0.0.1.
const listedKey = await issueKey(app, acme.secret, { name: "listed", allowed_ips: ["203.0.113.0/24"] });
expect((await app.inject({ method: "DELETE", url: `/v1/api-keys/${revokedKey.id}`, headers: bearer(acme.secret) })).statusCode).toBe(204);
await sleep(Date.parse(expiresAt) - Date.now() + 50);

/**
 * What a narrowed route's fixture seeds, all of Acme: one row of the bound key's own instance, and
 * rows the bound key must not see (one of Acme's other instance at least), each with its instance.
 */
type NarrowedRows = { own: string; hidden: { id: string; instanceId: string | null }[] };

/**
 * One fixture per route whose policy is `narrowed`, keyed by the route's name: a list route must
 * filter a bound key's rows to its instance, a get-by-id route must answer another instance's row
 * with the resource's 404. A new narrowed route fails the walk until it has one here. An action on
 * one row (`status`: its success, if not 200) counts as a get.
 */
type NarrowedFixture =
  | { kind: "list"; seed: () => Promise<NarrowedRows> }
  | { kind: "get"; notFound: ErrorCode; status?: number; seed: () => Promise<NarrowedRows> };

let deliveries: Promise<NarrowedRows> | undefined;
let retriedDeliveries: Promise<NarrowedRows> | undefined;

/** Three deliveries (own instance, other instance, no instance), made once for both delivery routes. */
function seedDeliveries(): Promise<NarrowedRows> {
  // Their first attempt is an hour away, so the URL is never called.
  deliveries ??= seedDeliveriesTo("https://hooks.example.com/route-walk", "message.read");
  return deliveries;
}

/**
 * The same for the retry route, apart: a retry makes a delivery due now, and its attempt is to an
 * address the destination guard refuses before any connection.
 */
function seedRetriedDeliveries(): Promise<NarrowedRows> {
  retriedDeliveries ??= seedDeliveriesTo("https://127.0.0.1/route-walk", "message.failed");
  return retriedDeliveries;
}

function seedDeliveriesTo(url: string, event: "message.read" | "message.failed"): Promise<NarrowedRows> {
  return (async () => {
    // Subscribed to an event nothing in the walk emits, so its deliveries are these alone.
    const endpoint = await insertEndpoint(app.db, acme.customer.id, { url, events: [event] });
    const deliver = async (instanceId: string | null): Promise<string> => {
      const envelope = await emitEvent(app.db, acme.customer.id, { event, instanceId }, HOUR);
      const rows = await deliveriesOf(app.db, envelope.event_id);
      expect(rows.map((row) => row.endpoint_id)).toEqual([endpoint.id]);
      return rows[0]!.id;
    };
    return {
      own: await deliver(ownInstance.id),
      hidden: [
        { id: await deliver(otherInstance.id), instanceId: otherInstance.id },
        { id: await deliver(null), instanceId: null },
      ],
    };
  })();
}

const NARROWED_FIXTURES: Record<string, NarrowedFixture> = {
  "GET /v1/webhook-deliveries": { kind: "list", seed: seedDeliveries },
  "GET /v1/webhook-deliveries/:id": { kind: "get", notFound: "delivery_not_found", seed: seedDeliveries },
  "POST /v1/webhook-deliveries/:id/retry": { kind: "get", notFound: "delivery_not_found", status: 202, seed: seedRetriedDeliveries },
};

/** The route's path with `:id` (and any other parameter) filled in. */
function concrete(route: WalkedRoute, id: string = randomUUID()): string {
  return route.url.replace(/:[A-Za-z_]+/g, id);
}

function call(route: WalkedRoute, headers: Record<string, string> = {}, url = concrete(route)): Promise<LightMyRequestResponse> {
  return app.inject({ method: route.method as "GET", url, headers });
}

/** The checksum is the last character's job to get right: change it and the key is malformed. */
function withBadChecksum(key: string): string {
  const last = key.at(-1);
  return key.slice(0, -1) + (last === "A" ? "B" : "A");
}

describe("the route walk", () => {
  it("collected every known /v1 route, without HEAD", () => {
    const names = routes.map((route) => route.name);
    expect(names).toEqual(expect.arrayContaining(KNOWN_V1_ROUTES));
    expect(names.some((name) => name.startsWith("HEAD "))).toBe(false);
  });

  it("reads a route table that sees every encapsulated context: /v1, Swagger UI's, and the HEAD routes Fastify adds", () => {
    const names = allRoutes.map((route) => `${route.method} ${route.url}`);
    expect(names).toEqual(expect.arrayContaining(["GET /v1/api-keys", "HEAD /v1/api-keys", "GET /docs/static/*", "GET /healthz"]));
    expect(new Set(names).size).toBe(names.length);
    for (const route of allRoutes) expect(route.method).toBe(route.method.toUpperCase());
  });

  it("every /v1 route declares a valid access policy", () => {
    expect(routes.length).toBeGreaterThanOrEqual(KNOWN_V1_ROUTES.length);
    for (const route of routes) {
      expect(route.access, route.name).toBeDefined();
      const access = route.access!;
      if (access.scope !== null) expect(SCOPES, route.name).toContain(access.scope);
      expect(["multi", "param", "narrowed", "none"], route.name).toContain(access.instances);
      if (access.instances === "param") expect(route.url, route.name).toMatch(/:id\b/);
    }
  });

  it("declares the scopes and instance policies of the contract (docs/api.md) on the known routes", () => {
    const declared = Object.fromEntries(routes.map((route) => [route.name, [route.access?.scope, route.access?.instances]]));
    expect(declared).toMatchObject({
      "GET /v1/api-keys": ["api_keys:read", "multi"],
      "GET /v1/api-keys/:id": ["api_keys:read", "multi"],
      "GET /v1/api-keys/:id/usage": ["api_keys:read", "multi"],
      "POST /v1/api-keys": ["api_keys:write", "multi"],
      "DELETE /v1/api-keys/:id": ["api_keys:write", "multi"],
      "POST /v1/api-keys/:id/roll": ["api_keys:write", "none"],
      "GET /v1/api-keys/current": [null, "none"],
      "GET /v1/instances": ["instances:read", "multi"],
      "POST /v1/instances": ["instances:write", "multi"],
      "GET /v1/instances/:id": ["instances:read", "param"],
      "DELETE /v1/instances/:id": ["instances:write", "multi"],
      "GET /v1/audit-events": ["audit:read", "multi"],
      "GET /v1/limits": [null, "none"],
      "POST /v1/instances/:id/messages": ["messages:send", "param"],
      "GET /v1/instances/:id/messages": ["messages:read", "param"],
      "GET /v1/instances/:id/messages/:message_id": ["messages:read", "param"],
      "POST /v1/instances/:id/sandbox/inbound": ["messages:send", "param"],
      "GET /v1/webhook-endpoints": ["webhooks:read", "multi"],
      "POST /v1/webhook-endpoints": ["webhooks:write", "multi"],
      "GET /v1/webhook-endpoints/:id": ["webhooks:read", "multi"],
      "DELETE /v1/webhook-endpoints/:id": ["webhooks:write", "multi"],
      "GET /v1/webhook-deliveries": ["deliveries:read", "narrowed"],
      "GET /v1/webhook-deliveries/:id": ["deliveries:read", "narrowed"],
      "POST /v1/webhook-deliveries/:id/retry": ["webhooks:write", "narrowed"],
    });
  });

  it("has public routes outside /v1, and under /v1 only the leak report, declared public", () => {
    const publicOnes = allRoutes.filter((route) => !route.access);
    expect(publicOnes.length).toBeGreaterThan(0);
    const underV1 = publicOnes.filter((route) => route.url.startsWith("/v1"));
    expect(underV1.map((route) => `${route.method} ${route.url}`)).toEqual(["POST /v1/leaked-keys"]);
    for (const route of underV1) expect(route.public, route.url).toBe(true);
    for (const route of allRoutes.filter((route) => route.public)) expect(route.access, route.url).toBeUndefined();
  });

  it("has a narrowing fixture for every narrowed route, of the route's kind, and none for any other route", () => {
    expect(narrowedRoutes.length).toBeGreaterThan(0);
    expect(narrowedRoutes.filter((route) => !Object.hasOwn(NARROWED_FIXTURES, route.name)).map((route) => route.name)).toEqual([]);
    expect(Object.keys(NARROWED_FIXTURES).filter((name) => !narrowedRoutes.some((route) => route.name === name))).toEqual([]);
    for (const route of narrowedRoutes) {
      expect(NARROWED_FIXTURES[route.name]?.kind, route.name).toBe(/:id\b/.test(route.url) ? "get" : "list");
    }
  });
});

/** Bodies no /v1 route may look at before it knows the caller: each would be a 400, 413 or 415. */
const UNREAD_BODIES = [
  ["JSON that does not parse", "application/json", "{not json"],
  ["JSON that no route's schema accepts", "application/json", JSON.stringify({ name: "", scopes: ["no-such-scope"], unknown_field: true })],
  ["a body that is not JSON", "text/plain", "name=x"],
  ["a body over 64 KiB", "application/json", JSON.stringify({ name: "x".repeat(70 * 1024) })],
] as const;

describe.each(routes.map((route) => [route.name, route] as const))("%s", (_name, route) => {
  it("refuses a request without Authorization: 401 auth_missing", async () => {
    const body = expectError(await call(route), 401, "auth_missing");
    expect(body.error.details).toBeUndefined();
    expect(body.error.message).not.toContain("zpk_live_");
  });

  it.each(UNREAD_BODIES)(
    "authenticates before validating: a bad id, a bad query and %s, without a key, is still 401 auth_missing",
    async (_label, contentType, payload) => {
      const response = await app.inject({
        method: route.method as "POST",
        url: `${concrete(route, "not-a-uuid")}?unknown=1&limit=zero`,
        headers: { "content-type": contentType },
        payload,
      });
      const body = expectError(response, 401, "auth_missing");
      expect(body.error.details).toBeUndefined();
    },
  );

  it.each([
    ["a token that is not a key", "Bearer not-a-key"],
    ["a key whose checksum is wrong", `Bearer ${withBadChecksum(generateKey())}`],
    ["another scheme, even one carrying a valid key", `Basic ${Buffer.from(`user:${acme.secret}`).toString("base64")}`],
    ["the scheme alone", "Bearer"],
  ])("refuses %s: 401 auth_malformed", async (_label, authorization) => {
    expectError(await call(route, { authorization }), 401, "auth_malformed");
  });

  it("refuses a well-formed key that matches no key: 401 auth_invalid", async () => {
    expectError(await call(route, bearer(generateKey())), 401, "auth_invalid");
  });

  it("refuses a revoked key: 401 auth_expired", async () => {
    expectError(await call(route, bearer(revokedKey.secret)), 401, "auth_expired");
  });

  it("refuses a key whose expires_at has passed: 401 auth_expired", async () => {
    expectError(await call(route, bearer(expiredKey.secret)), 401, "auth_expired");
  });

  it("refuses a key with an IP allowlist from an address outside it: 403 ip_not_allowed, before scope, policy or body", async () => {
    const body = expectError(await call(route, bearer(listedKey.secret), concrete(route, "not-a-uuid")), 403, "ip_not_allowed");
    expect(body.error.details).toEqual({ ip: "127.0.0.1" });
  });

  it("lets the same key through from an address inside its allowlist", async () => {
    const response = await app.inject({ method: route.method as "GET", url: concrete(route), headers: bearer(listedKey.secret), remoteAddress: "203.0.113.7" });
    expect([401, 403], response.body).not.toContain(response.statusCode);
  });
});

describe.each(scopedRoutes.map((route) => [route.name, route] as const))("%s with a single-scope key", (_name, route) => {
  const required = route.access!.scope!;

  it.each([...singleScopeKeys.keys()].filter((scope) => scope !== required))(
    "refuses a key holding only %s: 403 insufficient_scope naming the required scope",
    async (scope) => {
      const body = expectError(await call(route, bearer(singleScopeKeys.get(scope)!.secret)), 403, "insufficient_scope");
      expect(body.error.details).toEqual({ required });
    },
  );

  it("lets a key holding exactly the required scope past authorization", async () => {
    const response = await call(route, bearer(singleScopeKeys.get(required)!.secret));
    expect([401, 403], response.body).not.toContain(response.statusCode);
  });
});

describe.each(multiRoutes.map((route) => [route.name, route] as const))("%s with an instance-bound key", (_name, route) => {
  it("refuses it even with every scope: 403 instance_scoped_key", async () => {
    const response = await call(route, bearer(boundKey.secret), concrete(route, ownInstance.id));
    const body = expectError(response, 403, "instance_scoped_key");
    expect(body.error.details).toEqual({ instance_id: ownInstance.id });
  });
});

describe.each(singleInstanceRoutes.map((route) => [route.name, route] as const))("%s with an instance-bound key", (_name, route) => {
  it("lets it through on its own instance", async () => {
    const response = await call(route, bearer(boundKey.secret), concrete(route, ownInstance.id));
    expect([401, 403], response.body).not.toContain(response.statusCode);
  });
});

type Row = { id: string; instance_id: string | null };

describe.each(narrowedRoutes.map((route) => [route.name, route] as const))("%s narrows what an instance-bound key sees", (_name, route) => {
  const fixture = NARROWED_FIXTURES[route.name];
  if (fixture === undefined) {
    it("has a narrowing fixture", () => {
      expect.fail(`${route.name} is narrowed: add its fixture to NARROWED_FIXTURES`);
    });
    return;
  }
  /** A key of the same customer, bound to no instance, holding only the route's scope. */
  const unbound = () => (route.access!.scope === null ? acme.secret : singleScopeKeys.get(route.access!.scope)!.secret);
  let rows: NarrowedRows;
  beforeAll(async () => {
    rows = await fixture.seed();
  });

  it("its fixture seeds a row of the key's instance and one of another instance of the same customer", () => {
    expect(rows.own).toEqual(expect.any(String));
    expect(rows.hidden.some((hidden) => hidden.instanceId === otherInstance.id)).toBe(true);
  });

  if (fixture.kind === "list") {
    async function list(secret: string): Promise<Row[]> {
      const response = await call(route, bearer(secret));
      expect(response.statusCode, response.body).toBe(200);
      const data = (response.json() as { data: Row[] }).data;
      expect(Array.isArray(data), response.body).toBe(true);
      return data;
    }

    it("a key bound to its instance lists only that instance's rows", async () => {
      const listed = await list(boundKey.secret);
      expect(listed.length).toBeGreaterThan(0);
      for (const row of listed) expect(row.instance_id, row.id).toBe(ownInstance.id);
      const ids = listed.map((row) => row.id);
      expect(ids).toContain(rows.own);
      for (const hidden of rows.hidden) expect(ids).not.toContain(hidden.id);
    });

    it("an unbound key holding the route's scope lists the rows of every instance", async () => {
      const listed = await list(unbound());
      const ids = listed.map((row) => row.id);
      expect(ids).toEqual(expect.arrayContaining([rows.own, ...rows.hidden.map((hidden) => hidden.id)]));
      expect(listed.map((row) => row.instance_id)).toEqual(expect.arrayContaining([ownInstance.id, otherInstance.id]));
    });
  } else {
    const read = (id: string, secret: string) => call(route, bearer(secret), concrete(route, id));

    it("a key bound to its instance reads its instance's row", async () => {
      const response = await read(rows.own, boundKey.secret);
      expect(response.statusCode, response.body).toBe(fixture.status ?? 200);
      expect(response.json()).toMatchObject({ id: rows.own, instance_id: ownInstance.id });
    });

    it(`a key bound to its instance gets 404 ${fixture.notFound} for another instance's row`, async () => {
      for (const hidden of rows.hidden) expectError(await read(hidden.id, boundKey.secret), 404, fixture.notFound);
    });

    it("an unbound key holding the route's scope reads the rows of every instance", async () => {
      for (const { id, instanceId } of [{ id: rows.own, instanceId: ownInstance.id }, ...rows.hidden]) {
        const response = await read(id, unbound());
        expect(response.statusCode, response.body).toBe(fixture.status ?? 200);
        expect(response.json()).toMatchObject({ id, instance_id: instanceId });
      }
    });
  }
});

/**
 * Another tenant's ids, on every route that takes one: a second customer, Globex, has a row of
 * every kind. Acme's key holding every scope names each of them and gets the resource's 404, as
 * for an id that does not exist, and nothing of Globex changes or shows up in Acme's lists. A new
 * route with a path parameter fails the walk until TENANT_FIXTURES says which id it takes.
 */
describe("every route, with another customer's ids", () => {
  type Globex = { customerId: string; keyId: string; secret: string; instanceId: string; endpointId: string; deliveryId: string };
  type TenantFixture = { id: (globex: Globex) => string; notFound: ErrorCode; body?: Record<string, unknown> };
  const TENANT_FIXTURES: Record<string, TenantFixture> = {
    "GET /v1/api-keys/:id": { id: (globex) => globex.keyId, notFound: "api_key_not_found" },
    "GET /v1/api-keys/:id/usage": { id: (globex) => globex.keyId, notFound: "api_key_not_found" },
    "DELETE /v1/api-keys/:id": { id: (globex) => globex.keyId, notFound: "api_key_not_found" },
    "POST /v1/api-keys/:id/roll": { id: (globex) => globex.keyId, notFound: "api_key_not_found" },
    "GET /v1/instances/:id": { id: (globex) => globex.instanceId, notFound: "instance_not_found" },
    "DELETE /v1/instances/:id": { id: (globex) => globex.instanceId, notFound: "instance_not_found" },
    "POST /v1/instances/:id/messages": {
      id: (globex) => globex.instanceId,
      notFound: "instance_not_found",
      body: { type: "text", to: "+15551234567", text: "hello" },
    },
    "GET /v1/instances/:id/messages": { id: (globex) => globex.instanceId, notFound: "instance_not_found" },
    "GET /v1/instances/:id/messages/:message_id": { id: (globex) => globex.instanceId, notFound: "instance_not_found" },
    "POST /v1/instances/:id/sandbox/inbound": {
      id: (globex) => globex.instanceId,
      notFound: "instance_not_found",
      body: { from: "+15557654321", text: "hello" },
    },
    "GET /v1/webhook-endpoints/:id": { id: (globex) => globex.endpointId, notFound: "webhook_endpoint_not_found" },
    "DELETE /v1/webhook-endpoints/:id": { id: (globex) => globex.endpointId, notFound: "webhook_endpoint_not_found" },
    "GET /v1/webhook-deliveries/:id": { id: (globex) => globex.deliveryId, notFound: "delivery_not_found" },
    "POST /v1/webhook-deliveries/:id/retry": { id: (globex) => globex.deliveryId, notFound: "delivery_not_found" },
  };
  const TENANT_TABLES = ["api_keys", "instances", "webhook_endpoints", "webhook_deliveries", "messages", "audit_events"];
  const idRoutes = routes.filter((route) => route.url.includes(":"));
  const listRoutes = routes.filter((route) => route.method === "GET" && !route.url.includes(":"));
  let globex: Globex;
  let globexRows: Record<string, number>;

  beforeAll(async () => {
    const created = await createTestCustomer(app, "Globex");
    const instance = await createInstance(app, created.secret, "globex");
    const endpoint = await insertEndpoint(app.db, created.customer.id, { url: "https://hooks.example.com/globex", events: ["message.read"] });
    const envelope = await emitEvent(app.db, created.customer.id, { event: "message.read", instanceId: instance.id }, HOUR);
    const [delivery] = await deliveriesOf(app.db, envelope.event_id);
    globex = {
      customerId: created.customer.id,
      keyId: created.key.id,
      secret: created.secret,
      instanceId: instance.id,
      endpointId: endpoint.id,
      deliveryId: delivery!.id,
    };
    globexRows = await rowCounts(app.db, TENANT_TABLES, globex.customerId);
  });

  const globexIds = () => [globex.customerId, globex.keyId, globex.instanceId, globex.endpointId, globex.deliveryId];

  it("has a fixture for every route with a path parameter, and none for a route that is gone", () => {
    expect(Object.keys(TENANT_FIXTURES).sort()).toEqual(idRoutes.map((route) => route.name).sort());
  });

  it.each(idRoutes.map((route) => [route.name, route] as const))("%s answers the resource's 404 and leaks nothing", async (name, route) => {
    const fixture = TENANT_FIXTURES[name]!;
    const id = fixture.id(globex);
    const response = await app.inject({
      method: route.method as "GET",
      url: concrete(route, id),
      headers: bearer(acme.secret),
      ...(fixture.body ? { payload: fixture.body } : {}),
    });
    const body = expectError(response, 404, fixture.notFound);
    expect(JSON.stringify(body)).not.toContain("Globex");
    // The same answer as for an id no one has: the 404 does not tell that the id exists.
    const unknown = await app.inject({
      method: route.method as "GET",
      url: concrete(route, randomUUID()),
      headers: bearer(acme.secret),
      ...(fixture.body ? { payload: fixture.body } : {}),
    });
    expect(expectError(unknown, 404, fixture.notFound).error.message).toBe(body.error.message);
  });

  it("an id of another customer in a body or a filter is refused as unknown", async () => {
    const bound = await app.inject({
      method: "POST",
      url: "/v1/api-keys",
      headers: bearer(acme.secret),
      payload: { name: "onto Globex", instance_id: globex.instanceId },
    });
    expectError(bound, 404, "instance_not_found");
    const endpoint = await app.inject({
      method: "POST",
      url: "/v1/webhook-endpoints",
      headers: bearer(acme.secret),
      // An address literal: no lookup, and the request is refused before anything is called.
      payload: { url: "https://93.184.215.14/acme", events: ["*"], instance_id: globex.instanceId },
    });
    expectError(endpoint, 404, "instance_not_found");
    const filtered = await app.inject({ url: `/v1/webhook-deliveries?instance_id=${globex.instanceId}`, headers: bearer(acme.secret) });
    expect(filtered.statusCode, filtered.body).toBe(200);
    expect(filtered.json()).toMatchObject({ data: [] });
  });

  it.each(listRoutes.map((route) => [route.name, route] as const))("%s shows none of Globex's rows", async (_name, route) => {
    const response = await call(route, bearer(acme.secret));
    expect(response.statusCode, response.body).toBe(200);
    for (const id of globexIds()) expect(response.body).not.toContain(id);
  });

  it("left every row of Globex as it was, and Globex's key still works", async () => {
    expect(await rowCounts(app.db, TENANT_TABLES, globex.customerId)).toEqual(globexRows);
    const own = await app.inject({ url: `/v1/instances/${globex.instanceId}`, headers: bearer(globex.secret) });
    expect(own.statusCode, own.body).toBe(200);
    const key = await app.inject({ url: `/v1/api-keys/${globex.keyId}`, headers: bearer(globex.secret) });
    expect(key.json()).toMatchObject({ id: globex.keyId, revoked_at: null });
  });
});

describe("deny by default", () => {
  const fakeContext = {} as AuthenticationDependencies;

  /** A bare app with one authenticated context holding one route declared by `declare`. */
  function appWithRoute(config: { access?: RouteAccess }) {
    const bare = Fastify({ logger: false });
    bare.register(
      async (v1) => {
        installAuthentication(v1 as unknown as App, fakeContext);
        v1.get("/undeclared", { config }, async () => ({ ok: true }));
      },
      { prefix: "/v1" },
    );
    return bare;
  }

  it("start-up fails when a route in the authenticated context declares no config.access", async () => {
    const bare = appWithRoute({});
    await expect(bare.ready()).rejects.toThrow(/GET \/v1\/undeclared declares no access policy/);
    await bare.close().catch(() => undefined);
  });

  it("start-up succeeds when the same route declares its access", async () => {
    const bare = appWithRoute({ access: { scope: "instances:read", instances: "none" } });
    await expect(bare.ready()).resolves.toBeDefined();
    await bare.close();
  });
});

describe("public routes", () => {
  it("GET /healthz answers 200 {status: ok} without a key, with a request id of ours", async () => {
    const response = await app.inject({ method: "GET", url: "/healthz", headers: { "x-request-id": "client-chosen" } });
    expect(response.statusCode).toBe(200);
    expect(response.json()).toEqual({ status: "ok" });
    expect(response.headers["x-request-id"]).toMatch(/^req_[A-Za-z0-9_-]+$/);
  });
});

describe("unknown paths", () => {
  it("an unknown path at the root is 404 not_found in the envelope, without a key", async () => {
    const body = expectError(await app.inject({ method: "GET", url: "/nope" }), 404, "not_found");
    expect(body.error.details).toBeUndefined();
  });

  it("an unknown /v1 path without a key is 401 auth_missing: authentication comes first", async () => {
    expectError(await app.inject({ method: "GET", url: "/v1/nope" }), 401, "auth_missing");
    expectError(await app.inject({ method: "POST", url: "/v1/nope", payload: { a: 1 } }), 401, "auth_missing");
    expectError(await app.inject({ method: "GET", url: "/v1/nope", headers: { authorization: "Bearer nope" } }), 401, "auth_malformed");
  });

  it("an unknown /v1 path with a valid key is 404 not_found", async () => {
    expectError(await app.inject({ method: "GET", url: "/v1/nope", headers: bearer(acme.secret) }), 404, "not_found");
    expectError(await app.inject({ method: "DELETE", url: `/v1/nope/${randomUUID()}`, headers: bearer(acme.secret) }), 404, "not_found");
  });

  it("a known /v1 path with a method it lacks is 401 without a key, 405 method_not_allowed with one", async () => {
    const url = `/v1/api-keys/${randomUUID()}`;
    expectError(await app.inject({ method: "PATCH", url, payload: {} }), 401, "auth_missing");
    const response = await app.inject({ method: "PATCH", url, headers: bearer(acme.secret), payload: {} });
    const body = expectError(response, 405, "method_not_allowed");
    expect(String(response.headers.allow).split(", ").sort()).toEqual(["DELETE", "GET"]);
    expect(body.error.details).toMatchObject({ allowed: expect.arrayContaining(["GET", "DELETE"]) });
  });
});
