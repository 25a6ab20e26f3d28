import type { InjectOptions, LightMyRequestResponse } from "fastify";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { FieldProblem } from "../src/errors/app-error.js";
import type { App } from "../src/http/app-types.js";
import { bearer, buildTestApp, createTestCustomer, expectError, type TestCustomer } from "./helpers/test-app.js";
import { allowInserts, failInserts } from "./helpers/test-database.js";

const REQUEST_ID = /^req_[A-Za-z0-9_-]{8,}$/;


/** A 400 validation_failed whose details list the fields; returns the field names. */
function expectValidationFailed(response: LightMyRequestResponse): string[] {
  const body = expectError(response, 400, "validation_failed");
  const fields = (body.error.details as { fields: FieldProblem[] } | undefined)?.fields;
  expect(Array.isArray(fields), JSON.stringify(body)).toBe(true);
  expect(fields!.length).toBeGreaterThan(0);
  for (const problem of fields!) {
    expect(typeof problem.field).toBe("string");
    expect(typeof problem.message).toBe("string");
    expect(problem.message.length).toBeGreaterThan(0);
  }
  return fields!.map((problem) => problem.field);
}

describe("the HTTP envelope", () => {
  let app: App;
  let acme: TestCustomer;
  beforeAll(async () => {
    app = await buildTestApp({ rateLimit: { burst: 10_000, refillPerSecond: 1 } });
    acme = await createTestCustomer(app);
  });
  afterAll(() => app.close());

  /** POST /v1/instances with the given raw payload and headers, authenticated. */
  function postInstance(options: Omit<InjectOptions, "method" | "url"> = {}) {
    return app.inject({
      method: "POST",
      url: "/v1/instances",
      ...options,
      headers: { ...bearer(acme.secret), ...(options.headers ?? {}) },
    });
  }

  describe("X-Request-Id", () => {
    it("is on every response, successes and errors, public and authenticated", async () => {
      const responses = [
        await app.inject({ url: "/healthz" }),
        await app.inject({ url: "/v1/api-keys", headers: bearer(acme.secret) }),
        await app.inject({ url: "/v1/api-keys" }),
        await app.inject({ url: "/nope" }),
        await app.inject({ url: "/v1/nope", headers: bearer(acme.secret) }),
        await postInstance({ payload: { name: 1 } }),
      ];
      expect(responses.map((response) => response.statusCode)).toEqual([200, 200, 401, 404, 404, 400]);
      for (const response of responses) expect(response.headers["x-request-id"]).toMatch(REQUEST_ID);
    });

    it("is the request_id of the error body", async () => {
      const response = await app.inject({ url: "/v1/api-keys" });
      const body = expectError(response, 401, "auth_missing");
      expect(body.request_id).toMatch(REQUEST_ID);
    });

    it("is unique per request", async () => {
      const ids = new Set<string>();
      for (let i = 0; i < 25; i += 1) {
        const response = await app.inject({ url: i % 2 ? "/healthz" : "/v1/api-keys", headers: bearer(acme.secret) });
        ids.add(String(response.headers["x-request-id"]));
      }
      expect(ids.size).toBe(25);
    });

    it("ignores an X-Request-Id sent by the client", async () => {
      for (const sent of ["req_chosen-by-client", "client-id", "<script>"]) {
        const response = await app.inject({
          url: "/v1/api-keys",
          headers: { ...bearer(acme.secret), "x-request-id": sent },
        });
        expect(response.statusCode).toBe(200);
        expect(response.headers["x-request-id"]).not.toBe(sent);
        expect(response.headers["x-request-id"]).toMatch(REQUEST_ID);
        const refused = await app.inject({ url: "/v1/api-keys", headers: { "x-request-id": sent } });
        const body = expectError(refused, 401, "auth_missing");
        expect(body.request_id).not.toBe(sent);
      }
    });
  });

  describe("unknown routes", () => {
    it("answers 404 not_found in the envelope outside /v1", async () => {
      expectError(await app.inject({ url: "/does-not-exist" }), 404, "not_found");
      expectError(await app.inject({ method: "POST", url: "/does-not-exist", payload: { a: 1 } }), 404, "not_found");
    });

    it("answers 404 not_found in the envelope under /v1 for an authenticated caller", async () => {
      const body = expectError(await app.inject({ url: "/v1/does-not-exist", headers: bearer(acme.secret) }), 404, "not_found");
      expect(body.error.message).toContain("/v1/does-not-exist");
    });
  });

  describe("bodies", () => {
    it("refuses bad JSON with 400 validation_failed naming the body", async () => {
      const response = await postInstance({ headers: { "content-type": "application/json" }, payload: '{"name": "main"' });
      expect(expectValidationFailed(response)).toContain("body");
    });

    it("refuses an empty body sent as application/json with 400", async () => {
      const response = await postInstance({ headers: { "content-type": "application/json" }, payload: "" });
      expect(expectValidationFailed(response)).toContain("body");
    });

    it("refuses a missing body with 400", async () => {
      const response = await postInstance();
      const fields = expectValidationFailed(response);
      expect(fields.some((field) => field === "body" || field.startsWith("body."))).toBe(true);
    });

    it("refuses JSON that is not an object with 400", async () => {
      for (const payload of ["[]", '"main"', "null", "42"]) {
        const response = await postInstance({ headers: { "content-type": "application/json" }, payload });
        expect(expectValidationFailed(response).some((field) => field.startsWith("body")), payload).toBe(true);
      }
    });

    it("refuses a prototype-polluting body with 400, not 500", async () => {
      const response = await postInstance({
        headers: { "content-type": "application/json" },
        payload: '{"name": "main", "__proto__": {"admin": true}}',
      });
      expectValidationFailed(response);
    });

    it("refuses a text/plain body with 415 unsupported_media_type", async () => {
      const response = await postInstance({ headers: { "content-type": "text/plain" }, payload: '{"name":"main"}' });
      expectError(response, 415, "unsupported_media_type");
    });

    it("refuses a form-urlencoded body with 415 unsupported_media_type", async () => {
      const response = await postInstance({
        headers: { "content-type": "application/x-www-form-urlencoded" },
        payload: "name=main",
      });
      expectError(response, 415, "unsupported_media_type");
    });

    it("refuses other non-JSON content types with 415", async () => {
      for (const type of ["application/xml", "multipart/form-data; boundary=x", "application/octet-stream"]) {
        const response = await postInstance({ headers: { "content-type": type }, payload: '{"name":"main"}' });
        expectError(response, 415, "unsupported_media_type");
      }
    });

    it("accepts application/json with a charset", async () => {
      const response = await postInstance({
        headers: { "content-type": "application/json; charset=utf-8" },
        payload: '{"name":"charset"}',
      });
      expect(response.statusCode, response.body).toBe(201);
    });

    it("refuses a body over 64 KiB with 413 payload_too_large", async () => {
      const response = await postInstance({ payload: { name: "x".repeat(64 * 1024) } });
      expectError(response, 413, "payload_too_large");
    });

    it("accepts a body just under 64 KiB as far as size goes (the field rules answer instead)", async () => {
      const payload = JSON.stringify({ name: "x".repeat(64 * 1024 - 20) });
      expect(Buffer.byteLength(payload)).toBeLessThanOrEqual(64 * 1024);
      const response = await postInstance({ headers: { "content-type": "application/json" }, payload });
      expect(expectValidationFailed(response)).toEqual(["body.name"]);
    });

    it("refuses an unknown field with 400 naming body.<field>", async () => {
      const response = await postInstance({ payload: { name: "main", extra: 1 } });
      expect(expectValidationFailed(response)).toEqual(["body.extra"]);
    });

    it("refuses a wrong type with 400 naming the field", async () => {
      const response = await postInstance({ payload: { name: 42 } });
      expect(expectValidationFailed(response)).toEqual(["body.name"]);
    });

    it("names every offending field at once", async () => {
      const response = await postInstance({ payload: { name: "", extra: true, other: null } });
      expect(expectValidationFailed(response).sort()).toEqual(["body.extra", "body.name", "body.other"]);
    });
  });

  describe("paths", () => {
    it("answers a 1000-character path parameter in the envelope", async () => {
      const response = await app.inject({ url: `/v1/api-keys/${"a".repeat(1000)}`, headers: bearer(acme.secret) });
      expect([400, 404], response.body.slice(0, 200)).toContain(response.statusCode);
      const body = response.json();
      expect(Object.keys(body).sort()).toEqual(["error", "request_id"]);
      expect(["validation_failed", "api_key_not_found", "not_found"]).toContain(body.error.code);
      expectError(response, response.statusCode, body.error.code);
    });

    it("answers a malformed percent-encoding in the path in the envelope", async () => {
      const response = await app.inject({ url: "/v1/api-keys/%E0%A4%A", headers: bearer(acme.secret) });
      expect(response.statusCode).toBeGreaterThanOrEqual(400);
      expect(response.statusCode).toBeLessThan(500);
      const body = response.json();
      expect(Object.keys(body).sort(), response.body).toEqual(["error", "request_id"]);
      expectError(response, response.statusCode, body.error.code);
    });

    it("refuses a path parameter that is not a UUID with 400 naming params.id", async () => {
      const response = await app.inject({ url: "/v1/api-keys/not-a-uuid", headers: bearer(acme.secret) });
      expect(expectValidationFailed(response)).toEqual(["params.id"]);
    });
  });

  describe("server errors", () => {
    it("answers 500 internal_error with a generic message and no internals", async () => {
      await failInserts(app.db, app.dialect, "instances");
      try {
        const response = await postInstance({ payload: { name: "main" } });
        const body = expectError(response, 500, "internal_error");
        expect(body.error.details).toBeUndefined();
        expect(response.body).not.toContain("boom");
        expect(response.body).not.toMatch(/\bat /);
        expect(response.body.toLowerCase()).not.toContain("stack");
        expect(response.body.toLowerCase()).not.toContain("sqlite");
        expect(response.body.toLowerCase()).not.toContain("postgres");
        expect(response.body).not.toContain("instances");
        expect(body.error.message).toMatch(/something went wrong/i);
      } finally {
        await allowInserts(app.db, app.dialect, "instances");
      }
      // And the app keeps serving.
      expect((await postInstance({ payload: { name: "after" } })).statusCode).toBe(201);
    });
  });
});
