import { afterAll, beforeAll, bench, describe } from "vitest";
import { generateKey } from "../src/crypto/key-format.js";
import type { App } from "../src/http/app-types.js";
import { bearer, buildTestApp, createTestCustomer } from "../test/helpers/test-app.js";

/**
 * The cost of the authentication pipeline per request, through app.inject. Read the results as
 * ratios against /healthz (no authentication) in the same run: the machine is shared and noisy.
 * - cached key: the steady state, no database read
 * - unknown key: a digest lookup in SQLite that finds nothing (the throttle is opened wide)
 * - malformed key: refused by the checksum, no I/O at all
 */
let app: App;
let secret: string;

beforeAll(async () => {
  app = await buildTestApp({
    rateLimit: { burst: 1e9, refillPerSecond: 1e9 },
    authFailureLimit: { burst: 1e9, refillPerSecond: 1e9 },
  });
  secret = (await createTestCustomer(app)).secret;
});

afterAll(() => app.close());

describe("authentication", () => {
  bench("GET /healthz (no authentication)", async () => {
    await app.inject({ url: "/healthz" });
  });

  bench("GET /v1/limits, cached key", async () => {
    await app.inject({ url: "/v1/limits", headers: bearer(secret) });
  });

  bench("GET /v1/limits, unknown key (database lookup)", async () => {
    await app.inject({ url: "/v1/limits", headers: bearer(generateKey()) });
  });

  bench("GET /v1/limits, malformed key (checksum, no I/O)", async () => {
    await app.inject({ url: "/v1/limits", headers: bearer(`${secret.slice(0, -1)}x`) });
  });

  bench("GET /v1/api-keys, cached key (one indexed query)", async () => {
    await app.inject({ url: "/v1/api-keys", headers: bearer(secret) });
  });
});
