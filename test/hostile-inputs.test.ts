import { gzipSync } from "node:zlib";
import type { LightMyRequestResponse } from "fastify";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { FieldProblem } from "../src/errors/app-error.js";
import type { App } from "../src/http/app-types.js";
import { bearer, buildTestApp, createInstance, createTestCustomer, expectError, type TestCustomer } from "./helpers/test-app.js";
import { rowCounts } from "./helpers/test-database.js";

// Text PostgreSQL refuses (U+0000 in text, lone surrogates in jsonb) and SQLite keeps: each must
// be a 400 on both databases, never a 500 on one and a stored row on the other.
const UNSTORABLE_TEXT: Record<string, string> = {
  "U+0000": "a\u0000b",
  "a high surrogate alone": "a\ud800b",
  "a high surrogate at the end": "ab\ud83d",
  "a low surrogate alone": "a\udc00b",
  "a reversed pair": "a\ude00\ud83db",
};
const TEXT_FAULT = /U\+0000|lone UTF-16 surrogate/;

const CUSTOMER_TABLES = ["instances", "api_keys", "audit_events", "messages", "webhook_endpoints", "webhook_deliveries"];
const HOOK_URL = "http://127.0.0.1:9/hook";

type JsonSchema = { type?: string; enum?: unknown[]; anyOf?: JsonSchema[]; items?: JsonSchema; properties?: Record<string, JsonSchema> };
type OpenApiOperation = {
  parameters?: { in: string; name: string }[];
  requestBody?: { content: Record<string, { schema: JsonSchema }> };
};
type OpenApiDocument = { paths: Record<string, Record<string, OpenApiOperation>> };

let app: App;
let acme: TestCustomer;
let instanceId: string;
let openApi: OpenApiDocument;

beforeAll(async () => {
  app = await buildTestApp({
    rateLimit: { burst: 10_000, refillPerSecond: 1 },
    webhooks: { allowLoopback: true, retryDelaysMs: [0], attemptTimeoutMs: 1000 },
  });
  acme = await createTestCustomer(app);
  instanceId = (await createInstance(app, acme.secret, "first")).id;
  await createInstance(app, acme.secret, "second");
  openApi = (await app.inject({ url: "/openapi.json" })).json();
});
afterAll(() => app.close());

function operation(method: string, url: string): OpenApiOperation | undefined {
  return openApi.paths[url.replace(/:(\w+)/g, "{$1}")]?.[method.toLowerCase()];
}

function concrete(url: string): string {
  return url.replace(":id", instanceId);
}

function expectFieldProblem(response: LightMyRequestResponse, field: string, message: RegExp | string): void {
  const body = expectError(response, 400, "validation_failed");
  const fields = (body.error.details as { fields: FieldProblem[] }).fields;
  expect(fields, response.body).toEqual([{ field, message: typeof message === "string" ? message : expect.stringMatching(message) }]);
}

function cursorOf(value: unknown): string {
  return Buffer.from(JSON.stringify(value), "utf8").toString("base64url");
}

