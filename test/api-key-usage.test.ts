import { randomUUID } from "node:crypto";
import { setImmediate as nextTurn } from "node:timers/promises";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { Config } from "../src/config.js";
import type { App } from "../src/http/app-types.js";
import { toTimestamp } from "../src/time/timestamps.js";
import { bearer, buildTestApp, createInstance, createTestCustomer, expectError, issueKey, type TestCustomer } from "./helpers/test-app.js";
import { persistentDatabase, removeDatabase, TEST_DIALECT } from "./helpers/test-database.js";

const HOUR = 3_600_000;
const DAY = 86_400_000;

type Period = { start: string; requests: number; rejected: number; rate_limited: number };
type Usage = { key_id: string; granularity: string; data: Period[] };

/** Lets the answers' onResponse hooks run, then writes what they counted. */
async function flush(app: App): Promise<void> {
  await nextTurn();
  await app.keyUses.flush();
}

async function usage(app: App, secret: string, keyId: string, query = ""): Promise<Usage> {
  const response = await app.inject({ url: `/v1/api-keys/${keyId}/usage${query}`, headers: bearer(secret) });
  expect(response.statusCode, response.body).toBe(200);
  const body = response.json() as Usage;
  expect(Object.keys(body).sort()).toEqual(["data", "granularity", "key_id"]);
  for (const period of body.data) expect(Object.keys(period).sort()).toEqual(["rate_limited", "rejected", "requests", "start"]);
  return body;
}

function totals(data: Period[]): Omit<Period, "start"> {
  return data.reduce(
    (sum, period) => ({
      requests: sum.requests + period.requests,
      rejected: sum.rejected + period.rejected,
      rate_limited: sum.rate_limited + period.rate_limited,
    }),
    { requests: 0, rejected: 0, rate_limited: 0 },
  );
}

/** The last two hours and the next one: the current hour's counts land in it even if the hour turns. */
function aroundNow(): string {
  const hour = Math.floor(Date.now() / HOUR) * HOUR;
  return `?granularity=hour&from=${toTimestamp(hour - 2 * HOUR)}&to=${toTimestamp(hour + 2 * HOUR)}`;
}

async function insertUsage(app: App, customerId: string, keyId: string, at: number, requests: number, rejected = 0, rateLimited = 0) {
  await app.db
    .insertInto("api_key_usage")
    .values({ key_id: keyId, customer_id: customerId, period_start: toTimestamp(at), requests, rejected, rate_limited: rateLimited })
    .execute();
}

