import { readFileSync } from "node:fs";
import { Writable } from "node:stream";
import type { LightMyRequestResponse } from "fastify";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { reportLeakedKeys, type AuditEvent, type IssuedApiKey } from "@whatisup/client";
import type { Config } from "../src/config.js";
import { displayPrefix, generateKey, KEY_SEARCH_PATTERN } from "../src/crypto/key-format.js";
import type { App } from "../src/http/app-types.js";
import { bearer, buildTestApp, createTestCustomer, expectError, issueKey, TIMESTAMP, type TestCustomer } from "./helpers/test-app.js";
import { persistentDatabase, removeDatabase, rowCounts, TEST_DIALECT } from "./helpers/test-database.js";
import { insertEndpoint } from "./helpers/webhook-fixtures.js";

/** A whole key of either mode anywhere in a text (a prefix alone does not match). */
const ANY_FULL_KEY = new RegExp(KEY_SEARCH_PATTERN);
const TABLES = ["api_keys", "audit_events", "webhook_deliveries", "customers"] as const;
const REPORTER = "198.51.100.7";

function collectingStream(): { stream: Writable; lines: string[] } {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer | string, _encoding, callback) {
      lines.push(...chunk.toString().split("\n").filter((line) => line.length > 0));
      callback();
    },
  });
  return { stream, lines };
}

function report(app: App, payload: unknown, remoteAddress = REPORTER): Promise<LightMyRequestResponse> {
  return app.inject({ method: "POST", url: "/v1/leaked-keys", payload: payload as object, remoteAddress });
}

function expectReceived(response: LightMyRequestResponse, received: number): void {
  expect(response.statusCode, response.body).toBe(202);
  expect(response.json()).toEqual({ received });
  expect(response.headers["cache-control"]).toBe("no-store");
  expect(response.headers["x-request-id"]).toMatch(/^req_/);
}

async function keyStatus(app: App, secret: string): Promise<number> {
  return (await app.inject({ url: "/v1/limits", headers: bearer(secret) })).statusCode;
}

async function revokedEvents(app: App, owner: TestCustomer, keyId: string): Promise<AuditEvent[]> {
  const response = await app.inject({ url: "/v1/audit-events?limit=100", headers: bearer(owner.secret) });
  expect(response.statusCode, response.body).toBe(200);
  const events = (response.json() as { data: AuditEvent[] }).data;
  return events.filter((event) => event.action === "api_key.revoked" && event.target.id === keyId);
}