describe("cursors", () => {
  const SOME_ID = "01936b2e-7c4a-7f3e-9d2b-5a1c8e4f6b70";
  const FORGED: Record<string, string> = {
    "not a timestamp": cursorOf(["garbage", "x"]),
    "an id that is not a UUID": cursorOf(["2026-05-22T15:30:00.000Z", "x"]),
    "an upper-case id": cursorOf(["2026-05-22T15:30:00.000Z", SOME_ID.toUpperCase()]),
    "month 13, day 45": cursorOf(["2026-13-45T00:00:00.000Z", SOME_ID]),
    "February 30": cursorOf(["2026-02-30T00:00:00.000Z", SOME_ID]),
    "year 0": cursorOf(["0000-01-01T00:00:00.000Z", SOME_ID]),
    "no milliseconds": cursorOf(["2026-05-22T15:30:00Z", SOME_ID]),
    "an offset instead of Z": cursorOf(["2026-05-22T15:30:00.000+00:00", SOME_ID]),
    "an extended year": cursorOf(["+010000-01-01T00:00:00.000Z", SOME_ID]),
    "a number": cursorOf([1_700_000_000_000, SOME_ID]),
    "three items": cursorOf(["2026-05-22T15:30:00.000Z", SOME_ID, "x"]),
    "an object": cursorOf({ created_at: "2026-05-22T15:30:00.000Z", id: SOME_ID }),
    "over 200 characters": cursorOf(["2026-05-22T15:30:00.000Z", SOME_ID, "x".repeat(200)]),
  };

  /** GET /v1 routes of the route table whose query takes a cursor (as the OpenAPI document says). */
  function pagedRoutes(): string[] {
    return app.routeTable.routes
      .filter((route) => route.method === "GET" && route.url.startsWith("/v1/"))
      .filter((route) => operation(route.method, route.url)?.parameters?.some((p) => p.in === "query" && p.name === "cursor"))
      .map((route) => route.url);
  }

  async function realCursor(): Promise<string> {
    const page = (await app.inject({ url: "/v1/instances?limit=1", headers: bearer(acme.secret) })).json() as { next_cursor: string };
    expect(page.next_cursor).toEqual(expect.any(String));
    return page.next_cursor;
  }

  it("that the API did not return are 400 naming querystring.cursor on every paged list, never 500", async () => {
    expect(pagedRoutes()).toEqual(
      expect.arrayContaining(["/v1/instances", "/v1/audit-events", "/v1/webhook-endpoints", "/v1/webhook-deliveries"]),
    );
    const real = await realCursor();
    const forged = { ...FORGED, "a real cursor with a character base64url skips": `${real}!`, "a real cursor, padded": `${real}==` };
    for (const url of pagedRoutes()) {
      const accepted = await app.inject({ url: `${concrete(url)}?cursor=${real}`, headers: bearer(acme.secret) });
      expect(accepted.statusCode, `${url}: ${accepted.body}`).toBe(200);
      for (const [label, cursor] of Object.entries(forged)) {
        const response = await app.inject({ url: `${concrete(url)}?cursor=${encodeURIComponent(cursor)}`, headers: bearer(acme.secret) });
        expect(response.statusCode, `${url}, ${label}: ${response.body}`).toBe(400);
        expectFieldProblem(response, "querystring.cursor", /./);
      }
    }
  });

  it("with U+0000 in them are 400 naming the parameter, even around a real cursor", async () => {
    const real = await realCursor();
    for (const url of pagedRoutes()) {
      for (const cursor of [`${real}%00`, "%00"]) {
        const response = await app.inject({ url: `${concrete(url)}?cursor=${cursor}`, headers: bearer(acme.secret) });
        expectFieldProblem(response, "querystring.cursor", "must not contain U+0000 (NUL)");
      }
    }
    const filter = await app.inject({ url: "/v1/webhook-deliveries?instance_id=%00", headers: bearer(acme.secret) });
    expectFieldProblem(filter, "querystring.instance_id", "must not contain U+0000 (NUL)");
    const name = await app.inject({ url: "/v1/instances?%00=1", headers: bearer(acme.secret) });
    expectFieldProblem(name, "querystring", /field name that contains U\+0000/);
    const param = await app.inject({ url: "/v1/instances/%00", headers: bearer(acme.secret) });
    expectFieldProblem(param, "params.id", "must not contain U+0000 (NUL)");
  });
});

