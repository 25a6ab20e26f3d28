import { randomUUID } from "node:crypto";
import { sql } from "kysely";
import { afterAll, describe, expect, it } from "vitest";
import { generateKey } from "../src/crypto/key-format.js";
import type { App } from "../src/http/app-types.js";
import { bearer, buildTestApp, createInstance, createTestCustomer, expectError } from "./helpers/test-app.js";

const apps: App[] = [];
afterAll(async () => {
  for (const app of apps) await app.close().catch(() => undefined);
});

async function appWith(metricsEnabled = false): Promise<App> {
  const app = await buildTestApp({ metricsEnabled });
  apps.push(app);
  return app;
}

/** The value of one sample line, e.g. `whatisup_outbox_depth 3`. */
function sample(text: string, series: string): number | undefined {
  const line = text.split("\n").find((candidate) => candidate.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

describe("GET /readyz", () => {
  it("answers 200 {status: ready} on a migrated database, without a key", async () => {
    const app = await appWith();
    const response = await app.inject({ method: "GET", url: "/readyz" });
    expect(response.statusCode, response.body).toBe(200);
    expect(response.json()).toEqual({ status: "ready" });
  });

  it("answers 503 not_ready naming the migration the database lacks", async () => {
    const app = await appWith();
    const { rows } = await sql<{ name: string }>`select name from kysely_migration order by name desc`.execute(app.db);
    const last = rows[0]!.name;
    await sql`delete from kysely_migration where name = ${last}`.execute(app.db);
    const body = expectError(await app.inject({ method: "GET", url: "/readyz" }), 503, "not_ready");
    expect(body.error.details).toEqual({ pending_migrations: [last] });
  });

  it("answers 503 not_ready when the database is closed", async () => {
    const app = await appWith();
    await app.db.destroy();
    const body = expectError(await app.inject({ method: "GET", url: "/readyz" }), 503, "not_ready");
    expect(body.error.details).toEqual({ database: "unreachable" });
  });
});

describe("GET /metrics", () => {
  it("does not exist by default: 404 not_found", async () => {
    const app = await appWith();
    expectError(await app.inject({ method: "GET", url: "/metrics" }), 404, "not_found");
  });

  it("with METRICS_ENABLED, serves Prometheus text: auth outcomes, durations by route pattern, cache, 429s, outbox depth", async () => {
    const app = await appWith(true);
    const acme = await createTestCustomer(app);
    const instance = await createInstance(app, acme.secret);
    await app.inject({ method: "GET", url: `/v1/instances/${instance.id}`, headers: bearer(acme.secret) });
    await app.inject({ method: "GET", url: `/v1/instances/${randomUUID()}`, headers: bearer(acme.secret) });
    expectError(await app.inject({ method: "GET", url: "/v1/instances", headers: bearer(generateKey()) }), 401, "auth_invalid");
    expectError(await app.inject({ method: "GET", url: "/v1/instances" }), 401, "auth_missing");
    await app.inject({ method: "GET", url: `/nope/${randomUUID()}` });

    const response = await app.inject({ method: "GET", url: "/metrics" });
    expect(response.statusCode).toBe(200);
    expect(response.headers["content-type"]).toMatch(/^text\/plain; version=0\.0\.4/);
    const text = response.body;

    expect(sample(text, 'whatisup_auth_outcomes_total{outcome="ok"}')).toBeGreaterThanOrEqual(3);
    expect(sample(text, 'whatisup_auth_outcomes_total{outcome="auth_invalid"}')).toBe(1);
    expect(sample(text, 'whatisup_auth_outcomes_total{outcome="auth_missing"}')).toBe(1);

    expect(text).toMatch(/^whatisup_http_request_duration_seconds_bucket\{le="0\.005",method="GET",route="\/v1\/instances\/:id",status="200"\}/m);
    expect(sample(text, 'whatisup_http_request_duration_seconds_count{method="GET",route="/v1/instances/:id",status="404"}')).toBe(1);
    expect(sample(text, 'whatisup_http_request_duration_seconds_count{method="POST",route="/v1/instances",status="201"}')).toBe(1);
    expect(text).toContain('route="(unmatched)",status="404"');
    expect(text).not.toMatch(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/);

    expect(sample(text, 'whatisup_key_cache_lookups_total{result="miss"}')).toBeGreaterThanOrEqual(1);
    expect(sample(text, 'whatisup_key_cache_lookups_total{result="hit"}')).toBeGreaterThanOrEqual(1);
    expect(text).toContain("# TYPE whatisup_rate_limit_refusals_total counter");
    expect(text).toContain("# TYPE whatisup_webhook_attempts_total counter");
    expect(sample(text, "whatisup_outbox_depth")).toBe(0);
  });

  it("counts rate-limit refusals and keeps each app's registry apart", async () => {
    const limited = await buildTestApp({ metricsEnabled: true, rateLimit: { burst: 1, refillPerSecond: 0.001 } });
    apps.push(limited);
    const acme = await createTestCustomer(limited);
    await limited.inject({ method: "GET", url: "/v1/instances", headers: bearer(acme.secret) });
    expectError(await limited.inject({ method: "GET", url: "/v1/instances", headers: bearer(acme.secret) }), 429, "rate_limited");
    const text = (await limited.inject({ method: "GET", url: "/metrics" })).body;
    expect(sample(text, 'whatisup_rate_limit_refusals_total{bucket="key"}')).toBe(1);
    expect(sample(text, 'whatisup_auth_outcomes_total{outcome="ok"}')).toBe(2);
  });

  it("reports the outbox depth, read on each scrape: deliveries pending or retrying", async () => {
    // The first attempt is an hour away, so the dispatcher leaves the rows where the outbox wrote them.
    const app = await buildTestApp({
      metricsEnabled: true,
      webhooks: { allowLoopback: true, retryDelaysMs: [3_600_000], attemptTimeoutMs: 1000 },
    });
    apps.push(app);
    const acme = await createTestCustomer(app);
    const endpoint = await app.inject({
      method: "POST",
      url: "/v1/webhook-endpoints",
      headers: bearer(acme.secret),
      payload: { url: "http://127.0.0.1:9/hooks", events: ["instance.created"] },
    });
    expect(endpoint.statusCode, endpoint.body).toBe(201);
    const depth = async () => sample((await app.inject({ method: "GET", url: "/metrics" })).body, "whatisup_outbox_depth");
    expect(await depth()).toBe(0);
    await createInstance(app, acme.secret, "one");
    await createInstance(app, acme.secret, "two");
    expect(await depth()).toBe(2);
    await app.db.updateTable("webhook_deliveries").set({ status: "success" }).where("event", "=", "instance.created").execute();
    expect(await depth()).toBe(0);
  });
});

describe("METRICS_ENABLED", () => {
  it("is true only for the exact value true", async () => {
    const { loadConfig } = await import("../src/config.js");
    expect(loadConfig({ METRICS_ENABLED: "true" }).metricsEnabled).toBe(true);
    expect(loadConfig({ METRICS_ENABLED: "1" }).metricsEnabled).toBe(false);
    expect(loadConfig({}).metricsEnabled).toBe(false);
  });
});
