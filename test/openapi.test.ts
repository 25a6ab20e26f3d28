import { Validator } from "@seriousme/openapi-schema-validator";
import { Ajv2020 } from "ajv/dist/2020.js";
import addFormats from "ajv-formats";
import { afterAll, describe, expect, it } from "vitest";
import { buildApp } from "../src/app.js";
import { EVENT_TYPES } from "../src/contract/webhook-event.js";
import type { App } from "../src/http/app-types.js";
import { SANDBOX_FAILING_NUMBER } from "../src/transports/sandbox-transport.js";
import { bearer, buildTestApp, createInstance, createTestCustomer, issueKey, testConfig } from "./helpers/test-app.js";
import { insertEndpoint, waitFor } from "./helpers/webhook-fixtures.js";

type Response = { $ref?: string; description: string; headers?: Record<string, { $ref: string }>; content?: Record<string, { schema: any; example?: unknown }> };
type Operation = {
  operationId?: string;
  summary?: string;
  tags?: string[];
  security?: Record<string, string[]>[];
  description?: string;
  "x-required-scope"?: string | null;
  requestBody?: { content: Record<string, { schema: any; example?: unknown; examples?: unknown }> };
  responses: Record<string, Response>;
};
type Document = {
  openapi: string;
  info: { title: string; version: string; license?: { name: string }; contact?: { name: string } };
  servers?: { url: string; description?: string }[];
  tags?: { name: string; description?: string }[];
  paths: Record<string, Record<string, Operation>>;
  webhooks: Record<string, Record<string, Operation>>;
  components: {
    schemas: Record<string, any>;
    responses: Record<string, Response>;
    securitySchemes: Record<string, unknown>;
    headers: Record<string, unknown>;
  };
};

// Every optional route exists: metrics on, and the Cloud API callbacks configured.
const app: App = await buildApp(
  testConfig({
    metricsEnabled: true,
    cloudApi: { baseUrl: "http://127.0.0.1:9", version: "v21.0", accessToken: "t", appSecret: "s", verifyToken: "v" },
  }),
  { logger: false },
);
await app.ready();
afterAll(() => app.close());

const response = await app.inject({ method: "GET", url: "/openapi.json" });
const document = response.json() as Document;

/** Routes the document leaves out on purpose: the pages' own assets and copies of the document. */
const NOT_DOCUMENTED = /^\/docs\/(static\/|json$|yaml$)|^\/dashboard\/assets\//;

/** `/v1/keys/:id` → `/v1/keys/{id}`, `/docs/` → `/docs`. */
function openapiPath(url: string): string {
  const path = url.replace(/:([A-Za-z_]+)/g, "{$1}");
  return path.length > 1 ? path.replace(/\/$/, "") : path;
}

/** A response as a client reads it: a shared one (`$ref`) is the component, with the operation's own description. */
function resolved(response: Response): Response {
  if (response.$ref === undefined) return response;
  const shared = document.components.responses[response.$ref.replace("#/components/responses/", "")];
  expect(shared, response.$ref).toBeDefined();
  return { ...shared!, description: response.description };
}

/** Every operation of the document: its paths' and its webhooks'. */
function allOperations(): [string, string, Operation][] {
  return [...Object.entries(document.paths), ...Object.entries(document.webhooks ?? {})].flatMap(([path, operations]) =>
    Object.entries(operations).map(([method, operation]) => [path, method, operation] as [string, string, Operation]),
  );
}

/** The /v1 operations that take a key: all but the leak report (see the test of public routes). */
function v1Operations(): [string, string, Operation][] {
  return Object.entries(document.paths)
    .filter(([path]) => path.startsWith("/v1/") && path !== "/v1/leaked-keys")
    .flatMap(([path, operations]) => Object.entries(operations).map(([method, operation]) => [path, method, operation] as [string, string, Operation]));
}