describe("usage per key", () => {
  let app: App;
  let acme: TestCustomer;

  beforeAll(async () => {
    app = await buildTestApp();
    acme = await createTestCustomer(app);
  });

  afterAll(async () => {
    await app.close();
  });

  it("counts every authenticated request of a key, its refusals (400, 404, 403) as rejected; a revoked key's 401 counts nowhere", async () => {
    const key = await issueKey(app, acme.secret, { name: "counted" });
    const narrow = await issueKey(app, acme.secret, { name: "narrow", scopes: ["instances:read"] });
    const statuses: number[] = [];
    for (const url of ["/v1/api-keys", "/v1/limits", `/v1/api-keys/${randomUUID()}`, "/v1/api-keys?limit=0"]) {
      statuses.push((await app.inject({ url, headers: bearer(key.secret) })).statusCode);
    }
    expect(statuses).toEqual([200, 200, 404, 400]);
    expectError(await app.inject({ url: "/v1/api-keys", headers: bearer(narrow.secret) }), 403, "insufficient_scope");
    const elsewhere = await issueKey(app, acme.secret, { name: "elsewhere", allowed_ips: ["203.0.113.7"] });
    expectError(await app.inject({ url: "/v1/limits", headers: bearer(elsewhere.secret) }), 403, "ip_not_allowed");
    await flush(app);

    expect(totals((await usage(app, acme.secret, key.id, aroundNow())).data)).toEqual({ requests: 4, rejected: 2, rate_limited: 0 });
    expect(totals((await usage(app, acme.secret, narrow.id, aroundNow())).data)).toEqual({ requests: 1, rejected: 1, rate_limited: 0 });
    expect(totals((await usage(app, acme.secret, elsewhere.id, aroundNow())).data)).toEqual({ requests: 1, rejected: 1, rate_limited: 0 });

    const revoked = await app.inject({ method: "DELETE", url: `/v1/api-keys/${key.id}`, headers: bearer(acme.secret) });
    expect(revoked.statusCode).toBe(204);
    expectError(await app.inject({ url: "/v1/api-keys", headers: bearer(key.secret) }), 401, "auth_expired");
    await flush(app);
    const after = await usage(app, acme.secret, key.id, aroundNow());
    expect(after.key_id).toBe(key.id);
    expect(totals(after.data)).toEqual({ requests: 4, rejected: 2, rate_limited: 0 });
  });

  it("answers every period from `from` to `to` by hour and by UTC day, empty ones as zeros, oldest first", async () => {
    const key = await issueKey(app, acme.secret, { name: "history" });
    const today = Math.floor(Date.now() / DAY) * DAY;
    const twoDaysAgo = today - 2 * DAY;
    await insertUsage(app, acme.customer.id, key.id, twoDaysAgo + 5 * HOUR, 7, 2, 1);
    await insertUsage(app, acme.customer.id, key.id, twoDaysAgo + 23 * HOUR, 3, 1, 0);
    await insertUsage(app, acme.customer.id, key.id, twoDaysAgo + DAY, 4, 0, 0);

    const days = await usage(app, acme.secret, key.id, `?granularity=day&from=${toTimestamp(twoDaysAgo - DAY)}&to=${toTimestamp(today)}`);
    expect(days).toEqual({
      key_id: key.id,
      granularity: "day",
      data: [
        { start: toTimestamp(twoDaysAgo - DAY), requests: 0, rejected: 0, rate_limited: 0 },
        { start: toTimestamp(twoDaysAgo), requests: 10, rejected: 3, rate_limited: 1 },
        { start: toTimestamp(twoDaysAgo + DAY), requests: 4, rejected: 0, rate_limited: 0 },
      ],
    });

    // `from` is rounded down to its period's start; `to` is exclusive.
    const hours = await usage(app, acme.secret, key.id, `?granularity=hour&from=${toTimestamp(twoDaysAgo + 4 * HOUR + 1_234)}&to=${toTimestamp(twoDaysAgo + 7 * HOUR)}`);
    expect(hours.granularity).toBe("hour");
    expect(hours.data).toEqual([
      { start: toTimestamp(twoDaysAgo + 4 * HOUR), requests: 0, rejected: 0, rate_limited: 0 },
      { start: toTimestamp(twoDaysAgo + 5 * HOUR), requests: 7, rejected: 2, rate_limited: 1 },
      { start: toTimestamp(twoDaysAgo + 6 * HOUR), requests: 0, rejected: 0, rate_limited: 0 },
    ]);
  });

  it("answers the last 30 days by day by default: 31 days, the first and today partial", async () => {
    const key = await issueKey(app, acme.secret, { name: "default range" });
    const before = Date.now();
    const answer = await usage(app, acme.secret, key.id);
    expect(answer.granularity).toBe("day");
    expect(answer.data).toHaveLength(31);
    const today = Math.floor(before / DAY) * DAY;
    expect([toTimestamp(today), toTimestamp(today + DAY)]).toContain(answer.data.at(-1)!.start);
    expect(Date.parse(answer.data[1]!.start) - Date.parse(answer.data[0]!.start)).toBe(DAY);
    expect(answer.data.every((period) => period.requests === 0)).toBe(true);
  });

  it("refuses a granularity, an instant or a range it does not know (400 validation_failed)", async () => {
    const base = `/v1/api-keys/${acme.key.id}/usage`;
    for (const query of [
      "?granularity=week",
      "?from=yesterday",
      "?to=2026-13-01T00:00:00Z",
      "?from=2026-12-02T00:00:00Z&to=2026-12-01T00:00:00Z",
      "?from=2026-12-01T00:00:00Z&to=2026-12-01T00:00:00Z",
      // 2,001 hours
      "?granularity=hour&from=2026-09-09T15:00:00Z&to=2026-12-02T00:00:00Z",
      "?since=2026-12-01T00:00:00Z",
    ]) {
      expectError(await app.inject({ url: base + query, headers: bearer(acme.secret) }), 400, "validation_failed");
    }
    // 2,000 hours exactly is allowed.
    const most = await usage(app, acme.secret, acme.key.id, "?granularity=hour&from=2026-09-09T16:00:00Z&to=2026-12-02T00:00:00Z");
    expect(most.data).toHaveLength(2_000);
  });

  it("knows only the customer's own keys (404 api_key_not_found), and refuses instance-bound keys and keys without the scope", async () => {
    const other = await createTestCustomer(app, "Other");
    expectError(await app.inject({ url: `/v1/api-keys/${other.key.id}/usage`, headers: bearer(acme.secret) }), 404, "api_key_not_found");
    expectError(await app.inject({ url: `/v1/api-keys/${randomUUID()}/usage`, headers: bearer(acme.secret) }), 404, "api_key_not_found");
    expectError(await app.inject({ url: `/v1/api-keys/not-a-uuid/usage`, headers: bearer(acme.secret) }), 400, "validation_failed");

    const instance = await createInstance(app, acme.secret, "usage");
    const bound = await issueKey(app, acme.secret, { name: "bound", instance_id: instance.id, scopes: ["api_keys:read"] });
    expectError(await app.inject({ url: `/v1/api-keys/${bound.id}/usage`, headers: bearer(bound.secret) }), 403, "instance_scoped_key");
    const narrow = await issueKey(app, acme.secret, { name: "no keys scope", scopes: ["instances:read"] });
    expectError(await app.inject({ url: `/v1/api-keys/${narrow.id}/usage`, headers: bearer(narrow.secret) }), 403, "insufficient_scope");
    expectError(await app.inject({ url: `/v1/api-keys/${narrow.id}/usage` }), 401, "auth_missing");
  });
});

