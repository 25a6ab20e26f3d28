import { existsSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { chromium, type Browser, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { App } from "../../src/http/app-types.js";
import { buildTestApp, createTestCustomer, type TestCustomer } from "../helpers/test-app.js";

/**
 * CORS as a browser enforces it: a page served from another origin than the API's (another port)
 * calls the API with a bearer key from Chromium. Listed in CORS_ORIGINS, it reads the answers and
 * their rate-limit headers, errors included; not listed, the browser refuses it every answer.
 */

const CHROMIUM = "/usr/bin/chromium";
/** This machine's network is closed: without these, Chromium keeps dialling Google's hosts. */
const CHROMIUM_FLAGS = [
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];
const PAGE = "<!doctype html><html lang=en><head><meta charset=utf-8><title>Another origin</title></head><body><p>A page of another origin.</p></body></html>";

const haveChromium = existsSync(CHROMIUM);
if (!haveChromium && !process.env.CI) {
  console.log(`CORS browser tests skipped: ${CHROMIUM} is missing (apt-get install -y chromium).`);
}

/** What the page's fetch came to: an answer it may read, or the TypeError of a refused one. */
type Outcome =
  | { ok: true; status: number; remaining: string | null; requestId: string | null; body: any }
  | { ok: false; name: string; message: string };

/** A server of one static page, on a port of its own: an origin of its own. */
async function pageServer(): Promise<{ server: Server; origin: string }> {
  const server = createServer((_request, response) => {
    response.writeHead(200, { "content-type": "text/html; charset=utf-8" });
    response.end(PAGE);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { server, origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

describe.skipIf(!haveChromium && !process.env.CI)("CORS in headless Chromium", () => {
  let listedPage: { server: Server; origin: string };
  let otherPage: { server: Server; origin: string };
  let app: App;
  let api: string;
  let acme: TestCustomer;
  let browser: Browser;

  beforeAll(async () => {
    listedPage = await pageServer();
    otherPage = await pageServer();
    app = await buildTestApp({ corsOrigins: [listedPage.origin], rateLimit: { burst: 1_000, refillPerSecond: 0.001 } });
    await app.listen({ port: 0, host: "127.0.0.1" });
    // Another host name for the same machine: a third origin, the API's own.
    api = `http://localhost:${(app.server.address() as AddressInfo).port}`;
    acme = await createTestCustomer(app, "Acme");
    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_FLAGS });
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await app?.close();
    for (const page of [listedPage, otherPage]) page?.server.close();
  });

  async function openPage(origin: string): Promise<Page> {
    const page = await browser.newPage();
    await page.goto(`${origin}/`);
    return page;
  }

  /** Runs fetch in the page (as text: the tests compile without the DOM library). */
  function fetchFrom(page: Page, path: string, init: { method?: string; key?: string; body?: object } = {}): Promise<Outcome> {
    const headers: Record<string, string> = {};
    if (init.key) headers.authorization = `Bearer ${init.key}`;
    if (init.body) headers["content-type"] = "application/json";
    const request = { method: init.method ?? "GET", headers, ...(init.body ? { body: JSON.stringify(init.body) } : {}) };
    return page.evaluate<Outcome>(`(async () => {
      try {
        const response = await fetch(${JSON.stringify(`${api}${path}`)}, ${JSON.stringify(request)});
        return {
          ok: true,
          status: response.status,
          remaining: response.headers.get("x-ratelimit-remaining"),
          requestId: response.headers.get("x-request-id"),
          body: await response.json(),
        };
      } catch (error) {
        return { ok: false, name: error.name, message: error.message };
      }
    })()`);
  }

  it("a listed origin's page reads GET /v1/limits and its X-RateLimit-Remaining", async () => {
    const page = await openPage(listedPage.origin);
    const outcome = await fetchFrom(page, "/v1/limits", { key: acme.secret });
    expect(outcome).toMatchObject({ ok: true, status: 200 });
    if (!outcome.ok) return;
    expect(outcome.remaining).toMatch(/^\d+$/);
    expect(outcome.requestId).toMatch(/^req_/);
    expect(outcome.body).toHaveProperty("per_key.remaining");
    await page.close();
  });

  it("it can write too (a preflighted POST with a JSON body) and read the error envelope of a refusal", async () => {
    const page = await openPage(listedPage.origin);
    const issued = await fetchFrom(page, "/v1/api-keys", { method: "POST", key: acme.secret, body: { name: "from the browser" } });
    expect(issued).toMatchObject({ ok: true, status: 201, body: { name: "from the browser" } });
    const refused = await fetchFrom(page, "/v1/limits", { key: "zpk_live_not-a-key" });
    expect(refused).toMatchObject({ ok: true, status: 401, body: { error: { code: "auth_malformed" } } });
    if (refused.ok) expect(refused.requestId).toBe(refused.body.request_id);
    await page.close();
  });

  it("a page of an origin not listed gets a TypeError: the browser keeps the answer from it", async () => {
    const page = await openPage(otherPage.origin);
    // GET /v1/limits and /v1/api-keys/current spend nothing; this read spends one token.
    const remaining = async () => Number((await app.inject({ url: "/v1/instances", headers: { authorization: `Bearer ${acme.secret}` } })).headers["x-ratelimit-remaining"]);
    const before = await remaining();
    const outcome = await fetchFrom(page, "/v1/instances", { key: acme.secret });
    expect(outcome).toMatchObject({ ok: false, name: "TypeError" });
    expect(await fetchFrom(page, "/v1/limits", { key: acme.secret })).toMatchObject({ ok: false, name: "TypeError" });
    const refusedWrite = await fetchFrom(page, "/v1/api-keys", { method: "POST", key: acme.secret, body: { name: "never made" } });
    expect(refusedWrite).toMatchObject({ ok: false, name: "TypeError" });
    // The preflight failed, so neither request was sent: the key's bucket shows only the check above.
    expect(await remaining()).toBe(before - 1);
    const keys = await app.inject({ url: "/v1/api-keys?limit=100", headers: { authorization: `Bearer ${acme.secret}` } });
    expect(keys.body).not.toContain("never made");
    await page.close();
  });
});
