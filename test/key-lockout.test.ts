import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { App } from "../src/http/app-types.js";
import { bearer, buildTestApp, createTestCustomer, expectError, issueKey } from "./helpers/test-app.js";

/**
 * Issue 11, row 10: a customer cannot be locked out by one of its narrower keys. Only a key
 * holding `*` may revoke a key holding `*`.
 */

let app: App;
beforeAll(async () => {
  app = await buildTestApp({ rateLimit: { burst: 1_000, refillPerSecond: 1 } });
});
afterAll(() => app.close());

const revoke = (id: string, secret: string) => app.inject({ method: "DELETE", url: `/v1/api-keys/${id}`, headers: bearer(secret) });

describe("revoking a key that holds *", () => {
  it("is refused to a key without *: 403 insufficient_scope (required *), and the full key keeps working", async () => {
    const acme = await createTestCustomer(app);
    const rotator = await issueKey(app, acme.secret, { name: "rotator", scopes: ["api_keys:write", "api_keys:read"] });
    const body = expectError(await revoke(acme.key.id, rotator.secret), 403, "insufficient_scope");
    expect(body.error.details).toEqual({ required: "*" });
    expect((await app.inject({ url: "/v1/api-keys", headers: bearer(acme.secret) })).statusCode).toBe(200);
    const events = (await app.inject({ url: "/v1/audit-events", headers: bearer(acme.secret) })).json() as { data: { action: string }[] };
    expect(events.data.filter((event) => event.action === "api_key.revoked")).toEqual([]);
  });

  it("is allowed to another key holding *, and a narrower key still revokes keys without *", async () => {
    const acme = await createTestCustomer(app);
    const secondFull = await issueKey(app, acme.secret, { name: "second full" });
    const rotator = await issueKey(app, acme.secret, { name: "rotator", scopes: ["api_keys:write"] });
    const narrow = await issueKey(app, acme.secret, { name: "narrow", scopes: ["instances:read"] });
    expect((await revoke(narrow.id, rotator.secret)).statusCode).toBe(204);
    expect((await revoke(secondFull.id, acme.secret)).statusCode).toBe(204);
    expectError(await app.inject({ url: "/v1/limits", headers: bearer(secondFull.secret) }), 401, "auth_expired");
  });
});