describe("GET /openapi.json", () => {
  it("is public and answers an OpenAPI 3.1 document titled for the API, versioned as the package", async () => {
    expect(response.statusCode).toBe(200);
    expect(response.headers["content-type"]).toMatch(/^application\/json/);
    expect(document.openapi).toBe("3.1.0");
    expect(document.info.title).toBe("WhatIsUp.dev API");
    const { version } = (await import("../package.json", { with: { type: "json" } })).default as { version: string };
    expect(document.info.version).toBe(version);
  });

  it("passes a real OpenAPI 3.1 validator", async () => {
    const validator = new Validator();
    const result = await validator.validate(structuredClone(document) as never);
    expect(result.errors ?? [], JSON.stringify(result.errors, null, 1)?.slice(0, 2000)).toEqual([]);
    expect(result.valid).toBe(true);
    expect(validator.version).toBe("3.1");
  });

  it("has every registered route with each of its methods (HEAD aside)", () => {
    // The app records every route of every encapsulated context itself (src/http/route-table.ts).
    const routes = app.routeTable.routes;
    expect(routes.length).toBeGreaterThan(20);
    const missing: string[] = [];
    for (const route of routes) {
      if (NOT_DOCUMENTED.test(route.url) || route.method === "HEAD") continue;
      if (!document.paths[openapiPath(route.url)]?.[route.method.toLowerCase()]) missing.push(`${route.method} ${route.url}`);
    }
    expect(missing).toEqual([]);
    for (const path of ["/healthz", "/readyz", "/openapi.json", "/docs", "/dashboard", "/metrics", "/webhooks/whatsapp"]) {
      expect(Object.keys(document.paths)).toContain(path);
    }
  });

  it("declares the bearer scheme and applies it, with the route's scope, to every /v1 operation", () => {
    expect(document.components.securitySchemes.bearer).toMatchObject({ type: "http", scheme: "bearer" });
    const operations = v1Operations();
    expect(operations.length).toBeGreaterThanOrEqual(17);
    for (const [path, method, operation] of operations) {
      const scope = operation["x-required-scope"];
      expect(scope, `${method} ${path}`).not.toBeUndefined();
      expect(operation.security, `${method} ${path}`).toEqual([{ bearer: scope === null ? [] : [scope] }]);
      if (scope) expect(operation.description).toContain(`\`${scope}\``);
    }
    expect(document.paths["/v1/api-keys"]!.post!["x-required-scope"]).toBe("api_keys:write");
    expect(document.paths["/v1/limits"]!.get!["x-required-scope"]).toBeNull();
    expect(document.paths["/healthz"]!.get!.security ?? []).toEqual([]);
  });

  it("documents the leak report as the one public /v1 operation: no bearer, 202, Retry-After on its 429", () => {
    expect(Object.keys(document.paths).filter((path) => path.startsWith("/v1/") && !v1Operations().some(([known]) => known === path))).toEqual([
      "/v1/leaked-keys",
    ]);
    const report = document.paths["/v1/leaked-keys"]!.post!;
    expect(report.security).toEqual([]);
    expect(report["x-required-scope"]).toBeUndefined();
    expect(Object.keys(report.responses).sort()).toEqual(["202", "400", "413", "415", "429", "500", "503"]);
    expect(Object.keys(report.responses["202"]!.headers ?? {})).not.toContain("X-RateLimit-Limit");
    // The leak report's 429 is its own per-network bucket's: no key's X-RateLimit-* headers.
    expect(Object.keys(resolved(report.responses["429"]!).headers ?? {})).toContain("Retry-After");
    expect(Object.keys(resolved(report.responses["429"]!).headers ?? {})).not.toContain("X-RateLimit-Limit");
  });

  it("documents the error envelope, with its codes, on every /v1 operation's 401, 403, 429 and 500", () => {
    for (const [path, method, operation] of v1Operations()) {
      for (const status of ["400", "401", "403", "429", "500"]) {
        const error = operation.responses[status];
        expect(error, `${method} ${path} ${status}`).toBeDefined();
        expect(resolved(error!).content!["application/json"]!.schema).toEqual({ $ref: "#/components/schemas/Error" });
      }
      expect(operation.responses["401"]!.description).toContain("`auth_invalid`");
      expect(operation.responses["429"]!.description).toContain("`rate_limited`");
    }
    expect(document.paths["/v1/api-keys"]!.post!.responses["403"]!.description).toContain("`scope_escalation`");
    expect(document.paths["/readyz"]!.get!.responses["503"]!.description).toContain("`not_ready`");
    const envelope = document.components.schemas.Error;
    expect(envelope.required).toEqual(["error", "request_id"]);
    expect(envelope.properties.error.properties.code.enum).toContain("auth_invalid");
  });

  it("documents the rate-limit headers on /v1 answers and Retry-After on their 429", () => {
    expect(Object.keys(document.components.headers)).toEqual(
      expect.arrayContaining(["X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset", "Retry-After", "X-Request-Id"]),
    );
    for (const [path, method, operation] of v1Operations()) {
      const success = Object.entries(operation.responses).find(([status]) => status.startsWith("2"))!;
      expect(Object.keys(success[1].headers ?? {}), `${method} ${path}`).toEqual(
        expect.arrayContaining(["X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset", "X-Request-Id"]),
      );
      expect(Object.keys(resolved(operation.responses["429"]!).headers ?? {})).toEqual(
        expect.arrayContaining(["Retry-After", "X-RateLimit-Limit", "X-Request-Id"]),
      );
      expect(Object.keys(resolved(operation.responses["401"]!).headers ?? {})).toContain("WWW-Authenticate");
      expect(Object.keys(resolved(operation.responses["401"]!).headers ?? {})).not.toContain("X-RateLimit-Limit");
    }
  });

  it("has examples for issuing a key: request and response", () => {
    const post = document.paths["/v1/api-keys"]!.post!;
    const request = post.requestBody!.content["application/json"]!;
    const requestExample = request.example ?? (request as { schema?: { examples?: unknown[] } }).schema?.examples?.[0];
    expect(requestExample).toMatchObject({ name: expect.any(String), scopes: expect.any(Array) });
    const created = post.responses["201"]!.content!["application/json"]!;
    const responseExample = created.example ?? created.schema.examples?.[0];
    expect(responseExample).toMatchObject({ secret: expect.stringMatching(/^zpk_live_/) });
  });
});

