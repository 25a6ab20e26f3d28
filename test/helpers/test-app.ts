import type { LightMyRequestResponse } from "fastify";
import { expect } from "vitest";
import { buildApp, type AppOptions } from "../../src/app.js";
import { CLI_ACTOR } from "../../src/audit/actor.js";
import type { ErrorEnvelope, IssuedApiKey } from "@whatisup/client";
import { loadConfig, type Config } from "../../src/config.js";
import type { Customer } from "../../src/customers/customer-repository.js";
import type { SqlDialect } from "../../src/db/dialect.js";
import type { Db } from "../../src/db/schema.js";
import type { App } from "../../src/http/app-types.js";
import { createCustomer } from "../../src/use-cases/create-customer.js";
import { createWriter, writeDependencies, type Writer } from "../../src/use-cases/write.js";
import { freshDatabase, TEST_DIALECT } from "./test-database.js";

export const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
/** The one timestamp format of the API: ISO 8601, UTC, milliseconds, `Z`. */
export const TIMESTAMP = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;
/** A whole API key anywhere in a text (a prefix alone does not match). */
export const FULL_KEY = /zpk_live_[0-9A-Za-z]{49}/;

export type { Page } from "@whatisup/client";

/** Every field of an ApiKey (docs/api.md), sorted, written out here rather than read from src/. */
export const API_KEY_FIELDS = [
  "allowed_ips",
  "created_at",
  "customer_id",
  "expires_at",
  "id",
  "instance_id",
  "last_used_at",
  "mode",
  "name",
  "prefix",
  "revoked_at",
  "scopes",
];
/** An IssuedApiKey: the same and its secret. */
export const ISSUED_API_KEY_FIELDS = [...API_KEY_FIELDS, "secret"].sort();

export const TEST_PEPPER = "test-pepper-that-is-long-enough-0123456789";

/** The server's defaults, on a private database (see test-database.ts), with a fixed pepper. */
export function testConfig(overrides: Partial<Config> = {}): Config {
  return {
    ...loadConfig({}),
    database: freshDatabase(),
    keyPepper: TEST_PEPPER,
    lastUsedFlushMs: 3_600_000,
    // The per-customer bucket is test/customer-limits.test.ts's: elsewhere it stays out of the way.
    customerRateLimit: { burst: 1e9, refillPerSecond: 1e9 },
    ...overrides,
  };
}

export async function buildTestApp(overrides: Partial<Config> = {}, options: AppOptions = { logger: false }): Promise<App> {
  const app = await buildApp(testConfig(overrides), options);
  await app.ready();
  return app;
}

export type TestCustomer = { customer: Customer; key: IssuedApiKey; secret: string };

/** Runs use cases on `db` outside any app, as the CLI does (no revocation channel: no revoking). */
export function writerOn(db: Db, pepper = TEST_PEPPER, dialect: SqlDialect = TEST_DIALECT, config: Pick<Config, "webhooks" | "maxActiveKeys"> = loadConfig({})): Writer {
  return createWriter(db, writeDependencies(config, dialect, pepper, null));
}

/** A customer and its first key, through the use case that `whatisup customers create` runs. */
export function createCustomerOn(db: Db, pepper = TEST_PEPPER, name = "Acme") {
  return writerOn(db, pepper)(CLI_ACTOR, (write, actor) => createCustomer(write, actor, { name }));
}

/** A customer and its first key (`*`), made the way the CLI makes them. */
export async function createTestCustomer(app: App, name = "Acme"): Promise<TestCustomer> {
  const created = await createCustomerOn(app.db, TEST_PEPPER, name);
  return { customer: created.customer, key: created.api_key, secret: created.api_key.secret };
}

export function bearer(secret: string): Record<string, string> {
  return { authorization: `Bearer ${secret}` };
}

/** Issues a key through the API and returns the 201 body. */
export async function issueKey(app: App, secret: string, body: Record<string, unknown>): Promise<IssuedApiKey> {
  const response = await app.inject({ method: "POST", url: "/v1/api-keys", headers: bearer(secret), payload: body });
  expect(response.statusCode, response.body).toBe(201);
  return response.json();
}

/** Creates an instance through the API and returns the 201 body. */
export async function createInstance(app: App, secret: string, name = "main"): Promise<{ id: string; name: string }> {
  const response = await app.inject({ method: "POST", url: "/v1/instances", headers: bearer(secret), payload: { name } });
  expect(response.statusCode, response.body).toBe(201);
  return response.json();
}

/**
 * Asserts the error envelope of the contract (docs/api.md): the status, the code, a message, and a request id
 * that matches the X-Request-Id header. Returns the body for further checks.
 */
export function expectError(response: LightMyRequestResponse, status: number, code: string): ErrorEnvelope {
  expect(response.statusCode, response.body).toBe(status);
  expect(response.headers["content-type"]).toMatch(/^application\/json/);
  const body = response.json() as ErrorEnvelope;
  expect(body.error.code).toBe(code);
  expect(typeof body.error.message).toBe("string");
  expect(body.error.message.length).toBeGreaterThan(0);
  expect(body.request_id).toMatch(/^req_/);
  expect(response.headers["x-request-id"]).toBe(body.request_id);
  expect(Object.keys(body).sort()).toEqual(["error", "request_id"]);
  if (status === 401) expect(response.headers["www-authenticate"]).toMatch(/^Bearer/);
  return body;
}
