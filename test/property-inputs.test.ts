import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ERROR_STATUS } from "../src/contract/errors.js";
import type { App } from "../src/http/app-types.js";
import { bearer, buildTestApp, createInstance, createTestCustomer, type TestCustomer } from "./helpers/test-app.js";
import { rowCounts } from "./helpers/test-database.js";

/**
 * Issue 11: generated hostile requests against every /v1 route, on the database of the run. Paths,
 * query strings and bodies are drawn from malformed and deep JSON, huge arrays, `__proto__` and
 * `constructor` keys, control characters, NUL, lone surrogates, wrong types and forged cursors.
 * Whatever comes in: never a 5xx, the error envelope on every refusal, and a refused request
 * changes nothing (the row count of every table is the same before and after).
 */

const RUNS_PER_ROUTE = 650;

let app: App;
let acme: TestCustomer;
let instanceId: string;
let sent = 0;

beforeAll(async () => {
  app = await buildTestApp({
    rateLimit: { burst: 1e9, refillPerSecond: 1e9 },
    customerRateLimit: { burst: 1e9, refillPerSecond: 1e9 },
    authFailureLimit: { burst: 1e9, refillPerSecond: 1e9 },
    // Nothing moves in the background, so that row counts change only by the requests.
    sandboxStepMs: 3_600_000,
    webhooks: { allowLoopback: true, retryDelaysMs: [3_600_000], attemptTimeoutMs: 1_000 },
  });
  acme = await createTestCustomer(app);
  instanceId = (await createInstance(app, acme.secret, "main")).id;
});
afterAll(async () => {
  console.log(`[property] ${sent} generated requests, none answered 5xx`);
  await app.close();
});

const TABLES = ["customers", "api_keys", "instances", "webhook_endpoints", "messages", "audit_events", "webhook_deliveries"];

/** Text an attacker would try: NUL, escapes, lone and reversed surrogates, look-alikes, long runs. */
const NASTY = ["\u0000", "\u001b[31m", "\u0007", "\r\n", "\ud800", "\udfff", "\udc00\ud800", "😀", "\u202e", "\ufeff", "%00", "'; drop table api_keys; --", "../", "__proto__", "\\u0000"];
const nastyString = fc
  .array(fc.oneof(fc.string({ maxLength: 20 }), fc.constantFrom(...NASTY), fc.constant("x".repeat(300))), { maxLength: 6 })
  .map((parts) => parts.join(""));

const nastyKey = fc.oneof(nastyString, fc.constantFrom("__proto__", "constructor", "prototype", "name", "scopes", "instance_id", "url", "events", "text", "to", "type"));

/** Any JSON value, with nasty strings and keys, nested a few levels. */
const nastyJson: fc.Arbitrary<unknown> = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: "small" },
    nastyString,
    fc.integer(),
    fc.double(),
    fc.boolean(),
    fc.constant(null),
    fc.array(tie("value"), { maxLength: 5 }),
    fc.dictionary(nastyKey, tie("value"), { maxKeys: 5 }),
  ),
})).value;

/** The right field names with values of the wrong kind: gets further into validation. */
const FIELDS = ["name", "scopes", "instance_id", "expires_at", "url", "events", "to", "type", "text", "client_ref", "transport", "phone_number_id"];
const almostValid = fc.dictionary(fc.constantFrom(...FIELDS), nastyJson, { maxKeys: 6 });

/** A raw body: JSON that does not parse, deep nesting, a huge array, JSON with a proto key. */
const rawBody = fc.oneof(
  nastyString,
  fc.integer({ min: 1, max: 5_000 }).map((depth) => `${"[".repeat(depth)}${"]".repeat(depth)}`),
  fc.integer({ min: 1, max: 20_000 }).map((length) => JSON.stringify(Array.from({ length }, (_, index) => index))),
  fc.constant('{"__proto__": {"polluted": true}, "name": "x"}'),
  fc.constant('{"constructor": {"prototype": {"polluted": true}}}'),
  fc.constant('{"name": "a", "name": "b"}'),
);

const body = fc.oneof(
  almostValid.map((value) => JSON.stringify(value)),
  nastyJson.map((value) => JSON.stringify(value) ?? "null"),
  rawBody,
  fc.constant(undefined),
);

/** Percent-encoded arbitrary bytes (invalid UTF-8 and %00 included). */
const encodedBytes = fc.uint8Array({ maxLength: 40 }).map((bytes) => [...bytes].map((byte) => `%${byte.toString(16).padStart(2, "0")}`).join(""));
const cursorLike = fc.oneof(
  nastyJson.map((value) => Buffer.from(JSON.stringify(value) ?? "null").toString("base64url")),
  fc.tuple(nastyString, nastyString).map((pair) => Buffer.from(JSON.stringify(pair)).toString("base64url")),
  encodedBytes,
);
const queryValue = fc.oneof(encodedBytes, cursorLike, fc.integer().map(String), fc.constantFrom("-1", "0", "1e3", "101", "NaN", ""));
const query = fc
  .dictionary(fc.constantFrom("cursor", "limit", "status", "event", "endpoint_id", "__proto__", "x"), queryValue, { maxKeys: 3 })
  .map((entries) => Object.entries(entries).map(([name, value]) => `${name}=${value}`).join("&"));

const pathId = fc.oneof(fc.constant(() => instanceId), fc.uuid().map((id) => () => id), encodedBytes.map((text) => () => text));

const contentType = fc.constantFrom("application/json", "application/json; charset=utf-8", "text/plain", "application/x-www-form-urlencoded", undefined);

describe("generated hostile requests", () => {
  const routes = () => app.routeTable.routes.filter((route) => route.url.startsWith("/v1/") && route.method !== "HEAD");

  it("reach every /v1 route", () => {
    expect(routes().length).toBeGreaterThanOrEqual(15);
  });

  it(`never answer 5xx, always in the envelope, and change nothing when refused (${RUNS_PER_ROUTE} per route)`, { timeout: 600_000 }, async () => {
    for (const route of routes()) {
      await fc.assert(
        fc.asyncProperty(pathId, query, body, contentType, async (id, search, payload, type) => {
          const url = `${route.url.replace(/:[A-Za-z_]+/g, id())}${search === "" ? "" : `?${search}`}`;
          const before = await rowCounts(app.db, TABLES);
          const response = await app.inject({
            method: route.method as "GET",
            url,
            headers: { ...bearer(acme.secret), ...(type === undefined || payload === undefined ? {} : { "content-type": type }) },
            ...(payload === undefined ? {} : { payload }),
          });
          sent += 1;
          const context = `${route.method} ${url} ${payload?.slice(0, 200) ?? ""} → ${response.statusCode} ${response.body.slice(0, 300)}`;
          expect(response.statusCode, context).toBeLessThan(500);
          if (response.statusCode < 400) return;
          const envelope = response.json() as { error: { code: keyof typeof ERROR_STATUS }; request_id: string };
          expect(ERROR_STATUS[envelope.error.code], context).toBe(response.statusCode);
          expect(envelope.request_id, context).toBe(response.headers["x-request-id"]);
          expect(await rowCounts(app.db, TABLES), context).toEqual(before);
        }),
        { numRuns: RUNS_PER_ROUTE },
      );
    }
    expect(sent).toBeGreaterThanOrEqual(10_000);
  });
});
