import { Validator } from "@seriousme/openapi-schema-validator";
import { afterAll, describe, expect, it } from "vitest";
import { buildApp } from "../src/app.js";
import type { App } from "../src/http/app-types.js";
import { testConfig } from "./helpers/test-app.js";

type Operation = {
  security?: Record<string, string[]>[];
  description?: string;
  "x-required-scope"?: string | null;
  requestBody?: { content: Record<string, { example?: unknown; examples?: unknown }> };
  responses: Record<string, { description: string; headers?: Record<string, { $ref: string }>; content?: Record<string, { schema: any; example?: unknown }> }>;
};
type Document = {
  openapi: string;
  info: { title: string; version: string };
  paths: Record<string, Record<string, Operation>>;
  components: { securitySchemes: Record<string, unknown>; headers: Record<string, unknown> };
};

// Every optional route exists: metrics on, and the Cloud API callbacks configured.
const app: App = await buildApp(
  testConfig({
    metricsEnabled: true,
    cloudApi: { baseUrl: "http://127.0.0.1:9", version: "v21.0", accessToken: "t", appSecret: "s", verifyToken: "v" },
  }),
  { logger: false },
);
await app.ready();
afterAll(() => app.close());

const response = await app.inject({ method: "GET", url: "/openapi.json" });
const document = response.json() as Document;

/** Routes the document leaves out on purpose: the pages' own assets and copies of the document. */
const NOT_DOCUMENTED = /^\/docs\/(static\/|json$|yaml$)|^\/dashboard\/assets\//;

/** `/v1/keys/:id` → `/v1/keys/{id}`, `/docs/` → `/docs`. */
function openapiPath(url: string): string {
  const path = url.replace(/:([A-Za-z_]+)/g, "{$1}");
  return path.length > 1 ? path.replace(/\/$/, "") : path;
}

/** The /v1 operations that take a key: all but the leak report (see the test of public routes). */
function v1Operations(): [string, string, Operation][] {
  return Object.entries(document.paths)
    .filter(([path]) => path.startsWith("/v1/") && path !== "/v1/leaked-keys")
    .flatMap(([path, operations]) => Object.entries(operations).map(([method, operation]) => [path, method, operation] as [string, string, Operation]));
}