describe("POST /v1/leaked-keys", () => {
  let app: App;
  let logs: { stream: Writable; lines: string[] };
  let acme: TestCustomer;
  let globex: TestCustomer;

  beforeAll(async () => {
    logs = collectingStream();
    app = await buildTestApp({ authFailureLimit: { burst: 10_000, refillPerSecond: 1 } }, { logger: { stream: logs.stream } });
    acme = await createTestCustomer(app, "Acme");
    globex = await createTestCustomer(app, "Globex");
  });
  afterAll(() => app.close());

  it("answers 202 with the number of entries alike for a matched key, an unknown key and a malformed entry", async () => {
    const leaked = await issueKey(app, acme.secret, { name: "leaked" });
    expectReceived(await report(app, { keys: [leaked.secret] }), 1);
    expectReceived(await report(app, { keys: [generateKey()] }), 1);
    expectReceived(await report(app, { keys: ["not a key"] }), 1);
    expectReceived(await report(app, { keys: [`${leaked.secret.slice(0, -1)}x`, "", "zpk_live_short", generateKey("test")] }), 4);
  });

  it("revokes the key before answering: refused 401 auth_expired right after the 202, revoked_at set", async () => {
    const leaked = await issueKey(app, acme.secret, { name: "pasted in a gist" });
    // Cached on this node first: the revocation must evict it.
    expect(await keyStatus(app, leaked.secret)).toBe(200);
    expectReceived(await report(app, { keys: [leaked.secret], source: "https://gist.example.com/x" }), 1);
    expectError(await app.inject({ url: "/v1/limits", headers: bearer(leaked.secret) }), 401, "auth_expired");
    const stored = await app.inject({ url: `/v1/api-keys/${leaked.id}`, headers: bearer(acme.secret) });
    expect(stored.json().revoked_at).toMatch(TIMESTAMP);
  });

  it("audits api_key.revoked with the actor leak_report, reason leaked and the source", async () => {
    const leaked = await issueKey(app, acme.secret, { name: "ci token" });
    expectReceived(await report(app, { keys: [leaked.secret], source: "https://github.com/acme/app/blob/main/.env" }), 1);
    const [event, ...more] = await revokedEvents(app, acme, leaked.id);
    expect(more).toEqual([]);
    expect(event).toMatchObject({
      customer_id: acme.customer.id,
      actor: { type: "leak_report" },
      target: { type: "api_key", id: leaked.id },
      metadata: { name: "ci token", prefix: leaked.prefix, reason: "leaked", source: "https://github.com/acme/app/blob/main/.env" },
      ip: null,
      request_id: null,
    });
    expect(event!.actor).toEqual({ type: "leak_report" });
  });

  it("records source null when the report gives none", async () => {
    const leaked = await issueKey(app, acme.secret, { name: "no source" });
    expectReceived(await report(app, { keys: [leaked.secret] }), 1);
    const [event] = await revokedEvents(app, acme, leaked.id);
    expect(event!.metadata).toEqual({ name: "no source", prefix: leaked.prefix, reason: "leaked", source: null });
  });

  it("announces the webhook event api_key.revoked with data.reason leaked beside the key", async () => {
    const customer = await createTestCustomer(app, "Hooked");
    const endpoint = await insertEndpoint(app.db, customer.customer.id, { url: "http://127.0.0.1:9/hooks", events: ["api_key.revoked"] });
    const leaked = await issueKey(app, customer.secret, { name: "hooked" });
    expectReceived(await report(app, { keys: [leaked.secret], source: "pastebin" }), 1);
    const rows = await app.db.selectFrom("webhook_deliveries").select(["payload", "event"]).where("endpoint_id", "=", endpoint.id).execute();
    expect(rows.map((row) => row.event)).toEqual(["api_key.revoked"]);
    const envelope = JSON.parse(rows[0]!.payload) as { data: { api_key: IssuedApiKey; reason: string; source: string } };
    expect(envelope.data.reason).toBe("leaked");
    expect(envelope.data.source).toBe("pastebin");
    expect(envelope.data.api_key).toMatchObject({ id: leaked.id, prefix: leaked.prefix, name: "hooked" });
    expect(envelope.data.api_key.revoked_at).toMatch(TIMESTAMP);
    expect(rows[0]!.payload).not.toMatch(ANY_FULL_KEY);
  });

  it("revokes keys of several customers in one report and leaves every key not listed untouched", async () => {
    const acmeLeak = await issueKey(app, acme.secret, { name: "acme leak" });
    const acmeKept = await issueKey(app, acme.secret, { name: "acme kept" });
    const globexLeak = await issueKey(app, globex.secret, { name: "globex leak" });
    const globexKept = await issueKey(app, globex.secret, { name: "globex kept" });
    expectReceived(await report(app, { keys: [acmeLeak.secret, generateKey(), globexLeak.secret, "junk"] }), 4);
    expect(await keyStatus(app, acmeLeak.secret)).toBe(401);
    expect(await keyStatus(app, globexLeak.secret)).toBe(401);
    expect(await keyStatus(app, acmeKept.secret)).toBe(200);
    expect(await keyStatus(app, globexKept.secret)).toBe(200);
    expect(await keyStatus(app, acme.secret)).toBe(200);
    expect(await keyStatus(app, globex.secret)).toBe(200);
  });

  it("revokes test-mode keys as it does live ones", async () => {
    const testKey = await issueKey(app, acme.secret, { name: "sandbox", mode: "test" });
    expect(testKey.secret.startsWith("zpk_test_")).toBe(true);
    expectReceived(await report(app, { keys: [testKey.secret] }), 1);
    expectError(await app.inject({ url: "/v1/limits", headers: bearer(testKey.secret) }), 401, "auth_expired");
    expect((await revokedEvents(app, acme, testKey.id)).map((event) => event.metadata.reason)).toEqual(["leaked"]);
  });

  it("counts every entry of a list with duplicates, and revokes and audits the key once", async () => {
    const leaked = await issueKey(app, acme.secret, { name: "twice" });
    expectReceived(await report(app, { keys: [leaked.secret, leaked.secret, leaked.secret] }), 3);
    expect(await revokedEvents(app, acme, leaked.id)).toHaveLength(1);
  });

  it("answers a key revoked already like any other entry, and records nothing more", async () => {
    const leaked = await issueKey(app, acme.secret, { name: "old" });
    expect((await app.inject({ method: "DELETE", url: `/v1/api-keys/${leaked.id}`, headers: bearer(acme.secret) })).statusCode).toBe(204);
    const before = await rowCounts(app.db, TABLES);
    expectReceived(await report(app, { keys: [leaked.secret] }), 1);
    expect(await rowCounts(app.db, TABLES)).toEqual(before);
    const events = await revokedEvents(app, acme, leaked.id);
    expect(events.map((event) => event.actor.type)).toEqual(["api_key"]);
  });

  it("keeps only the prefix of key-shaped text in the source", async () => {
    const leaked = await issueKey(app, acme.secret, { name: "in the url" });
    const source = `https://scanner.example.com/found?token=${leaked.secret}&also=${generateKey("test")}`;
    expectReceived(await report(app, { keys: [leaked.secret], source }), 1);
    const [event] = await revokedEvents(app, acme, leaked.id);
    expect(event!.metadata.source).toBe(
      `https://scanner.example.com/found?token=${displayPrefix(leaked.secret)}[redacted]&also=zpk_test_${(event!.metadata.source as string).split("also=zpk_test_")[1]!.slice(0, 8)}[redacted]`,
    );
    expect(JSON.stringify(event)).not.toMatch(ANY_FULL_KEY);
  });

  it("takes a full report: 1000 keys and a 2000-character source, pretty-printed past 64 KiB", async () => {
    const leaked = await issueKey(app, acme.secret, { name: "one of a thousand" });
    const keys = [...Array.from({ length: 999 }, () => generateKey()), leaked.secret];
    const payload = JSON.stringify({ keys, source: "s".repeat(2000) }, null, 4);
    expect(Buffer.byteLength(payload)).toBeGreaterThan(64 * 1024);
    const response = await app.inject({ method: "POST", url: "/v1/leaked-keys", headers: { "content-type": "application/json" }, payload, remoteAddress: REPORTER });
    expectReceived(response, 1000);
    expect(await keyStatus(app, leaked.secret)).toBe(401);
  });

  describe("refuses a body that is not a report, changing nothing", () => {
    let bystander: IssuedApiKey;
    beforeAll(async () => {
      bystander = await issueKey(app, acme.secret, { name: "bystander" });
    });

    const cases: Array<[string, () => unknown, string]> = [
      ["1001 keys", () => ({ keys: [...Array.from({ length: 1000 }, () => generateKey()), bystander.secret] }), "body.keys"],
      ["an empty list", () => ({ keys: [] }), "body.keys"],
      ["no keys", () => ({ source: "x" }), "body"],
      ["keys that are not a list", () => ({ keys: bystander.secret }), "body.keys"],
      ["an entry that is not text", () => ({ keys: [bystander.secret, 42] }), "body.keys"],
      ["a source of 2001 characters", () => ({ keys: [bystander.secret], source: "s".repeat(2001) }), "body.source"],
      ["a source that is not text", () => ({ keys: [bystander.secret], source: null }), "body.source"],
      ["a source with U+0000", () => ({ keys: [bystander.secret], source: "https://x.example/\u0000" }), "body.source"],
      ["a source with a lone surrogate", () => ({ keys: [bystander.secret], source: "found \ud800 here" }), "body.source"],
      ["an entry with U+0000", () => ({ keys: [bystander.secret, `${bystander.secret}\u0000`] }), "body.keys.1"],
      ["an extra field", () => ({ keys: [bystander.secret], type: "whatisup_api_key" }), "body"],
      ["a list instead of an object", () => [bystander.secret], "body"],
    ];

    it.each(cases)("%s: 400 validation_failed", async (_label, body, field) => {
      const before = await rowCounts(app.db, TABLES);
      const response = await report(app, body());
      const envelope = expectError(response, 400, "validation_failed");
      expect(JSON.stringify(envelope.error.details)).toContain(field);
      expect(response.body).not.toMatch(ANY_FULL_KEY);
      expect(await rowCounts(app.db, TABLES)).toEqual(before);
      expect(await keyStatus(app, bystander.secret)).toBe(200);
    });

    it("no body: 400; a body that is not JSON: 415", async () => {
      expectError(await app.inject({ method: "POST", url: "/v1/leaked-keys", remoteAddress: REPORTER }), 400, "validation_failed");
      const text = await app.inject({
        method: "POST",
        url: "/v1/leaked-keys",
        headers: { "content-type": "text/plain" },
        payload: bystander.secret,
        remoteAddress: REPORTER,
      });
      expectError(text, 415, "unsupported_media_type");
      expect(await keyStatus(app, bystander.secret)).toBe(200);
    });

    it("a body over 128 KiB: 413", async () => {
      const payload = JSON.stringify({ keys: [bystander.secret], source: " ".repeat(129 * 1024) });
      expectError(await app.inject({ method: "POST", url: "/v1/leaked-keys", headers: { "content-type": "application/json" }, payload, remoteAddress: REPORTER }), 413, "payload_too_large");
      expect(await keyStatus(app, bystander.secret)).toBe(200);
    });
  });

  it("is the only method on its path: GET is 401 without a key, 405 with one", async () => {
    expectError(await app.inject({ url: "/v1/leaked-keys" }), 401, "auth_missing");
    const wrong = expectError(await app.inject({ url: "/v1/leaked-keys", headers: bearer(acme.secret) }), 405, "method_not_allowed");
    expect(wrong.error.details).toEqual({ allowed: ["POST"] });
  });

  it("needs no key, and ignores one sent: a report carrying a key is a report, not that key's request", async () => {
    const leaked = await issueKey(app, acme.secret, { name: "reported with itself" });
    const response = await app.inject({ method: "POST", url: "/v1/leaked-keys", headers: bearer(leaked.secret), payload: { keys: [leaked.secret] }, remoteAddress: REPORTER });
    expectReceived(response, 1);
    expect(response.headers["x-ratelimit-limit"]).toBeUndefined();
    expect(await keyStatus(app, leaked.secret)).toBe(401);
  });

  it("is called by the typed client without a key", async () => {
    const leaked = await issueKey(app, acme.secret, { name: "via the client" });
    const baseUrl = await app.listen({ port: 0, host: "127.0.0.1" });
    const { data, error, response } = await reportLeakedKeys({ baseUrl }, { keys: [leaked.secret], source: "client" });
    expect(error).toBeUndefined();
    expect(response.status).toBe(202);
    expect(data).toEqual({ received: 1 });
    expect(await keyStatus(app, leaked.secret)).toBe(401);
  });

  it("is documented in the OpenAPI document as public", async () => {
    const document = (await app.inject({ url: "/openapi.json" })).json() as { paths: Record<string, Record<string, { security?: unknown[] }>> };
    expect(document.paths["/v1/leaked-keys"]!.post!.security).toEqual([]);
  });

  it("writes no reported key into a log line", async () => {
    await new Promise((resolve) => setTimeout(resolve, 250));
    expect(logs.lines.length).toBeGreaterThan(0);
    const reports = logs.lines.filter((line) => line.includes("/v1/leaked-keys"));
    expect(reports.length).toBeGreaterThan(0);
    for (const line of logs.lines) expect(line).not.toMatch(ANY_FULL_KEY);
  });
});

