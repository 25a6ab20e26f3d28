import { randomUUID } from "node:crypto";
import Fastify, { type FastifyInstance, type LightMyRequestResponse, type RouteOptions } from "fastify";
import { afterAll, describe, expect, it, vi } from "vitest";
import { buildApp } from "../src/app.js";
import type { IssuedApiKey } from "../src/client/index.js";
import { installAuthentication, type AuthenticationDependencies } from "../src/http/authentication.js";
import { generateKey } from "../src/crypto/key-format.js";
import type { RouteAccess } from "../src/http/route-access.js";
import { SCOPES, type Scope } from "../src/contract/scopes.js";
import type { App } from "../src/http/app-types.js";
import { bearer, createInstance, createTestCustomer, expectError, issueKey, testConfig } from "./helpers/test-app.js";

/**
 * Collects every route of every Fastify instance from the moment the instance exists.
 *
 * Adding an `onRoute` hook to the app that `buildApp` returns is too late: a Fastify instance is
 * a thenable, so `return app` from the async `buildApp` makes the caller's `await` boot it, and
 * the `/v1` routes are already registered when the caller first sees the app. Wrapping the
 * factory puts the collecting hook in place before the first route, at the root, so it sees
 * every route of every encapsulated context.
 */
const collected = vi.hoisted(() => new Map<object, RouteOptions[]>());
vi.mock("fastify", async (importOriginal) => {
  const original = await importOriginal<typeof import("fastify")>();
  const factory = original.default as unknown as (...args: unknown[]) => FastifyInstance;
  const collecting = (...args: unknown[]) => {
    const instance = factory(...args);
    const routes: RouteOptions[] = [];
    collected.set(instance, routes);
    instance.addHook("onRoute", (route) => {
      routes.push(route);
    });
    return instance;
  };
  Object.assign(collecting, original.default);
  return { ...original, default: collecting, fastify: collecting };
});

/** The routes every build must have; the walk fails if collection stops seeing them. */
const KNOWN_V1_ROUTES = [
  "DELETE /v1/api-keys/:id",
  "DELETE /v1/instances/:id",
  "GET /v1/api-keys",
  "GET /v1/api-keys/:id",
  "GET /v1/audit-events",
  "GET /v1/instances",
  "GET /v1/instances/:id",
  "GET /v1/limits",
  "POST /v1/api-keys",
  "POST /v1/instances",
  "POST /v1/instances/:id/messages",
  "GET /v1/webhook-endpoints",
  "POST /v1/webhook-endpoints",
  "GET /v1/webhook-endpoints/:id",
  "DELETE /v1/webhook-endpoints/:id",
  "GET /v1/webhook-deliveries",
  "GET /v1/webhook-deliveries/:id",
];

type WalkedRoute = { method: string; url: string; access: RouteAccess | undefined; name: string };

function methodsOf(route: RouteOptions): string[] {
  return (Array.isArray(route.method) ? route.method : [route.method]).map((method) => String(method).toUpperCase());
}

/** One entry per method and path under /v1, HEAD excluded (Fastify adds it beside each GET). */
function v1Routes(routes: RouteOptions[]): WalkedRoute[] {
  const walked = new Map<string, WalkedRoute>();
  for (const route of routes) {
    if (!route.url.startsWith("/v1/") && route.url !== "/v1") continue;
    for (const method of methodsOf(route)) {
      if (method === "HEAD") continue;
      const name = `${method} ${route.url}`;
      walked.set(name, { method, url: route.url, access: route.config?.access, name });
    }
  }
  return [...walked.values()].sort((a, b) => a.name.localeCompare(b.name));
}

const app: App = await buildApp(
  testConfig({
    rateLimit: { burst: 100_000, refillPerSecond: 1 },
    authFailureLimit: { burst: 100_000, refillPerSecond: 1 },
  }),
  { logger: false },
);
await app.ready();
afterAll(() => app.close());

