import { Writable } from "node:stream";
import type { LightMyRequestResponse } from "fastify";
import { beforeAll, describe, expect, it } from "vitest";
import { generateKey } from "../src/crypto/key-format.js";
import type { App } from "../src/http/app-types.js";
import {
  bearer,
  buildTestApp,
  createTestCustomer,
  expectError,
  issueKey,
  TEST_PEPPER,
  type TestCustomer,
} from "./helpers/test-app.js";
import { failInserts } from "./helpers/test-database.js";

/** A stream that keeps every log line the app writes. */
function collectingStream(): { stream: Writable; lines: string[] } {
  const lines: string[] = [];
  let partial = "";
  const stream = new Writable({
    write(chunk: Buffer | string, _encoding, callback) {
      partial += chunk.toString();
      const complete = partial.split("\n");
      partial = complete.pop() ?? "";
      lines.push(...complete.filter((line) => line.length > 0));
      callback();
    },
  });
  return { stream, lines };
}

type LogLine = Record<string, unknown> & { msg?: string; request_id?: string; path?: string; status?: number };

describe("logs", () => {
  let app: App;
  let acme: TestCustomer;
  let collected: { stream: Writable; lines: string[] };
  let issuedSecret: string;
  const requestIds: string[] = [];
  const malformedButSecretLooking = "zpk_live_this-is-not-a-key-but-still-secret-looking";
  const unknownKey = generateKey(); // well-formed, checksum and all, but never stored

  beforeAll(async () => {
    collected = collectingStream();
    app = await buildTestApp({}, { logger: { stream: collected.stream } });
    acme = await createTestCustomer(app);

    const track = (response: LightMyRequestResponse) => {
      requestIds.push(String(response.headers["x-request-id"]));
      return response;
    };

    // A real key in the header.
    expect(track(await app.inject({ url: "/v1/api-keys", headers: bearer(acme.secret) })).statusCode).toBe(200);
    // A real key pasted into the query string, alone and next to a header.
    expectError(await app.inject({ url: `/v1/api-keys?api_key=${acme.secret}` }), 401, "auth_missing");
    expect(
      track(await app.inject({ url: `/v1/instances?api_key=${acme.secret}&x=1`, headers: bearer(acme.secret) }))
        .statusCode,
    ).toBe(400);
    // A real key pasted where an id goes: the path is logged with the key masked.
    expect(
      track(await app.inject({ method: "DELETE", url: `/v1/api-keys/${acme.secret}`, headers: bearer(acme.secret) }))
        .statusCode,
    ).toBe(400);
    // A key issued through the API: its 201 holds the secret.
    issuedSecret = (await issueKey(app, acme.secret, { name: "logged?" })).secret;
    expect(track(await app.inject({ url: "/v1/limits", headers: bearer(issuedSecret) })).statusCode).toBe(200);
    // 401s: a malformed header, a well-formed unknown key, a revoked key.
    expectError(track(await app.inject({ url: "/v1/api-keys", headers: bearer(malformedButSecretLooking) })), 401, "auth_malformed");
    expectError(track(await app.inject({ url: "/v1/api-keys", headers: bearer(unknownKey) })), 401, "auth_invalid");
    const revoked = await issueKey(app, acme.secret, { name: "to revoke" });
    await app.inject({ method: "DELETE", url: `/v1/api-keys/${revoked.id}`, headers: bearer(acme.secret) });
    expectError(track(await app.inject({ url: "/v1/api-keys", headers: bearer(revoked.secret) })), 401, "auth_expired");
    // A 500 while issuing a key: its error is logged, the secret it had generated is not.
    await failInserts(app.db, app.dialect, "api_keys");
    const failed = await app.inject({ method: "POST", url: "/v1/api-keys", headers: bearer(acme.secret), payload: { name: "x" } });
    expectError(track(failed), 500, "internal_error");

    await app.close();
  });

  function parsedLines(): LogLine[] {
    return collected.lines.map((line) => JSON.parse(line) as LogLine);
  }

  function logText(): string {
    return collected.lines.join("\n");
  }

  it("writes JSON lines", () => {
    expect(collected.lines.length).toBeGreaterThan(10);
    for (const line of collected.lines) expect(() => JSON.parse(line), line).not.toThrow();
  });

  it("never contains a key: not the one in the header, not the one in the query, not an issued one", () => {
    const text = logText();
    expect(text).not.toContain(acme.secret);
    expect(text).not.toContain(issuedSecret);
    expect(text).not.toContain(unknownKey);
    expect(text).not.toContain(malformedButSecretLooking);
    // Nor the key's tail on its own (the part after zpk_live_).
    expect(text).not.toContain(acme.secret.slice("zpk_live_".length));
    expect(text).not.toContain(issuedSecret.slice("zpk_live_".length));
  });

  it("never contains the pepper", () => {
    expect(logText()).not.toContain(TEST_PEPPER);
  });

  it("never logs an Authorization header value", () => {
    const text = logText();
    expect(text).not.toMatch(/Bearer /i);
    expect(logText()).not.toContain("authorization");
  });

  /** The one line each answered request writes. */
  function requestLines(): LogLine[] {
    return parsedLines().filter((line) => line.msg === "request completed");
  }

  it("writes one line per request, with its route pattern, path, status, duration, address and key prefix", () => {
    const lines = requestLines();
    expect(new Set(lines.map((line) => line.request_id)).size).toBe(lines.length);
    expect(parsedLines().filter((line) => line.msg === "incoming request")).toEqual([]);
    const limits = lines.find((line) => line.path === "/v1/limits")!;
    expect(limits).toMatchObject({
      level: 30,
      method: "GET",
      route: "/v1/limits",
      status: 200,
      ip: "127.0.0.1",
      key_prefix: issuedSecret.slice(0, "zpk_live_".length + 8),
    });
    expect(limits.duration_ms).toEqual(expect.any(Number));
    const masked = lines.find((line) => line.path === "/v1/api-keys/zpk_live_[redacted]")!;
    expect(masked).toMatchObject({ method: "DELETE", route: "/v1/api-keys/:id", status: 400 });
    // Refused before authentication: no key to name.
    const malformed = lines.find((line) => line.status === 401)!;
    expect(malformed.key_prefix).toBeUndefined();
  });

  it("logs each request's path without its query string", () => {
    expect(requestLines().length).toBeGreaterThanOrEqual(requestIds.length);
    const paths = requestLines().map((line) => line.path);
    expect(paths).toContain("/v1/api-keys");
    expect(paths).toContain("/v1/instances");
    expect(paths).toContain("/v1/limits");
    expect(paths).toContain("/v1/api-keys/zpk_live_[redacted]");
    for (const path of paths) {
      expect(typeof path).toBe("string");
      expect(path as string).not.toContain("?");
    }
    expect(logText()).not.toContain("api_key=");
  });

  it("tags request log lines with the request_id of the response", () => {
    const lines = requestLines();
    for (const line of lines) expect(line.request_id, JSON.stringify(line)).toMatch(/^req_/);
    const logged = new Set(lines.map((line) => line.request_id));
    for (const id of requestIds) expect(logged.has(id), id).toBe(true);
  });

  it("logs each completed request with its status", () => {
    const statuses = requestLines().map((line) => line.status);
    expect(statuses).toEqual(expect.arrayContaining([200, 201, 400, 401]));
  });
});
