import type { LightMyRequestResponse } from "fastify";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import type { ApiKey, IssuedApiKey, Instance } from "@whatisup/client";
import { KeyVerifier } from "../src/auth/verify-key.js";
import { crc32OfAscii } from "../src/crypto/crc32.js";
import { generateKey, isWellFormedKey } from "../src/crypto/key-format.js";
import type { App } from "../src/http/app-types.js";
import { FakeCloudApi } from "./helpers/fake-cloud-api.js";
import { bearer, buildTestApp, createInstance, createTestCustomer, expectError, type TestCustomer } from "./helpers/test-app.js";
import { rowCounts } from "./helpers/test-database.js";

const TEST_KEY = /^zpk_test_[0-9A-Za-z]{49}$/;
const WRITTEN_TABLES = ["api_keys", "audit_events", "webhook_deliveries", "messages"] as const;
const MESSAGE = { type: "text", to: "+15551234567", text: "hello" };

let fake: FakeCloudApi;
let app: App;
let acme: TestCustomer;
let testKey: IssuedApiKey;
let cloud: Instance;
let sandbox: { id: string };

beforeAll(async () => {
  fake = await new FakeCloudApi().start();
  app = await buildTestApp({
    cloudApi: fake.config(),
    rateLimit: { burst: 10_000, refillPerSecond: 1 },
    authFailureLimit: { burst: 10_000, refillPerSecond: 1 },
  });
  acme = await createTestCustomer(app);
  testKey = await issued(acme.secret, { name: "tests", mode: "test" });
  const created = await app.inject({
    method: "POST",
    url: "/v1/instances",
    headers: bearer(acme.secret),
    payload: { name: "cloud", transport: "cloud_api", phone_number_id: "106540352242922" },
  });
  expect(created.statusCode, created.body).toBe(201);
  cloud = created.json();
  sandbox = await createInstance(app, acme.secret, "sandbox");
});
afterAll(async () => {
  await app.close();
  await fake.close();
});
afterEach(() => vi.restoreAllMocks());

function issue(secret: string, body: Record<string, unknown>): Promise<LightMyRequestResponse> {
  return app.inject({ method: "POST", url: "/v1/api-keys", headers: bearer(secret), payload: body });
}

async function issued(secret: string, body: Record<string, unknown>): Promise<IssuedApiKey> {
  const response = await issue(secret, body);
  expect(response.statusCode, response.body).toBe(201);
  return response.json();
}

function send(secret: string, instanceId: string): Promise<LightMyRequestResponse> {
  return app.inject({ method: "POST", url: `/v1/instances/${instanceId}/messages`, headers: bearer(secret), payload: MESSAGE });
}

/** A zpk_test_ token built by hand, its checksum computed over its own text as the format says. */
function handMadeTestKey(body: string): string {
  const head = `zpk_test_${body}`;
  const alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
  let rest = crc32OfAscii(head);
  let checksum = "";
  for (let i = 0; i < 6; i++) {
    checksum = alphabet[rest % 62] + checksum;
    rest = Math.floor(rest / 62);
  }
  return head + checksum;
}

describe("issuing a test key", () => {
  it("gives a zpk_test_ key of the live key's length, mode test, its prefix zpk_test_ and 8 characters", () => {
    expect(testKey.secret).toMatch(TEST_KEY);
    expect(isWellFormedKey(testKey.secret)).toBe(true);
    expect(testKey.mode).toBe("test");
    expect(testKey.prefix).toBe(testKey.secret.slice(0, 17));
    expect(testKey.prefix).toMatch(/^zpk_test_[0-9A-Za-z]{8}$/);
  });

  it("shows the mode on the key's reads and its audit event", async () => {
    const one = await app.inject({ url: `/v1/api-keys/${testKey.id}`, headers: bearer(acme.secret) });
    expect(one.json()).toMatchObject({ id: testKey.id, mode: "test", prefix: testKey.prefix });
    const listed = (await app.inject({ url: "/v1/api-keys", headers: bearer(acme.secret) })).json() as ApiKey[];
    expect(listed.find((key) => key.id === testKey.id)?.mode).toBe("test");
    expect(listed.find((key) => key.id === acme.key.id)?.mode).toBe("live");
    const events = (await app.inject({ url: "/v1/audit-events?limit=100", headers: bearer(acme.secret) })).json() as {
      data: { action: string; target: { id: string }; metadata: Record<string, unknown> }[];
    };
    const issuedEvent = events.data.find((event) => event.action === "api_key.issued" && event.target.id === testKey.id);
    expect(issuedEvent?.metadata).toMatchObject({ mode: "test", prefix: testKey.prefix });
  });

  it("gives the issuer's mode when none is asked for", async () => {
    expect((await issued(acme.secret, { name: "from live" })).mode).toBe("live");
    const fromTest = await issued(testKey.secret, { name: "from test" });
    expect(fromTest.mode).toBe("test");
    expect(fromTest.secret).toMatch(TEST_KEY);
  });

  it("lets a live key issue either mode, and a test key issue a test key", async () => {
    expect((await issued(acme.secret, { name: "live", mode: "live" })).secret).toMatch(/^zpk_live_/);
    expect((await issued(testKey.secret, { name: "test", mode: "test" })).mode).toBe("test");
  });

  it("refuses a live key asked of a test key: 403 scope_escalation, nothing stored", async () => {
    const before = await rowCounts(app.db, WRITTEN_TABLES);
    const body = expectError(await issue(testKey.secret, { name: "escape", mode: "live" }), 403, "scope_escalation");
    expect(body.error.details).toEqual({ issuer_mode: "test" });
    expect(await rowCounts(app.db, WRITTEN_TABLES)).toEqual(before);
  });

  it("refuses a mode that is neither live nor test: 400 naming body.mode", async () => {
    const body = expectError(await issue(acme.secret, { name: "odd", mode: "sandbox" }), 400, "validation_failed");
    expect(JSON.stringify(body.error.details)).toContain("body.mode");
  });

  it("leaves customers made by the CLI a live first key", () => {
    expect(acme.key.mode).toBe("live");
    expect(acme.secret).toMatch(/^zpk_live_[0-9A-Za-z]{49}$/);
  });
});

