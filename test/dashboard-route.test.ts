import { afterAll, describe, expect, it } from "vitest";
import type { App } from "../src/http/app-types.js";
import { buildTestApp, createTestCustomer, expectError } from "./helpers/test-app.js";

/**
 * The dashboard's files as the server hands them out (`npm test` builds them first): public,
 * self-contained, and locked down by headers. What the page does is test/e2e/dashboard.test.ts.
 */

const app: App = await buildTestApp();
afterAll(() => app.close());

function directives(csp: string | string[] | number | undefined): Record<string, string> {
  return Object.fromEntries(
    String(csp)
      .split(";")
      .map((directive) => directive.trim().split(/\s+/))
      .map(([name, ...values]) => [name, values.join(" ")]),
  );
}

describe("GET /dashboard", () => {
  it("is public HTML that loads only this server's script and stylesheet", async () => {
    const page = await app.inject({ method: "GET", url: "/dashboard" });
    expect(page.statusCode).toBe(200);
    expect(page.headers["content-type"]).toBe("text/html; charset=utf-8");
    expect(page.headers["x-request-id"]).toMatch(/^req_/);
    expect(page.body).toContain("<title>Dashboard · WhatIsUp.dev</title>");
    expect(page.body).not.toMatch(/https?:\/\//);
    const references = [...page.body.matchAll(/(?:src|href)="([^"#]+)"/g)].map((match) => match[1]);
    expect(references.sort()).toEqual(["/dashboard/assets/dashboard.css", "/dashboard/assets/dashboard.js", "data:,"]);
    // No inline script, which the policy would refuse anyway.
    expect(page.body).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/);
  });

  it("forbids everything but this origin, inline code, framing and referrers, and is never cached", async () => {
    const page = await app.inject({ method: "GET", url: "/dashboard" });
    expect(directives(page.headers["content-security-policy"])).toEqual({
      "default-src": "'none'",
      "script-src": "'self'",
      "style-src": "'self'",
      "img-src": "'self' data:",
      "connect-src": "'self'",
      "base-uri": "'none'",
      "form-action": "'none'",
      "frame-ancestors": "'none'",
    });
    expect(page.headers["cache-control"]).toBe("no-store");
    expect(page.headers["referrer-policy"]).toBe("no-referrer");
    expect(page.headers["x-content-type-options"]).toBe("nosniff");
  });

  it("needs no key, and ignores one: the page holds no data", async () => {
    const { secret } = await createTestCustomer(app);
    const withKey = await app.inject({ method: "GET", url: "/dashboard", headers: { authorization: `Bearer ${secret}` } });
    const without = await app.inject({ method: "GET", url: "/dashboard" });
    expect(withKey.statusCode).toBe(200);
    expect(withKey.body).toBe(without.body);
    expect(withKey.headers["x-ratelimit-limit"]).toBeUndefined();
  });

  it("answers other methods with 405 and the Allow header", async () => {
    const response = await app.inject({ method: "POST", url: "/dashboard", payload: {} });
    expectError(response, 405, "method_not_allowed");
    expect(response.headers.allow).toContain("GET");
  });
});

describe("GET /dashboard/assets/:name", () => {
  it("serves the bundled script and stylesheet with their types, and nothing from elsewhere", async () => {
    const script = await app.inject({ method: "GET", url: "/dashboard/assets/dashboard.js" });
    expect(script.statusCode).toBe(200);
    expect(script.headers["content-type"]).toBe("text/javascript; charset=utf-8");
    expect(script.headers["x-content-type-options"]).toBe("nosniff");
    // The typed client is bundled in: the script calls the API by its paths, one for each screen.
    for (const path of ["/v1/api-keys", "/v1/instances", "/v1/webhook-endpoints", "/v1/webhook-deliveries/{id}/retry", "/v1/audit-events"]) {
      expect(script.body).toContain(path);
    }
    expect(script.body).toContain("sessionStorage");
    // The SVG namespace of the usage charts is a name that is never fetched; any other address would be.
    expect(script.body.replaceAll("http://www.w3.org/2000/svg", "")).not.toMatch(/https?:\/\//);
    expect(script.body).not.toContain("localStorage");
    expect(script.body).not.toContain("document.cookie");

    const style = await app.inject({ method: "GET", url: "/dashboard/assets/dashboard.css" });
    expect(style.statusCode).toBe(200);
    expect(style.headers["content-type"]).toBe("text/css; charset=utf-8");
    expect(style.body).not.toMatch(/url\(|@import|https?:\/\//);
  });

  it("serves those two files only: anything else is a 404 in the envelope", async () => {
    for (const name of ["dashboard.html", "app.js", "..%2F..%2Fpackage.json", "%2e%2e", "dashboard.js.map", "constructor"]) {
      expectError(await app.inject({ method: "GET", url: `/dashboard/assets/${name}` }), 404, "not_found");
    }
    expectError(await app.inject({ method: "GET", url: "/dashboard/assets/../../package.json" }), 404, "not_found");
  });
});