describe("the document, for code generators", () => {
  const NAMED = [
    "listApiKeys",
    "issueApiKey",
    "getApiKey",
    "revokeApiKey",
    "rollApiKey",
    "getCurrentApiKey",
    "getApiKeyUsage",
    "listInstances",
    "createInstance",
    "getInstance",
    "deleteInstance",
    "sendMessage",
    "listMessages",
    "getMessage",
    "receiveSandboxMessage",
    "listWebhookEndpoints",
    "createWebhookEndpoint",
    "getWebhookEndpoint",
    "deleteWebhookEndpoint",
    "listWebhookDeliveries",
    "getWebhookDelivery",
    "listAuditEvents",
    "getLimits",
    "reportLeakedKeys",
  ];

  it("gives every operation, paths' and webhooks', a unique readable operationId", () => {
    const operations = allOperations();
    expect(operations.length).toBeGreaterThan(35);
    const ids = operations.map(([path, method, operation]) => {
      expect(operation.operationId, `${method} ${path}`).toMatch(/^[a-z][A-Za-z]+$/);
      return operation.operationId!;
    });
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids).toEqual(expect.arrayContaining(NAMED));
    expect(document.paths["/v1/api-keys/{id}"]!.get!.operationId).toBe("getApiKey");
    expect(document.paths["/v1/api-keys/{id}"]!.delete!.operationId).toBe("revokeApiKey");
    expect(document.paths["/v1/instances/{id}/messages"]!.post!.operationId).toBe("sendMessage");
    expect(document.paths["/v1/instances/{id}/messages"]!.get!.operationId).toBe("listMessages");
    expect(document.paths["/v1/instances/{id}/messages/{message_id}"]!.get!.operationId).toBe("getMessage");
  });

  it("names every resource and the error envelope as a component, and refers to them by $ref", () => {
    expect(Object.keys(document.components.schemas)).toEqual(
      expect.arrayContaining([
        "ApiKey",
        "IssuedApiKey",
        "ApiKeyUsage",
        "Instance",
        "AcceptedMessage",
        "Message",
        "MessageMedia",
        "MessageTemplate",
        "MessageReceivedEvent",
        "AuditEvent",
        "WebhookEndpoint",
        "CreatedWebhookEndpoint",
        "WebhookDelivery",
        "WebhookDeliveryDetail",
        "WebhookDeliveryAttempt",
        "EventEnvelope",
        "Limits",
        "Error",
        "Scope",
        "KeyMode",
      ]),
    );
    const json = (status: string, path: string, method: string) =>
      resolved(document.paths[path]![method]!.responses[status]!).content!["application/json"]!.schema;
    expect(json("200", "/v1/api-keys/{id}", "get")).toEqual({ $ref: "#/components/schemas/ApiKey" });
    expect(json("201", "/v1/api-keys", "post")).toEqual({ $ref: "#/components/schemas/IssuedApiKey" });
    expect(json("200", "/v1/api-keys", "get")).toMatchObject({ type: "array", items: { $ref: "#/components/schemas/ApiKey" } });
    expect(json("200", "/v1/instances", "get").properties.data.items).toEqual({ $ref: "#/components/schemas/Instance" });
    expect(json("200", "/v1/instances/{id}/messages", "get").properties.data.items).toEqual({ $ref: "#/components/schemas/Message" });
    expect(json("200", "/v1/instances/{id}/messages/{message_id}", "get")).toEqual({ $ref: "#/components/schemas/Message" });
    expect(json("201", "/v1/instances/{id}/sandbox/inbound", "post")).toEqual({ $ref: "#/components/schemas/Message" });
    expect(json("202", "/v1/instances/{id}/messages", "post")).toEqual({ $ref: "#/components/schemas/AcceptedMessage" });
    expect(json("200", "/v1/webhook-deliveries/{id}", "get")).toEqual({ $ref: "#/components/schemas/WebhookDeliveryDetail" });
    expect(document.components.schemas.WebhookDeliveryDetail.properties.attempts.items).toEqual({ $ref: "#/components/schemas/WebhookDeliveryAttempt" });
    expect(document.components.schemas.WebhookDelivery.properties.payload).toEqual({ $ref: "#/components/schemas/EventEnvelope" });
    expect(document.paths["/v1/api-keys"]!.post!.requestBody!.content["application/json"]!.schema.properties.scopes.items).toEqual({
      $ref: "#/components/schemas/Scope",
    });
    // Nothing refers to a component that is not there.
    const refs = [...JSON.stringify(document).matchAll(/"\$ref":"#\/components\/(\w+)\/([^"]+)"/g)];
    expect(refs.length).toBeGreaterThan(200);
    for (const [, kind, name] of refs) expect((document.components as Record<string, Record<string, unknown>>)[kind!]?.[name!], `${kind}/${name}`).toBeDefined();
  });

  it("inlines the error envelope nowhere: every error answer is a shared response that refers to it", () => {
    const inlineEnvelopes = (JSON.stringify({ ...document, components: { ...document.components, schemas: {} } }).match(/"required":\["error","request_id"\]/g) ?? []).length;
    expect(inlineEnvelopes).toBe(0);
    const errorAnswers = allOperations().flatMap(([, , operation]) => Object.entries(operation.responses).filter(([status]) => /^[45]\d\d$/.test(status)));
    expect(errorAnswers.length).toBeGreaterThan(100);
    for (const [, response] of errorAnswers) expect(response.$ref).toMatch(/^#\/components\/responses\/\w+$/);
    for (const response of Object.values(document.components.responses)) {
      expect(response.content!["application/json"]!.schema).toEqual({ $ref: "#/components/schemas/Error" });
    }
    expect(Object.keys(document.components.responses)).toEqual(expect.arrayContaining(["Unauthorized", "Forbidden", "NotFound", "TooManyRequests"]));
  });

  it("documents every webhook event of the contract in `webhooks`, with its own payload schema", () => {
    expect(Object.keys(document.webhooks).sort()).toEqual([...EVENT_TYPES].sort());
    for (const event of EVENT_TYPES) {
      const post = document.webhooks[event]!.post!;
      const body = post.requestBody!.content["application/json"]!;
      const name = body.schema.$ref.replace("#/components/schemas/", "");
      const payload = document.components.schemas[name];
      expect(payload.properties.event, event).toEqual({ type: "string", enum: [event] });
      expect(payload.required).toEqual(expect.arrayContaining(["event", "event_id", "api_version", "instance_id", "occurred_at", "data"]));
      expect(body.example).toMatchObject({ event });
      expect(Object.keys(post.responses)).toContain("2XX");
    }
    expect(document.components.schemas.MessageFailedEvent.properties.data).toEqual({ $ref: "#/components/schemas/MessageEventData" });
    // An inbound message is the event's data itself, not wrapped as the other message events'.
    expect(document.components.schemas.MessageReceivedEvent.properties.data).toEqual({ $ref: "#/components/schemas/Message" });
    expect(document.components.schemas.MessageEventData.properties.message).toEqual({ $ref: "#/components/schemas/Message" });
    expect(document.components.schemas.ApiKeyRevokedEventData.properties.reason.enum).toEqual(["instance_deleted", "leaked"]);
  });

  it("declares every tag it uses, each with a description, and states servers, licence and contact", () => {
    const declared = new Map((document.tags ?? []).map((tag) => [tag.name, tag.description]));
    for (const [path, method, operation] of allOperations()) {
      expect(operation.tags?.length, `${method} ${path}`).toBeGreaterThan(0);
      for (const tag of operation.tags!) expect(declared.get(tag), `${method} ${path}: ${tag}`).toMatch(/\w/);
    }
    expect(document.servers?.[0]).toMatchObject({ url: "/" });
    expect(document.info.license?.name).toMatch(/\w/);
    expect(document.info.contact?.name).toMatch(/\w/);
  });

  it("has an example for every request body and every operation's successful answer", () => {
    for (const [path, method, operation] of allOperations()) {
      for (const [type, media] of Object.entries(operation.requestBody?.content ?? {})) {
        expect(media.example ?? media.examples, `${method} ${path} body ${type}`).toBeDefined();
      }
      for (const [status, response] of Object.entries(operation.responses).filter(([status]) => status.startsWith("2"))) {
        for (const [type, media] of Object.entries(response.content ?? {})) {
          expect(media.example, `${method} ${path} ${status} ${type}`).toBeDefined();
        }
      }
    }
    // A send has one example per kind of content: text, media and a template.
    const send = document.paths["/v1/instances/{id}/messages"]!.post!.requestBody!.content["application/json"]!;
    const sendExamples = Object.values(send.examples as Record<string, { value: { type: string; to: string } }>).map((example) => example.value);
    expect(sendExamples.map((example) => example.type)).toEqual(["text", "image", "document", "template"]);
    for (const example of sendExamples) expect(example.to).toMatch(/^\+\d+$/);
  });
});