describe("GET /openapi.json", () => {
  it("is public and answers an OpenAPI 3.1 document titled for the API, versioned as the package", async () => {
    expect(response.statusCode).toBe(200);
    expect(response.headers["content-type"]).toMatch(/^application\/json/);
    expect(document.openapi).toBe("3.1.0");
    expect(document.info.title).toBe("WhatIsUp.dev API");
    const { version } = (await import("../package.json", { with: { type: "json" } })).default as { version: string };
    expect(document.info.version).toBe(version);
  });

  it("passes a real OpenAPI 3.1 validator", async () => {
    const validator = new Validator();
    const result = await validator.validate(structuredClone(document) as never);
    expect(result.errors ?? [], JSON.stringify(result.errors, null, 1)?.slice(0, 2000)).toEqual([]);
    expect(result.valid).toBe(true);
    expect(validator.version).toBe("3.1");
  });

  it("has every registered route with each of its methods (HEAD aside)", () => {
    // The app records every route of every encapsulated context itself (src/http/route-table.ts).
    const routes = app.routeTable.routes;
    expect(routes.length).toBeGreaterThan(20);
    const missing: string[] = [];
    for (const route of routes) {
      if (NOT_DOCUMENTED.test(route.url) || route.method === "HEAD") continue;
      if (!document.paths[openapiPath(route.url)]?.[route.method.toLowerCase()]) missing.push(`${route.method} ${route.url}`);
    }
    expect(missing).toEqual([]);
    for (const path of ["/healthz", "/readyz", "/openapi.json", "/docs", "/dashboard", "/metrics", "/webhooks/whatsapp"]) {
      expect(Object.keys(document.paths)).toContain(path);
    }
  });

  it("declares the bearer scheme and applies it, with the route's scope, to every /v1 operation", () => {
    expect(document.components.securitySchemes.bearer).toMatchObject({ type: "http", scheme: "bearer" });
    const operations = v1Operations();
    expect(operations.length).toBeGreaterThanOrEqual(17);
    for (const [path, method, operation] of operations) {
      const scope = operation["x-required-scope"];
      expect(scope, `${method} ${path}`).not.toBeUndefined();
      expect(operation.security, `${method} ${path}`).toEqual([{ bearer: scope === null ? [] : [scope] }]);
      if (scope) expect(operation.description).toContain(`\`${scope}\``);
    }
    expect(document.paths["/v1/api-keys"]!.post!["x-required-scope"]).toBe("api_keys:write");
    expect(document.paths["/v1/limits"]!.get!["x-required-scope"]).toBeNull();
    expect(document.paths["/healthz"]!.get!.security ?? []).toEqual([]);
  });

  it("documents the leak report as the one public /v1 operation: no bearer, 202, Retry-After on its 429", () => {
    expect(Object.keys(document.paths).filter((path) => path.startsWith("/v1/") && !v1Operations().some(([known]) => known === path))).toEqual([
      "/v1/leaked-keys",
    ]);
    const report = document.paths["/v1/leaked-keys"]!.post!;
    expect(report.security).toEqual([]);
    expect(report["x-required-scope"]).toBeUndefined();
    expect(Object.keys(report.responses).sort()).toEqual(["202", "400", "413", "415", "429", "500", "503"]);
    expect(Object.keys(report.responses["202"]!.headers ?? {})).not.toContain("X-RateLimit-Limit");
    expect(Object.keys(report.responses["429"]!.headers ?? {})).toContain("Retry-After");
  });

  it("documents the error envelope, with its codes, on every /v1 operation's 401, 403, 429 and 500", () => {
    for (const [path, method, operation] of v1Operations()) {
      for (const status of ["400", "401", "403", "429", "500"]) {
        const error = operation.responses[status];
        expect(error, `${method} ${path} ${status}`).toBeDefined();
        const schema = error!.content!["application/json"]!.schema;
        expect(schema.required).toEqual(["error", "request_id"]);
        expect(schema.properties.error.properties.code.enum).toContain("auth_invalid");
      }
      expect(operation.responses["401"]!.description).toContain("`auth_invalid`");
      expect(operation.responses["429"]!.description).toContain("`rate_limited`");
    }
    expect(document.paths["/v1/api-keys"]!.post!.responses["403"]!.description).toContain("`scope_escalation`");
    expect(document.paths["/readyz"]!.get!.responses["503"]!.description).toContain("`not_ready`");
  });

  it("documents the rate-limit headers on /v1 answers and Retry-After on their 429", () => {
    expect(Object.keys(document.components.headers)).toEqual(
      expect.arrayContaining(["X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset", "Retry-After", "X-Request-Id"]),
    );
    for (const [path, method, operation] of v1Operations()) {
      const success = Object.entries(operation.responses).find(([status]) => status.startsWith("2"))!;
      expect(Object.keys(success[1].headers ?? {}), `${method} ${path}`).toEqual(
        expect.arrayContaining(["X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset", "X-Request-Id"]),
      );
      expect(Object.keys(operation.responses["429"]!.headers ?? {})).toContain("Retry-After");
      expect(Object.keys(operation.responses["401"]!.headers ?? {})).toContain("WWW-Authenticate");
    }
  });

  it("has examples for issuing a key: request and response", () => {
    const post = document.paths["/v1/api-keys"]!.post!;
    const request = post.requestBody!.content["application/json"]!;
    const requestExample = request.example ?? (request as { schema?: { examples?: unknown[] } }).schema?.examples?.[0];
    expect(requestExample).toMatchObject({ name: expect.any(String), scopes: expect.any(Array) });
    const created = post.responses["201"]!.content!["application/json"]!;
    const responseExample = created.example ?? created.schema.examples?.[0];
    expect(responseExample).toMatchObject({ secret: expect.stringMatching(/^zpk_live_/) });
  });
});

describe("GET /docs", () => {
  it("is public HTML whose assets are all served by this server", async () => {
    const page = await app.inject({ method: "GET", url: "/docs" });
    expect(page.statusCode).toBe(200);
    expect(page.headers["content-type"]).toMatch(/^text\/html/);
    expect(page.body).not.toMatch(/https?:\/\//);
    const assets = [...page.body.matchAll(/(?:src|href)="([^"]+)"/g)].map((match) => match[1]!);
    expect(assets.length).toBeGreaterThan(2);
    for (const asset of assets) {
      expect(asset.startsWith("/docs/")).toBe(true);
      const served = await app.inject({ method: "GET", url: asset });
      expect(served.statusCode, asset).toBe(200);
    }
    expect(page.headers["content-security-policy"]).toMatch(/default-src 'self'/);
    expect(page.headers["content-security-policy"]).not.toMatch(/https?:/);
  });

  it("loads the same document (Swagger UI reads it beside the page) and no external validator", async () => {
    const initializer = await app.inject({ method: "GET", url: "/docs/static/swagger-initializer.js" });
    expect(initializer.body).toContain("validatorUrl: null");
    const json = await app.inject({ method: "GET", url: "/docs/json" });
    expect(json.json()).toEqual(document);
  });
});
