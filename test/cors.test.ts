import type { AddressInfo } from "node:net";
import type { LightMyRequestResponse } from "fastify";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ConfigError, loadConfig } from "../src/config.js";
import type { App } from "../src/http/app-types.js";
import { runCli } from "./helpers/cli-process.js";
import { exchange } from "./helpers/raw-http.js";
import { bearer, buildTestApp, createTestCustomer, expectError, type TestCustomer } from "./helpers/test-app.js";

const LISTED = "https://console.example.com";
const ALSO_LISTED = "http://localhost:5173";
const EXPOSED = ["x-request-id", "x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset", "retry-after", "idempotent-replayed"];

let app: App;
let acme: TestCustomer;

beforeAll(async () => {
  // A small bucket that does not refill during the file: the token counts below are exact.
  app = await buildTestApp({ corsOrigins: [LISTED, ALSO_LISTED], rateLimit: { burst: 40, refillPerSecond: 0.0001 } });
  acme = await createTestCustomer(app, "Acme");
});
afterAll(() => app.close());

function get(url: string, headers: Record<string, string | string[]>): Promise<LightMyRequestResponse> {
  return app.inject({ method: "GET", url, headers });
}

function preflight(url: string, origin: string, method = "POST", headers = "authorization,content-type"): Promise<LightMyRequestResponse> {
  return app.inject({
    method: "OPTIONS",
    url,
    headers: { origin, "access-control-request-method": method, "access-control-request-headers": headers },
  });
}

function corsHeaders(response: LightMyRequestResponse): string[] {
  return Object.keys(response.headers).filter((name) => name.startsWith("access-control-"));
}

function exposedNames(response: LightMyRequestResponse): string[] {
  return String(response.headers["access-control-expose-headers"]).split(",").map((name) => name.trim().toLowerCase());
}

