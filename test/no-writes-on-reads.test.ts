import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { App } from "../src/http/app-types.js";
import { bearer, buildTestApp, createInstance, createTestCustomer, type TestCustomer } from "./helpers/test-app.js";
import { allowWrites, failWrites, tableNames } from "./helpers/test-database.js";

/**
 * Issue 12, target 9: an authenticated read writes nothing to the database while it is answered
 * (`last_used_at` is written behind, in batches). Every table refuses every INSERT and UPDATE
 * while the reads run: one write on their path would turn its answer into a 500.
 */
describe("authenticated reads", () => {
  let app: App;
  let acme: TestCustomer;
  let tables: string[];
  let instanceId: string;

  beforeAll(async () => {
    app = await buildTestApp();
    acme = await createTestCustomer(app);
    instanceId = (await createInstance(app, acme.secret)).id;
    tables = (await tableNames(app.db, app.dialect)).filter((table) => !table.startsWith("kysely_"));
    for (const table of tables) {
      await failWrites(app.db, app.dialect, table, "insert");
      await failWrites(app.db, app.dialect, table, "update");
    }
  });

  afterAll(async () => {
    for (const table of tables) {
      await allowWrites(app.db, app.dialect, table, "insert");
      await allowWrites(app.db, app.dialect, table, "update");
    }
    await app.close();
  });

  it("answer from a cached key without a single INSERT or UPDATE", async () => {
    const paths = [
      "/v1/limits",
      "/v1/api-keys",
      `/v1/api-keys/${acme.key.id}`,
      `/v1/api-keys/${acme.key.id}/usage`,
      "/v1/instances",
      `/v1/instances/${instanceId}`,
      "/v1/audit-events",
      "/v1/webhook-endpoints",
      "/v1/webhook-deliveries",
    ];
    for (let round = 0; round < 5; round += 1) {
      for (const url of paths) {
        const response = await app.inject({ url, headers: bearer(acme.secret) });
        expect(response.statusCode, `${url}: ${response.body}`).toBe(200);
      }
    }
  });

  it("would notice a write: the same guard turns an issue into a 500", async () => {
    const issued = await app.inject({ method: "POST", url: "/v1/api-keys", headers: bearer(acme.secret), payload: { name: "refused" } });
    expect(issued.statusCode).toBe(500);
  });
});