describe("docs/leaked-keys.md, as a scanner would use it", () => {
  const page = readFileSync(new URL("../docs/leaked-keys.md", import.meta.url), "utf8");

  it("gives the pattern of KEY_SEARCH_PATTERN", () => {
    expect(page).toContain(`\`\`\`text\n${KEY_SEARCH_PATTERN}\n\`\`\``);
  });

  it("has a ```js example that finds well-formed keys of both modes in a text and drops the rest", () => {
    const example = [...page.matchAll(/^```js\n([\s\S]*?)^```$/gm)].map((match) => match[1]!);
    expect(example).toHaveLength(1);
    const find = new Function("text", `${example[0]}\nreturn found;`) as (text: string) => string[];
    const live = generateKey();
    const test = generateKey("test");
    const mistyped = `${live.slice(0, 20)}${live[20] === "a" ? "b" : "a"}${live.slice(21)}`;
    const text = `API_KEY=${live}\n"${test}" ${mistyped} x${generateKey()} ${generateKey()}y`;
    expect(find(text)).toEqual([live, test]);
  });
});

describe("the leak-report throttle", () => {
  const burst = 3;
  let app: App;
  let acme: TestCustomer;

  beforeAll(async () => {
    app = await buildTestApp({ authFailureLimit: { burst, refillPerSecond: 0.01 } });
    acme = await createTestCustomer(app);
  });
  afterAll(() => app.close());

  it(`answers 429 rate_limited with Retry-After after ${burst} reports from one network, and revokes nothing then`, async () => {
    for (let sent = 0; sent < burst; sent += 1) expectReceived(await report(app, { keys: [generateKey()] }, "203.0.113.9"), 1);
    const leaked = await issueKey(app, acme.secret, { name: "too late" });
    const refused = await report(app, { keys: [leaked.secret] }, "203.0.113.9");
    const body = expectError(refused, 429, "rate_limited");
    expect(Number(refused.headers["retry-after"])).toBeGreaterThanOrEqual(1);
    expect(body.error.details).toEqual({ retry_after_seconds: Number(refused.headers["retry-after"]) });
    expect(refused.headers["cache-control"]).toBe("no-store");
    expect(await keyStatus(app, leaked.secret)).toBe(200);
    // Another network has its own bucket.
    expectReceived(await report(app, { keys: [generateKey()] }, "203.0.113.10"), 1);
  });

  it("counts an IPv6 /64 as one network, and malformed reports against it too", async () => {
    for (let sent = 0; sent < burst; sent += 1) {
      const response = await report(app, { keys: [] }, `2001:db8:1:2::${sent + 1}`);
      expect(response.statusCode).toBe(400);
    }
    expectError(await report(app, { keys: [generateKey()] }, "2001:db8:1:2:ffff::1"), 429, "rate_limited");
    expectReceived(await report(app, { keys: [generateKey()] }, "2001:db8:1:3::1"), 1);
  });

  it("leaves the failed-authentication bucket of the network alone", async () => {
    for (let sent = 0; sent < burst + 1; sent += 1) await report(app, { keys: [generateKey()] }, "203.0.113.20");
    const response = await app.inject({ url: "/v1/limits", headers: bearer(acme.secret), remoteAddress: "203.0.113.20" });
    expect(response.statusCode).toBe(200);
    expectError(await app.inject({ url: "/v1/limits", headers: bearer(generateKey()), remoteAddress: "203.0.113.20" }), 401, "auth_invalid");
  });
});