describe("usage counting", () => {
  const apps: App[] = [];
  const databases: Config["database"][] = [];
  afterEach(async () => {
    for (const app of apps.splice(0)) await app.close();
    for (const database of databases.splice(0)) await removeDatabase(database);
  });

  async function start(overrides: Partial<Config> = {}): Promise<App> {
    const app = await buildTestApp(overrides);
    apps.push(app);
    return app;
  }

  it("counts the 429s of an empty bucket as rejected and rate_limited", async () => {
    const app = await start({ rateLimit: { burst: 3, refillPerSecond: 0.001 } });
    const acme = await createTestCustomer(app);
    const statuses: number[] = [];
    for (let request = 0; request < 5; request += 1) {
      statuses.push((await app.inject({ url: "/v1/api-keys", headers: bearer(acme.secret) })).statusCode);
    }
    expect(statuses).toEqual([200, 200, 200, 429, 429]);
    // Nothing is written while requests are answered: only the flush writes.
    await nextTurn();
    expect(await app.db.selectFrom("api_key_usage").selectAll().execute()).toEqual([]);
    await flush(app);
    const rows = await app.db.selectFrom("api_key_usage").select(["key_id", "requests", "rejected", "rate_limited"]).execute();
    expect(rows).toEqual([{ key_id: acme.key.id, requests: 5, rejected: 2, rate_limited: 2 }]);
  });

  it("writes the counts at graceful shutdown", async () => {
    const database = persistentDatabase();
    databases.push(database);
    const first = await buildTestApp({ database });
    const acme = await createTestCustomer(first);
    for (let request = 0; request < 3; request += 1) {
      expect((await first.inject({ url: "/v1/limits", headers: bearer(acme.secret) })).statusCode).toBe(200);
    }
    await first.close();
    const second = await start({ database });
    const rows = await second.db.selectFrom("api_key_usage").select(["key_id", "customer_id", "requests", "rejected", "rate_limited"]).execute();
    expect(rows).toEqual([{ key_id: acme.key.id, customer_id: acme.customer.id, requests: 3, rejected: 0, rate_limited: 0 }]);
  });

  it("deletes the rows older than USAGE_RETENTION_DAYS at its first flush", async () => {
    const app = await start({ usageRetentionDays: 10 });
    const acme = await createTestCustomer(app);
    const hour = Math.floor(Date.now() / HOUR) * HOUR;
    for (const daysAgo of [40, 11, 9]) await insertUsage(app, acme.customer.id, acme.key.id, hour - daysAgo * DAY, 1);
    await app.keyUses.flush();
    const rows = await app.db.selectFrom("api_key_usage").select("period_start").execute();
    expect(rows).toEqual([{ period_start: toTimestamp(hour - 9 * DAY) }]);
  });
});

describe.skipIf(TEST_DIALECT !== "postgres")("usage on two nodes of one PostgreSQL database", () => {
  const database = persistentDatabase();
  let nodes: [App, App];

  beforeAll(async () => {
    nodes = [await buildTestApp({ database }), await buildTestApp({ database })];
  });

  afterAll(async () => {
    await Promise.all(nodes.map((node) => node.close()));
    await removeDatabase(database);
  });

  it("adds both nodes' counts to the same hourly row, also when they flush together", async () => {
    const [a, b] = nodes;
    const acme = await createTestCustomer(a);
    for (let round = 0; round < 3; round += 1) {
      for (const node of nodes) {
        for (let request = 0; request < 5; request += 1) {
          expect((await node.inject({ url: "/v1/limits", headers: bearer(acme.secret) })).statusCode).toBe(200);
        }
        expect((await node.inject({ url: `/v1/api-keys/${randomUUID()}`, headers: bearer(acme.secret) })).statusCode).toBe(404);
      }
      await nextTurn();
      await Promise.all(nodes.map((node) => node.keyUses.flush()));
    }
    const rows = await a.db.selectFrom("api_key_usage").select(["key_id", "requests", "rejected"]).where("key_id", "=", acme.key.id).execute();
    // One row unless the hour turned during the test.
    expect(rows.length).toBeLessThanOrEqual(2);
    expect(totals((await usage(b, acme.secret, acme.key.id, aroundNow())).data)).toEqual({ requests: 36, rejected: 6, rate_limited: 0 });
  });
});