describe("the document's webhooks and schemas, against what the server sends", () => {
  /** A validator of the document's component schemas (JSON Schema 2020-12, as in OpenAPI 3.1). */
  function componentValidator() {
    const ajv = new Ajv2020({ strict: false, allErrors: true });
    addFormats.default(ajv);
    ajv.addSchema({ $id: "openapi", components: document.components });
    return (name: string) => ajv.getSchema(`openapi#/components/schemas/${name}`)!;
  }

  it("every webhook the server writes, of every event type it could make happen here, fits that event's schema", async () => {
    // Attempts an hour away: the deliveries are read as written, never sent. The sandbox moves
    // each message on at every poll.
    const sender = await buildTestApp({
      webhooks: { allowLoopback: false, retryDelaysMs: [3_600_000], attemptTimeoutMs: 500 },
      sandboxStepMs: 0,
      workerPollMs: 10,
      rateLimit: { burst: 10_000, refillPerSecond: 1 },
    });
    try {
      const acme = await createTestCustomer(sender, "Acme");
      await insertEndpoint(sender.db, acme.customer.id, { url: "https://hooks.example.com/whatisup", events: ["*"] });
      const send = (method: string, url: string, payload?: unknown) =>
        sender.inject({ method: method as "POST", url, headers: bearer(acme.secret), ...(payload === undefined ? {} : { payload: payload as object }) });

      const expiring = await issueKey(sender, acme.secret, { name: "expiring", expires_at: new Date(Date.now() + 86_400_000).toISOString() });
      const instance = await createInstance(sender, acme.secret, "events");
      const sent: string[] = [];
      for (const to of ["+15551234567", SANDBOX_FAILING_NUMBER]) {
        const accepted = await send("POST", `/v1/instances/${instance.id}/messages`, { type: "text", to, text: "hello" });
        expect(accepted.statusCode).toBe(202);
        sent.push((accepted.json() as { id: string }).id);
      }
      // Someone answers the first one: message.received, quoting it.
      const inbound = { from: "+15557654321", text: "Thanks!", reply_to: sent[0] };
      expect((await send("POST", `/v1/instances/${instance.id}/sandbox/inbound`, inbound)).statusCode).toBe(201);
      const leaked = await issueKey(sender, acme.secret, { name: "leaked" });
      expect((await sender.inject({ method: "POST", url: "/v1/leaked-keys", payload: { keys: [leaked.secret], source: "a paste" } })).statusCode).toBe(202);
      expect((await send("DELETE", `/v1/api-keys/${expiring.id}`)).statusCode).toBe(204);
      const doomed = await createInstance(sender, acme.secret, "doomed");
      await issueKey(sender, acme.secret, { name: "bound", instance_id: doomed.id, scopes: ["messages:send"] });
      expect((await send("DELETE", `/v1/instances/${doomed.id}`)).statusCode).toBe(204);

      const expected = EVENT_TYPES.filter((event) => event !== "api_key.expired");
      const deliveries = await waitFor(async () => {
        const page = (await send("GET", "/v1/webhook-deliveries?limit=100")).json() as { data: { event: string; payload: unknown }[] };
        const seen = new Set(page.data.map((delivery) => delivery.event));
        return expected.every((event) => seen.has(event)) && page.data;
      }, "a delivery of every event type");

      const schemaOf = componentValidator();
      const list = schemaOf("WebhookDelivery");
      for (const delivery of deliveries) {
        expect(list(delivery), JSON.stringify(list.errors)).toBe(true);
        const name = document.webhooks[delivery.event]!.post!.requestBody!.content["application/json"]!.schema.$ref.replace("#/components/schemas/", "");
        const validate = schemaOf(name);
        expect(validate(delivery.payload), `${delivery.event}: ${JSON.stringify(validate.errors)}`).toBe(true);
      }
      const reasons = deliveries
        .filter((delivery) => delivery.event === "api_key.revoked")
        .map((delivery) => (delivery.payload as { data: { reason?: string } }).data.reason ?? "by name");
      expect(reasons.sort()).toEqual(["by name", "instance_deleted", "leaked"]);
      const received = deliveries.find((delivery) => delivery.event === "message.received")!.payload as { data: Record<string, unknown> };
      expect(received.data).toMatchObject({ direction: "inbound", status: "received", from: "+15557654321", text: "Thanks!", reply_to: sent[0] });
    } finally {
      await sender.close();
    }
  });

  it("the examples the document gives fit their schemas", () => {
    const schemaOf = componentValidator();
    for (const [name, schema] of Object.entries(document.components.schemas)) {
      for (const example of (schema.examples ?? []) as unknown[]) {
        const validate = schemaOf(name);
        expect(validate(example), `${name}: ${JSON.stringify(validate.errors)}`).toBe(true);
      }
    }
    // The schemas are closed: a key's metadata with its secret, or an event with more, does not fit.
    const apiKey = document.components.schemas.ApiKey.examples[0];
    expect(schemaOf("ApiKey")({ ...apiKey, secret: "zpk_live_…" })).toBe(false);
    expect(schemaOf("IssuedApiKey")({ ...apiKey, secret: "zpk_live_…" })).toBe(true);
    const sent = document.components.schemas.MessageSentEvent.examples[0];
    expect(schemaOf("MessageSentEvent")(sent)).toBe(true);
    expect(schemaOf("MessageSentEvent")({ ...sent, event: "message.read" })).toBe(false);
    expect(schemaOf("MessageSentEvent")({ ...sent, data: { ...sent.data, extra: true } })).toBe(false);
  });
});

describe("GET /docs", () => {
  it("is public HTML whose assets are all served by this server", async () => {
    const page = await app.inject({ method: "GET", url: "/docs" });
    expect(page.statusCode).toBe(200);
    expect(page.headers["content-type"]).toMatch(/^text\/html/);
    expect(page.body).not.toMatch(/https?:\/\//);
    const assets = [...page.body.matchAll(/(?:src|href)="([^"]+)"/g)].map((match) => match[1]!);
    expect(assets.length).toBeGreaterThan(2);
    for (const asset of assets) {
      expect(asset.startsWith("/docs/")).toBe(true);
      const served = await app.inject({ method: "GET", url: asset });
      expect(served.statusCode, asset).toBe(200);
    }
    expect(page.headers["content-security-policy"]).toMatch(/default-src 'self'/);
    expect(page.headers["content-security-policy"]).not.toMatch(/https?:/);
  });

  it("loads the same document (Swagger UI reads it beside the page) and no external validator", async () => {
    const initializer = await app.inject({ method: "GET", url: "/docs/static/swagger-initializer.js" });
    expect(initializer.body).toContain("validatorUrl: null");
    const json = await app.inject({ method: "GET", url: "/docs/json" });
    expect(json.json()).toEqual(document);
  });
});