describe.skipIf(TEST_DIALECT !== "postgres")("a leak report on one of three nodes sharing PostgreSQL", () => {
  const database = persistentDatabase();
  const settings: Partial<Config> = { rateLimit: { burst: 1_000_000, refillPerSecond: 1_000_000 } };
  let nodes: [App, App, App];
  let acme: TestCustomer;

  beforeAll(async () => {
    nodes = [await buildTestApp({ ...settings, database }), await buildTestApp({ ...settings, database }), await buildTestApp({ ...settings, database })];
    acme = await createTestCustomer(nodes[0]);
  });
  afterAll(async () => {
    await Promise.all(nodes.map((node) => node.close()));
    await removeDatabase(database);
  });

  it("is refused by every node when the 202 arrives, round after round", { timeout: 120_000 }, async () => {
    const [a, b, c] = nodes;
    for (let round = 0; round < 50; round += 1) {
      const leaked = await issueKey(b, acme.secret, { name: `round ${round}` });
      const warm = await Promise.all(nodes.map((node) => keyStatus(node, leaked.secret)));
      expect(warm).toEqual([200, 200, 200]);
      expectReceived(await report(a, { keys: [generateKey(), leaked.secret] }, `192.0.2.${round}`), 2);
      const next = await Promise.all([a, b, c].map((node) => node.inject({ url: "/v1/limits", headers: bearer(leaked.secret) })));
      for (const response of next) expectError(response, 401, "auth_expired");
    }
  });
});
