import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { App } from "../src/http/app-types.js";
import { buildTestApp } from "./helpers/test-app.js";

/**
 * Issue 12: a phase with any hook costs a request its runner even when the hook has nothing to do,
 * so the `/v1` context's hooks for bodies and Idempotency-Key sit only on the routes that use them.
 * Fastify's route tree, printed with its hooks, names each route's hooks by phase.
 */
const BODY_RECHECK = "verifyKeyAgainOnceBodyArrived()";
const HEADER_CHECK = "refuseUnusableIdempotencyKey()";
const CLAIM = "claimOrReplayIdempotencyKey()";
const RELEASE = "releaseUncompletedIdempotencyClaim()";

/** Each `/v1` route of `method` with its hooks, as `phase: [names]`, from Fastify's printed tree. */
function hooksByRoute(app: App, method: string): Map<string, Record<string, string[]>> {
  const lines = app.printRoutes({ method, includeHooks: true, commonPrefix: false }).split("\n");
  const routes = new Map<string, Record<string, string[]>>();
  const path: string[] = [];
  let current: Record<string, string[]> | undefined;
  for (const line of lines) {
    const route = /^([│ ]*)(?:[├└]── )?(\S+) \(([A-Z, ]+)\)$/.exec(line);
    if (route) {
      const depth = route[1]!.length / 4;
      path.length = depth;
      path.push(route[2]!);
      current = {};
      if (path.join("").startsWith("/v1/")) routes.set(path.join(""), current);
      continue;
    }
    const hook = /• \((\w+)\) (\[.*\])$/.exec(line);
    if (hook && current) current[hook[1]!] = JSON.parse(hook[2]!) as string[];
  }
  return routes;
}

describe("the hooks of /v1 routes", () => {
  let app: App;

  beforeAll(async () => {
    app = await buildTestApp();
  });

  afterAll(async () => {
    await app.close();
  });

  it("a GET route runs no preValidation, preHandler or onSend hook, only authentication and usage counting", () => {
    const routes = hooksByRoute(app, "GET");
    expect([...routes.keys()]).toEqual(expect.arrayContaining(["/v1/limits", "/v1/api-keys", "/v1/instances/:id/messages"]));
    for (const [url, hooks] of routes) {
      expect({ url, phases: Object.keys(hooks).sort() }).toEqual({ url, phases: ["onRequest", "onResponse"] });
    }
  });

  it("a POST route verifies the key again once its body is in, then checks Idempotency-Key, before any hook of its own", () => {
    const routes = hooksByRoute(app, "POST");
    expect(routes.get("/v1/api-keys/:id/roll")?.preValidation).toEqual([BODY_RECHECK, HEADER_CHECK, "preValidation()"]);
    expect(routes.get("/v1/api-keys")?.preValidation).toEqual([BODY_RECHECK, HEADER_CHECK]);
    expect(routes.get("/v1/api-keys")?.preHandler).toBeUndefined();
  });

  it("only the routes that honour Idempotency-Key claim and release it", () => {
    const routes = hooksByRoute(app, "POST");
    for (const url of ["/v1/instances", "/v1/instances/:id/messages", "/v1/webhook-endpoints", "/v1/instances/:id/sandbox/inbound"]) {
      expect({ url, hooks: routes.get(url) }).toMatchObject({ url, hooks: { preHandler: [CLAIM], onSend: [RELEASE] } });
    }
  });

  it("a DELETE route verifies the key again and has no Idempotency-Key hook: DELETE ignores the header", () => {
    const hooks = hooksByRoute(app, "DELETE").get("/v1/api-keys/:id");
    expect(hooks?.preValidation).toEqual([BODY_RECHECK]);
    expect(hooks?.preHandler).toBeUndefined();
    expect(hooks?.onSend).toBeUndefined();
  });
});
