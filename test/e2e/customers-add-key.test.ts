import { randomUUID } from "node:crypto";
import { afterAll, describe, expect, it } from "vitest";
import type { IssuedApiKey } from "@whatisup/client";
import { runCli, serverProcessEnv } from "../helpers/cli-process.js";
import { bearer, buildTestApp, TEST_PEPPER } from "../helpers/test-app.js";
import { persistentDatabase, removeDatabase } from "../helpers/test-database.js";

/**
 * Issue 11, row 10: `whatisup customers add-key` lets an operator give a locked-out customer a
 * new full key, on the database, audited as the CLI. `npm test` builds dist/ first.
 */

const database = persistentDatabase();
// The app below digests keys with the tests' pepper: the CLI must use the same one.
const env = { ...serverProcessEnv(database), WHATISUP_KEY_PEPPER: TEST_PEPPER };
afterAll(() => removeDatabase(database));

describe("whatisup customers add-key", () => {
  it("gives an existing customer a working * key that never expires, audited as the CLI", { timeout: 60_000 }, async () => {
    const created = await runCli(["customers", "create", "--name", "Acme", "--json"], env);
    expect(created.code, created.stderr).toBe(0);
    const customerId = (JSON.parse(created.stdout) as { customer: { id: string } }).customer.id;

    const added = await runCli(["customers", "add-key", "--customer", customerId, "--name", "rescue", "--json"], env);
    expect(added.code, added.stderr).toBe(0);
    const key = (JSON.parse(added.stdout) as { api_key: IssuedApiKey }).api_key;
    expect(key).toMatchObject({ customer_id: customerId, name: "rescue", scopes: ["*"], expires_at: null, instance_id: null });

    const app = await buildTestApp({ database });
    try {
      expect((await app.inject({ url: "/v1/limits", headers: bearer(key.secret) })).statusCode).toBe(200);
      const events = (await app.inject({ url: "/v1/audit-events", headers: bearer(key.secret) })).json() as {
        data: { action: string; target: { id: string }; actor: { type: string } }[];
      };
      const issued = events.data.find((event) => event.action === "api_key.issued" && event.target.id === key.id);
      expect(issued?.actor.type).toBe("cli");
    } finally {
      await app.close();
    }
  });

  it("refuses an unknown customer (exit 1) and a malformed id or a missing name (exit 2)", { timeout: 60_000 }, async () => {
    const unknown = await runCli(["customers", "add-key", "--customer", randomUUID(), "--name", "x"], env);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain("no customer has the id");
    const malformed = await runCli(["customers", "add-key", "--customer", "not-a-uuid", "--name", "x"], env);
    expect(malformed.code).toBe(2);
    expect(malformed.stderr).toContain("--customer must be a customer id");
    const nameless = await runCli(["customers", "add-key", "--customer", randomUUID()], env);
    expect(nameless.code).toBe(2);
    expect(nameless.stderr).toContain("--name is required");
  });
});