describe("text that a database cannot store", () => {
  let mallory: TestCustomer;
  let malloryInstance: string;
  beforeAll(async () => {
    mallory = await createTestCustomer(app, "Mallory");
    malloryInstance = (await createInstance(app, mallory.secret, "main")).id;
  });

  /** A body each route accepts; every body route must have one, so a new route is covered too. */
  const VALID_BODIES: Record<string, Record<string, unknown>> = {
    "POST /v1/api-keys": { name: "ci", scopes: ["messages:send"], expires_at: "2099-01-01T00:00:00.000Z" },
    "POST /v1/instances": { name: "main" },
    "POST /v1/webhook-endpoints": { url: HOOK_URL, events: ["*"] },
    "POST /v1/instances/:id/messages": { type: "text", to: "+15551234567", text: "hello", client_ref: "ref-1" },
    "POST /v1/instances/:id/sandbox/inbound": { from: "+15557654321", text: "hello" },
    "POST /v1/leaked-keys": { keys: ["zpk_live_reported"], source: "https://example.com/leak" },
    "POST /v1/api-keys/:id/roll": { expires_in_seconds: 60 },
  };
  /** Body routes whose body has no text field: only a field name can carry the text there. */
  const TEXTLESS_BODIES = ["POST /v1/api-keys/:id/roll"];

  function bodyRoutes() {
    return app.routeTable.routes.filter((route) => route.hasBody && route.url.startsWith("/v1/"));
  }

  function isText(schema: JsonSchema): boolean {
    if (schema.type === "string") return true;
    if (schema.enum) return schema.enum.every((value) => typeof value === "string");
    return schema.anyOf?.some(isText) ?? false;
  }

  /** Every text field of the route's body schema, as [field, body with `text` put there]. */
  function placements(method: string, url: string, text: string): [string, Record<string, unknown>][] {
    const base = VALID_BODIES[`${method} ${url}`]!;
    const properties = operation(method, url)!.requestBody!.content["application/json"]!.schema.properties!;
    const placed: [string, Record<string, unknown>][] = [];
    for (const [name, schema] of Object.entries(properties)) {
      if (isText(schema)) placed.push([`body.${name}`, { ...base, [name]: text }]);
      else if (schema.type === "array" && schema.items && isText(schema.items)) placed.push([`body.${name}.0`, { ...base, [name]: [text] }]);
    }
    return placed;
  }

  function post(url: string, secret: string, body: unknown, headers: Record<string, string> = {}) {
    return app.inject({
      method: "POST",
      url: url.replace(":id", malloryInstance),
      headers: { ...bearer(secret), "content-type": "application/json", ...headers },
      payload: typeof body === "string" ? body : JSON.stringify(body),
    });
  }

  /** Each route accepts its valid body (for another customer), so a 400 below is the text's doing. */
  async function expectValidBodiesAccepted(): Promise<void> {
    const routes = bodyRoutes().map((route) => `${route.method} ${route.url}`);
    expect(routes.length).toBeGreaterThan(0);
    expect(Object.keys(VALID_BODIES).sort()).toEqual(routes.sort());
    const scratch = await createTestCustomer(app, "Scratch");
    const scratchInstance = (await createInstance(app, scratch.secret, "main")).id;
    for (const route of bodyRoutes()) {
      const response = await app.inject({
        method: "POST",
        url: route.url.replace(":id", route.url.startsWith("/v1/api-keys/") ? scratch.key.id : scratchInstance),
        headers: bearer(scratch.secret),
        payload: VALID_BODIES[`${route.method} ${route.url}`]!,
      });
      expect(response.statusCode, `${route.url}: ${response.body}`).toBeLessThan(300);
    }
  }

  it("in any text field of any body is 400 naming the field, nothing is written, and a surrogate pair still passes", async () => {
    await expectValidBodiesAccepted();
    const before = await rowCounts(app.db, CUSTOMER_TABLES, mallory.customer.id);
    for (const route of bodyRoutes()) {
      for (const [label, text] of Object.entries(UNSTORABLE_TEXT)) {
        const placed = placements(route.method, route.url, text);
        expect(placed.length > 0, route.url).toBe(!TEXTLESS_BODIES.includes(`${route.method} ${route.url}`));
        for (const [field, body] of placed) {
          const response = await post(route.url, mallory.secret, body);
          expect(response.statusCode, `${route.url} ${field}, ${label}: ${response.body}`).toBe(400);
          expectFieldProblem(response, field, TEXT_FAULT);
        }
      }
    }
    expect(await rowCounts(app.db, CUSTOMER_TABLES, mallory.customer.id)).toEqual(before);

    // A surrogate pair is well-formed: an emoji is stored and read back as sent.
    const name = "launch \ud83d\ude80 team";
    const created = await post("/v1/instances", mallory.secret, { name });
    expect(created.statusCode, created.body).toBe(201);
    const read = await app.inject({ url: `/v1/instances/${created.json().id}`, headers: bearer(mallory.secret) });
    expect(read.json().name).toBe(name);
    const sent = await post("/v1/instances/:id/messages", mallory.secret, {
      type: "text",
      to: "+15551234567",
      text: "\ud83d\ude00",
      client_ref: "\ud83d\udc4d",
    });
    expect(sent.statusCode, sent.body).toBe(202);
    expect(sent.json().client_ref).toBe("\ud83d\udc4d");
  });

  it("in a field name is 400 naming the object that holds it, and nothing is written", async () => {
    const before = await rowCounts(app.db, CUSTOMER_TABLES, mallory.customer.id);
    for (const route of bodyRoutes()) {
      const base = VALID_BODIES[`${route.method} ${route.url}`]!;
      for (const [label, text] of Object.entries(UNSTORABLE_TEXT)) {
        const response = await post(route.url, mallory.secret, { ...base, [text]: "x" });
        expect(response.statusCode, `${route.url}, ${label}: ${response.body}`).toBe(400);
        expectFieldProblem(response, "body", /^has a field name that contains (U\+0000|a lone UTF-16 surrogate)/);
      }
    }
    expect(await rowCounts(app.db, CUSTOMER_TABLES, mallory.customer.id)).toEqual(before);
  });
});