describe("CORS_ORIGINS", () => {
  it("reads comma-separated origins, and none by default", () => {
    expect(loadConfig({}).corsOrigins).toEqual([]);
    expect(loadConfig({ CORS_ORIGINS: "" }).corsOrigins).toEqual([]);
    expect(loadConfig({ CORS_ORIGINS: ` ${LISTED}, ${ALSO_LISTED} ,http://[::1]:8080` }).corsOrigins).toEqual([LISTED, ALSO_LISTED, "http://[::1]:8080"]);
  });

  it.each([
    ["*", /wildcard/],
    ["https://*.example.com", /wildcard/],
    ["null", /is not an origin/],
    ["console.example.com", /is not an origin/],
    ["ftp://files.example.com", /http or https/],
    ["https://console.example.com/", /write https:\/\/console\.example\.com$/],
    ["https://console.example.com/app", /no path/],
    ["https://Console.Example.com", /write https:\/\/console\.example\.com$/],
    ["https://console.example.com:443", /default port/],
    ["https://user@console.example.com", /no path, user/],
    [`${LISTED},`, /is not an origin/],
  ])("refuses %s, naming it and saying what to write", (value, why) => {
    expect(() => loadConfig({ CORS_ORIGINS: value })).toThrow(ConfigError);
    expect(() => loadConfig({ CORS_ORIGINS: value })).toThrow(why);
    expect(() => loadConfig({ CORS_ORIGINS: value })).toThrow(/^CORS_ORIGINS: "/);
  });

  it("stops `whatisup serve` at start-up with that message, before it listens", async () => {
    const result = await runCli(["serve"], { ...process.env, PORT: "0", DATABASE_URL: "sqlite::memory:", CORS_ORIGINS: `${LISTED},https://*.example.com` });
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('whatisup: configuration: CORS_ORIGINS: "https://*.example.com" has a wildcard');
    expect(result.stdout).not.toMatch(/listening/i);
  });
});

describe("an answer to a listed origin", () => {
  it("names the origin, exposes the rate-limit and request headers, and allows no credentials", async () => {
    const response = await get("/v1/limits", { ...bearer(acme.secret), origin: LISTED });
    expect(response.statusCode, response.body).toBe(200);
    expect(response.headers["access-control-allow-origin"]).toBe(LISTED);
    expect(response.headers["access-control-allow-credentials"]).toBeUndefined();
    expect(response.headers.vary).toMatch(/\bOrigin\b/);
    expect(exposedNames(response).sort()).toEqual([...EXPOSED].sort());
    // Every exposed header but Retry-After (429 and 503 only) and Idempotent-Replayed (replays
    // only) is really on the answer.
    const onEveryAnswer = EXPOSED.filter((name) => name !== "retry-after" && name !== "idempotent-replayed");
    for (const name of onEveryAnswer) expect(response.headers[name], name).toBeDefined();
  });

  it("answers each listed origin with its own name, never the list", async () => {
    const response = await get("/v1/limits", { ...bearer(acme.secret), origin: ALSO_LISTED });
    expect(response.headers["access-control-allow-origin"]).toBe(ALSO_LISTED);
  });

  it("carries the origin on error envelopes too: 401 without a key, 401 with a bad one, 404, 400", async () => {
    const answers = [
      [await get("/v1/limits", { origin: LISTED }), 401, "auth_missing"],
      [await get("/v1/limits", { origin: LISTED, authorization: "Bearer nope" }), 401, "auth_malformed"],
      [await get("/v1/instances/00000000-0000-7000-8000-000000000000", { ...bearer(acme.secret), origin: LISTED }), 404, "instance_not_found"],
      [await get("/nowhere", { origin: LISTED }), 404, "not_found"],
      [await get("/v1/audit-events?limit=zero", { ...bearer(acme.secret), origin: LISTED }), 400, "validation_failed"],
    ] as const;
    for (const [response, status, code] of answers) {
      expectError(response, status, code);
      expect(response.headers["access-control-allow-origin"], code).toBe(LISTED);
      expect(exposedNames(response), code).toContain("x-request-id");
    }
  });

  it("carries it on a 429, whose Retry-After the page may read", async () => {
    const limited = await buildTestApp({ corsOrigins: [LISTED], rateLimit: { burst: 1, refillPerSecond: 0.0001 } });
    try {
      const customer = await createTestCustomer(limited, "Limited");
      const headers = { ...bearer(customer.secret), origin: LISTED };
      expect((await limited.inject({ url: "/v1/instances", headers })).statusCode).toBe(200);
      const refused = await limited.inject({ url: "/v1/instances", headers });
      expectError(refused, 429, "rate_limited");
      expect(refused.headers["access-control-allow-origin"]).toBe(LISTED);
      expect(refused.headers["retry-after"]).toMatch(/^\d+$/);
      expect(String(refused.headers["access-control-expose-headers"])).toContain("Retry-After");
    } finally {
      await limited.close();
    }
  });
});

describe("an answer to any other origin", () => {
  it.each([
    ["an origin not listed", "https://evil.example"],
    ["a listed origin's look-alike", "https://console.example.com.evil.example"],
    ["the same host on another scheme", "http://console.example.com"],
    ["the same host on another port", "https://console.example.com:8443"],
    ["a listed origin with a trailing slash", `${LISTED}/`],
    ["a listed origin in capitals", LISTED.toUpperCase()],
    ["`null` (sandboxed frames, file: pages, some redirects)", "null"],
    ["two listed origins in one header", `${LISTED}, ${ALSO_LISTED}`],
  ])("%s: no CORS header, the answer otherwise the same", async (_label, origin) => {
    const response = await get("/v1/limits", { ...bearer(acme.secret), origin });
    expect(response.statusCode).toBe(200);
    expect(corsHeaders(response)).toEqual([]);
    expect(response.headers.vary).toMatch(/\bOrigin\b/);
  });

  it("an Origin header sent twice on the wire, even twice the listed one, gets none", async () => {
    await app.listen({ port: 0, host: "127.0.0.1" });
    const port = (app.server.address() as AddressInfo).port;
    for (const second of [LISTED, "https://evil.example"]) {
      const answer = await exchange(
        port,
        `GET /v1/limits HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${acme.secret}\r\nOrigin: ${LISTED}\r\nOrigin: ${second}\r\nConnection: close\r\n\r\n`,
      );
      expect(answer.status).toBe(200);
      expect(Object.keys(answer.headers).filter((name) => name.startsWith("access-control-"))).toEqual([]);
    }
  });

  it("a request with no Origin at all (not a browser's cross-origin request) gets none", async () => {
    const response = await get("/v1/limits", bearer(acme.secret));
    expect(response.statusCode).toBe(200);
    expect(corsHeaders(response)).toEqual([]);
  });
});

describe("a preflight", () => {
  it("from a listed origin: 204 with the path's methods, the request headers allowed, a max-age, no key needed", async () => {
    const response = await preflight("/v1/api-keys", LISTED);
    expect(response.statusCode).toBe(204);
    expect(response.body).toBe("");
    expect(response.headers["access-control-allow-origin"]).toBe(LISTED);
    expect(response.headers["access-control-allow-methods"]).toBe("GET, POST");
    expect(String(response.headers["access-control-allow-headers"]).toLowerCase().split(", ").sort()).toEqual(["authorization", "content-type", "idempotency-key"]);
    expect(Number(response.headers["access-control-max-age"])).toBeGreaterThan(0);
    expect(response.headers["access-control-allow-credentials"]).toBeUndefined();
    expect(response.headers.vary).toMatch(/\bOrigin\b/);
    expect(response.headers.vary).toMatch(/Access-Control-Request-Method/);
  });

  it("names the methods of the route the path matches, an id path and the retry included", async () => {
    const id = "00000000-0000-7000-8000-000000000000";
    expect((await preflight(`/v1/api-keys/${id}`, LISTED, "DELETE")).headers["access-control-allow-methods"]).toBe("GET, DELETE");
    expect((await preflight(`/v1/webhook-deliveries/${id}/retry`, LISTED)).headers["access-control-allow-methods"]).toBe("POST");
    expect((await preflight("/v1/limits?x=1", LISTED, "GET")).headers["access-control-allow-methods"]).toBe("GET");
  });

  it("spends no token of the key's bucket and touches no key", async () => {
    // GET /v1/limits and /v1/api-keys/current spend nothing; this read spends one token.
    const remaining = async () => Number((await get("/v1/instances", bearer(acme.secret))).headers["x-ratelimit-remaining"]);
    const before = await remaining();
    for (let i = 0; i < 5; i += 1) {
      const response = await app.inject({
        method: "OPTIONS",
        url: "/v1/instances",
        // A browser never sends the key on a preflight; one that did changes nothing either.
        headers: { origin: LISTED, "access-control-request-method": "GET", ...bearer(acme.secret) },
      });
      expect(response.statusCode).toBe(204);
      expect(response.headers["x-ratelimit-remaining"]).toBeUndefined();
    }
    expect(await remaining()).toBe(before - 1);
  });

  it.each([
    ["from an origin not listed", "https://evil.example", "/v1/api-keys"],
    ["from `null`", "null", "/v1/api-keys"],
    ["from two origins in one header", `${LISTED}, ${ALSO_LISTED}`, "/v1/api-keys"],
    ["to a path with no route", LISTED, "/v1/nowhere"],
  ])("%s: 204 without any CORS header, so the browser sends nothing", async (_label, origin, url) => {
    const response = await preflight(url, origin);
    expect(response.statusCode).toBe(204);
    expect(corsHeaders(response)).toEqual([]);
  });

  it("an OPTIONS that is no preflight (no Access-Control-Request-Method) gets no CORS header either", async () => {
    const response = await app.inject({ method: "OPTIONS", url: "/v1/api-keys", headers: { origin: LISTED } });
    expect(response.statusCode).toBe(204);
    expect(corsHeaders(response)).toEqual([]);
  });
});

describe("with no CORS_ORIGINS", () => {
  it("adds no CORS header and no Vary, answers no preflight, as before", async () => {
    const plain = await buildTestApp();
    try {
      const customer = await createTestCustomer(plain, "Plain");
      const response = await plain.inject({ url: "/v1/limits", headers: { ...bearer(customer.secret), origin: LISTED } });
      expect(response.statusCode).toBe(200);
      expect(corsHeaders(response)).toEqual([]);
      expect(response.headers.vary).toBeUndefined();
      const options = await plain.inject({
        method: "OPTIONS",
        url: "/v1/api-keys",
        headers: { origin: LISTED, "access-control-request-method": "POST" },
      });
      expect(options.statusCode).not.toBe(204);
      expect(corsHeaders(options)).toEqual([]);
      expect(plain.routeTable.routes.some((route) => route.method === "OPTIONS")).toBe(false);
    } finally {
      await plain.close();
    }
  });
});