describe("a test key at work", () => {
  it("works on the routes like a live key", async () => {
    for (const url of ["/v1/api-keys", "/v1/instances", "/v1/audit-events", "/v1/limits", "/v1/webhook-deliveries"]) {
      const response = await app.inject({ url, headers: bearer(testKey.secret) });
      expect(response.statusCode, `${url}: ${response.body}`).toBe(200);
    }
    expect((await createInstance(app, testKey.secret, "made by a test key")).id).toEqual(expect.any(String));
  });

  it("sends from a sandbox instance: 202", async () => {
    const response = await send(testKey.secret, sandbox.id);
    expect(response.statusCode, response.body).toBe(202);
  });

  it("refuses to send from a cloud_api instance: 403 test_key_live_instance, nothing queued, nothing sent", async () => {
    const before = await rowCounts(app.db, WRITTEN_TABLES);
    const body = expectError(await send(testKey.secret, cloud.id), 403, "test_key_live_instance");
    expect(body.error.details).toEqual({ instance_id: cloud.id, transport: "cloud_api" });
    expect(await rowCounts(app.db, WRITTEN_TABLES)).toEqual(before);
    const messages = await app.db.selectFrom("messages").select("id").where("instance_id", "=", cloud.id).execute();
    expect(messages).toEqual([]);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(fake.sendRequests()).toEqual([]);
  });

  it("refuses it with a test key bound to that instance too", async () => {
    const bound = await issued(acme.secret, { name: "bound test", mode: "test", instance_id: cloud.id });
    expectError(await send(bound.secret, cloud.id), 403, "test_key_live_instance");
  });

  it("the same instance sends for a live key: the refusal is the key's mode", async () => {
    const response = await send(acme.secret, cloud.id);
    expect(response.statusCode, response.body).toBe(202);
  });
});

describe("test-key tokens that are not keys", () => {
  it("refuses a hand-made zpk_test_ token with a bad checksum as auth_malformed, without reading the database", async () => {
    const stored = vi.spyOn(KeyVerifier.prototype, "storedCredentialFor");
    const cached = vi.spyOn(KeyVerifier.prototype, "cachedCredentialFor");
    const good = handMadeTestKey("A".repeat(43));
    expect(isWellFormedKey(good)).toBe(true);
    const badChecksum = good.slice(0, -1) + (good.at(-1) === "A" ? "B" : "A");
    for (const token of [badChecksum, `zpk_test_${acme.secret.slice(9)}`, `zpk_test_${"A".repeat(49)}`]) {
      expectError(await app.inject({ url: "/v1/limits", headers: bearer(token) }), 401, "auth_malformed");
    }
    expect(stored).not.toHaveBeenCalled();
    expect(cached).not.toHaveBeenCalled();
  });

  it("refuses a well-formed zpk_test_ token that matches no key as auth_invalid, after a read", async () => {
    const stored = vi.spyOn(KeyVerifier.prototype, "storedCredentialFor");
    for (const token of [handMadeTestKey("B".repeat(43)), generateKey("test")]) {
      expectError(await app.inject({ url: "/v1/limits", headers: bearer(token) }), 401, "auth_invalid");
    }
    expect(stored).toHaveBeenCalledTimes(2);
  });
});