describe("expires_at", () => {
  function issue(expiresAt: string) {
    return app.inject({
      method: "POST",
      url: "/v1/api-keys",
      headers: bearer(acme.secret),
      payload: { name: "far future", expires_at: expiresAt },
    });
  }

  it("is accepted up to the last millisecond of year 9999 in UTC, and refused after it as such", async () => {
    const latest = await issue("9999-12-31T23:59:59.999Z");
    expect(latest.statusCode, latest.body).toBe(201);
    expect(latest.json().expires_at).toBe("9999-12-31T23:59:59.999Z");

    const before = await rowCounts(app.db, CUSTOMER_TABLES, acme.customer.id);
    for (const later of ["9999-12-31T23:59:59.999-01:00", "9999-12-31T23:30:00-00:31"]) {
      expectFieldProblem(await issue(later), "body.expires_at", "must be no later than 9999-12-31T23:59:59.999Z in UTC");
    }
    const extended = await issue("+010000-01-01T00:00:00.000Z");
    const body = expectError(extended, 400, "validation_failed");
    const [problem] = (body.error.details as { fields: FieldProblem[] }).fields;
    expect(problem!.field).toBe("body.expires_at");
    expect(problem!.message).not.toMatch(/future/);
    expect(await rowCounts(app.db, CUSTOMER_TABLES, acme.customer.id)).toEqual(before);
  });
});

describe("a body with a Content-Encoding", () => {
  function postInstance(payload: string | Buffer, headers: Record<string, string>) {
    return app.inject({ method: "POST", url: "/v1/instances", headers: { "content-type": "application/json", ...headers }, payload });
  }

  it("other than identity is 415, after authentication, and nothing is written", async () => {
    const before = await rowCounts(app.db, CUSTOMER_TABLES, acme.customer.id);
    const json = JSON.stringify({ name: "compressed" });
    const gzipped = await postInstance(gzipSync(json), { ...bearer(acme.secret), "content-encoding": "gzip" });
    expectError(gzipped, 415, "unsupported_media_type");
    for (const encoding of ["gzip", "deflate", "br", "identity, gzip", "GZIP"]) {
      const response = await postInstance(json, { ...bearer(acme.secret), "content-encoding": encoding });
      expect(response.statusCode, `${encoding}: ${response.body}`).toBe(415);
      expectError(response, 415, "unsupported_media_type");
    }
    expectError(await postInstance(json, { "content-encoding": "gzip" }), 401, "auth_missing");
    expect(await rowCounts(app.db, CUSTOMER_TABLES, acme.customer.id)).toEqual(before);

    const identity = await postInstance(json, { ...bearer(acme.secret), "content-encoding": "identity" });
    expect(identity.statusCode, identity.body).toBe(201);
  });
});

describe("a /v1 URL that cannot be decoded", () => {
  it("is answered with Cache-Control: no-store, with or without a key", async () => {
    for (const url of ["/v1/api-keys/%ff", "/v1/instances/%ff/messages", "/v1/%ff"]) {
      for (const headers of [bearer(acme.secret), {}]) {
        const response = await app.inject({ url, headers });
        expectFieldProblem(response, "url", "is not a valid path");
        expect(response.headers["cache-control"], url).toBe("no-store");
      }
    }
  });
});