const allRoutes = collected.get(app) ?? [];
const routes = v1Routes(allRoutes);
const scopedRoutes = routes.filter((route) => route.access?.scope != null);
const multiRoutes = routes.filter((route) => route.access?.instances === "multi");
const singleInstanceRoutes = routes.filter((route) => route.access !== undefined && route.access.instances !== "multi");

// Keys shared by the walk: the customer's first key (*), one key per single scope, one bound key
// with every scope, and a revoked key.
const acme = await createTestCustomer(app, "Acme");
const ownInstance = await createInstance(app, acme.secret, "own");
const boundKey = await issueKey(app, acme.secret, { name: "bound", instance_id: ownInstance.id, scopes: ["*"] });
const singleScopeKeys = new Map<Scope, IssuedApiKey>();
for (const scope of SCOPES) {
  if (scope !== "*") singleScopeKeys.set(scope, await issueKey(app, acme.secret, { name: `only ${scope}`, scopes: [scope] }));
}
const revokedKey = await issueKey(app, acme.secret, { name: "revoked" });
expect((await app.inject({ method: "DELETE", url: `/v1/api-keys/${revokedKey.id}`, headers: bearer(acme.secret) })).statusCode).toBe(204);

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

  it("declares the scopes and instance policies of product.md on the known routes", () => {
    const declared = Object.fromEntries(routes.map((route) => [route.name, [route.access?.scope, route.access?.instances]]));
    expect(declared).toMatchObject({
      "GET /v1/api-keys": ["api_keys:read", "multi"],
      "GET /v1/api-keys/:id": ["api_keys:read", "multi"],
      "POST /v1/api-keys": ["api_keys:write", "multi"],
      "DELETE /v1/api-keys/:id": ["api_keys:write", "multi"],
      "GET /v1/instances": ["instances:read", "multi"],
      "POST /v1/instances": ["instances:write", "multi"],
      "GET /v1/instances/:id": ["instances:read", "param"],
      "DELETE /v1/instances/:id": ["instances:write", "multi"],
      "GET /v1/audit-events": ["audit:read", "multi"],
      "GET /v1/limits": [null, "none"],
      "POST /v1/instances/:id/messages": ["messages:send", "param"],
      "GET /v1/webhook-endpoints": ["webhooks:read", "multi"],
      "POST /v1/webhook-endpoints": ["webhooks:write", "multi"],
      "GET /v1/webhook-endpoints/:id": ["webhooks:read", "multi"],
      "DELETE /v1/webhook-endpoints/:id": ["webhooks:write", "multi"],
      "GET /v1/webhook-deliveries": ["deliveries:read", "narrowed"],
      "GET /v1/webhook-deliveries/:id": ["deliveries:read", "narrowed"],
    });
  });

  it("has public routes only outside /v1", () => {
    const publicOnes = allRoutes.filter((route) => !route.config?.access).map((route) => route.url);
    for (const url of publicOnes) expect(url.startsWith("/v1")).toBe(false);
  });
});

describe.each(routes.map((route) => [route.name, route] as const))("%s", (_name, route) => {
  it("refuses a request without Authorization: 401 auth_missing", async () => {
    expectError(await call(route), 401, "auth_missing");
  });

  it("authenticates before validating: a bad id, query and body without a key is still 401 auth_missing", async () => {
    const response = await app.inject({
      method: route.method as "POST",
      url: `${concrete(route, "not-a-uuid")}?unknown=1&limit=zero`,
      headers: { "content-type": "application/json" },
      payload: "{not json",
    });
    expectError(response, 401, "auth_missing");
  });

  it.each([
    ["a token that is not a key", "Bearer not-a-key"],
    ["a key whose checksum is wrong", `Bearer ${withBadChecksum(generateKey())}`],
    ["another scheme", `Basic ${Buffer.from("user:pass").toString("base64")}`],
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
