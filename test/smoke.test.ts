import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { bearer, buildTestApp, createTestCustomer, type TestCustomer } from "./helpers/test-app.js";
import type { App } from "../src/http/app-types.js";

describe("smoke", () => {
  let app: App;
  let acme: TestCustomer;
  beforeAll(async () => {
    app = await buildTestApp();
    acme = await createTestCustomer(app);
  });
  afterAll(() => app.close());

  it("lists the first key", async () => {
    const response = await app.inject({ url: "/v1/api-keys", headers: bearer(acme.secret) });
    expect(response.statusCode).toBe(200);
    expect(response.json()).toHaveLength(1);
  });
});
