import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CLI_ACTOR } from "../src/audit/actor.js";
import { createClient, currentApiKey, rollApiKey, type ApiKey } from "@whatisup/client";
import { generateKey } from "../src/crypto/key-format.js";
import type { App } from "../src/http/app-types.js";
import { storeNewKey } from "../src/use-cases/issue-api-key.js";
import {
  API_KEY_FIELDS,
  bearer,
  buildTestApp,
  createInstance,
  createTestCustomer,
  expectError,
  issueKey,
  TEST_PEPPER,
  type TestCustomer,
  writerOn,
} from "./helpers/test-app.js";

const BURST = 3;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe("GET /v1/api-keys/current", () => {
  let app: App;
  let acme: TestCustomer;

  beforeAll(async () => {
    app = await buildTestApp({ rateLimit: { burst: 100_000, refillPerSecond: 1 } });
    acme = await createTestCustomer(app);
  });
  afterAll(() => app.close());

  function current(secret: string) {
    return app.inject({ url: "/v1/api-keys/current", headers: bearer(secret) });
  }

  /** The key as `GET /v1/api-keys/:id` shows it, read with a key of its own (each has a bucket). */
  async function readById(id: string): Promise<ApiKey> {
    const reader = await issueKey(app, acme.secret, { name: "reader", scopes: ["api_keys:read"] });
    const response = await app.inject({ url: `/v1/api-keys/${id}`, headers: bearer(reader.secret) });
    expect(response.statusCode, response.body).toBe(200);
    return response.json();
  }

  it("answers any key with its own ApiKey, the shape of GET /v1/api-keys/:id: a full key, a single-scope key, a bound key, a test key", async () => {
    const instance = await createInstance(app, acme.secret);
    const sender = await issueKey(app, acme.secret, { name: "sender", scopes: ["messages:send"] });
    const bound = await issueKey(app, acme.secret, { name: "bound", instance_id: instance.id, scopes: ["messages:send"] });
    const test = await writerOn(app.db, TEST_PEPPER)(CLI_ACTOR, (write, actor) =>
      storeNewKey(write, actor, acme.customer.id, { name: "test", instanceId: null, mode: "test", scopes: ["audit:read"], allowedIps: null, expiresAt: null }, null),
    );
    for (const key of [acme.key, sender, bound, test]) {
      const response = await current(key.secret);
      expect(response.statusCode, response.body).toBe(200);
      expect(response.headers["cache-control"]).toBe("no-store");
      const body = response.json() as ApiKey;
      expect(Object.keys(body).sort()).toEqual(API_KEY_FIELDS);
      expect(body).toEqual(await readById(key.id));
      expect(body.id).toBe(key.id);
      expect(JSON.stringify(body)).not.toContain(key.secret);
    }
    expect((await current(test.secret)).json()).toMatchObject({ mode: "test", scopes: ["audit:read"] });
    expect((await current(bound.secret)).json()).toMatchObject({ instance_id: instance.id });
  });

  it("spends no token, and answers even when the key's bucket is empty", async () => {
    const throttled = await buildTestApp({ rateLimit: { burst: BURST, refillPerSecond: 0.001 } });
    try {
      const { secret } = await createTestCustomer(throttled);
      const ask = () => throttled.inject({ url: "/v1/api-keys/current", headers: bearer(secret) });
      for (let request = 0; request < BURST * 3; request += 1) {
        const response = await ask();
        expect(response.statusCode, response.body).toBe(200);
        expect(response.headers["x-ratelimit-remaining"]).toBe(String(BURST));
      }
      for (let request = 0; request < BURST; request += 1) {
        expect((await throttled.inject({ url: "/v1/instances", headers: bearer(secret) })).statusCode).toBe(200);
      }
      expectError(await throttled.inject({ url: "/v1/instances", headers: bearer(secret) }), 429, "rate_limited");
      const response = await ask();
      expect(response.statusCode, response.body).toBe(200);
      expect(response.headers["x-ratelimit-remaining"]).toBe("0");
    } finally {
      await throttled.close();
    }
  });

  it("refuses a missing, unknown, revoked or expired key: 401", async () => {
    expectError(await app.inject({ url: "/v1/api-keys/current" }), 401, "auth_missing");
    expectError(await current(generateKey()), 401, "auth_invalid");
    const revoked = await issueKey(app, acme.secret, { name: "revoked" });
    expect((await app.inject({ method: "DELETE", url: `/v1/api-keys/${revoked.id}`, headers: bearer(acme.secret) })).statusCode).toBe(204);
    expectError(await current(revoked.secret), 401, "auth_expired");
    const expiring = await issueKey(app, acme.secret, { name: "expiring", expires_at: new Date(Date.now() + 300).toISOString() });
    await sleep(400);
    expectError(await current(expiring.secret), 401, "auth_expired");
  });

  it("is a GET only: the other methods of the path are those of /v1/api-keys/:id, which refuse `current` as an id", async () => {
    const response = await app.inject({ method: "DELETE", url: "/v1/api-keys/current", headers: bearer(acme.secret) });
    const body = expectError(response, 400, "validation_failed");
    expect(body.error.details).toMatchObject({ fields: [{ field: "params.id" }] });
  });
});

describe("the typed client's currentApiKey and rollApiKey", () => {
  let app: App;
  let acme: TestCustomer;
  let baseUrl: string;

  beforeAll(async () => {
    app = await buildTestApp();
    acme = await createTestCustomer(app);
    baseUrl = await app.listen({ port: 0, host: "127.0.0.1" });
  });
  afterAll(() => app.close());

  it("currentApiKey answers the calling key; rollApiKey a successor, after which the rolled key is refused", async () => {
    const issued = await issueKey(app, acme.secret, { name: "client", scopes: ["api_keys:write"] });
    const client = createClient({ baseUrl, apiKey: issued.secret });
    const current = await currentApiKey(client);
    expect(current.response.status).toBe(200);
    expect(current.data).toMatchObject({ id: issued.id, name: "client", scopes: ["api_keys:write"] });

    const kept = await rollApiKey(client, issued.id, { expires_in_seconds: 60 });
    expect(kept.response.status).toBe(201);
    expect(kept.data).toMatchObject({ name: "client", scopes: ["api_keys:write"], secret: expect.stringMatching(/^zpk_live_/) });
    expect((await currentApiKey(client)).response.status).toBe(200);

    const successor = createClient({ baseUrl, apiKey: kept.data!.secret });
    const rolled = await rollApiKey(successor, kept.data!.id);
    expect(rolled.response.status).toBe(201);
    const refused = await currentApiKey(successor);
    expect(refused.response.status).toBe(401);
    expect(refused.error?.error.code).toBe("auth_expired");
  });
});
