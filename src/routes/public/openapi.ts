import { readFileSync } from "node:fs";
import swagger, { type SwaggerTransformObject } from "@fastify/swagger";
import swaggerUi from "@fastify/swagger-ui";
import type { FastifySchema, RouteOptions } from "fastify";
import Type from "typebox";
import type { RouteAccess } from "../../http/route-access.js";
import type { App } from "../../http/app-types.js";
import { errorResponses } from "../../http/schemas.js";
import {
  collectContractSchemas,
  collectNamedSchemas,
  referencing,
  withExamples,
  withOptionalBodies,
  withSharedResponses,
  withWebhooks,
  type OpenApiDocument,
} from "./openapi-document.js";

export const OPENAPI_PATH = "/openapi.json";
export const DOCS_PREFIX = "/docs";
export const BEARER_SCHEME = "bearer";

const packageJson = JSON.parse(readFileSync(new URL("../../../package.json", import.meta.url), "utf8")) as { version: string; license: string };

/**
 * Nothing on /docs may come from another host: the page, its scripts and its styles are the
 * files of @fastify/swagger-ui, and the browser is told to refuse anything else.
 */
const DOCS_CSP = [
  "default-src 'self'",
  "script-src 'self'",
  // Swagger UI sets inline styles on its elements.
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data:",
  "font-src 'self' data:",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'self'",
  "frame-ancestors 'self'",
].join("; ");

const INSTANCE_SENTENCES: Record<RouteAccess["instances"], string> = {
  multi: "Instance-bound keys are refused (403 `instance_scoped_key`).",
  param: "An instance-bound key may act only on its own instance (403 `instance_access_denied` for another of the customer's).",
  narrowed: "An instance-bound key sees only its own instance's rows.",
  none: "Any key, instance-bound or not.",
};

type Schema = Record<string, unknown> & { hide?: boolean; tags?: string[]; description?: string; response?: Record<string, unknown> };

/** Every tag an operation may carry, in the order the reference shows them. */
const TAGS = [
  { name: "api-keys", description: "The bearer keys that authenticate every `/v1` request: issue, list, roll, revoke, and read their usage." },
  { name: "instances", description: "Instances: the WhatsApp numbers a customer sends from, in the sandbox or through the WhatsApp Cloud API." },
  { name: "messages", description: "Messages both ways: send text, media or a template (202 at once; the next states arrive as webhook events), read them back, and make a sandbox instance receive one." },
  { name: "webhook-endpoints", description: "The URLs that receive the customer's webhook events, each with its own signing secret." },
  { name: "webhook-deliveries", description: "Each event sent to each endpoint, with its attempts: read them, and retry a failed one." },
  { name: "audit-events", description: "The customer's append-only audit log: every change, who made it and from where." },
  { name: "limits", description: "The rate-limit headroom of the calling key and of its customer." },
  { name: "leaked-keys", description: "Reporting keys found in the open: anyone may, without a key; every reported key that exists is revoked." },
  { name: "operations", description: "For the people who run the server: liveness, readiness and metrics. No key needed." },
  { name: "reference", description: "This document, its interactive reference and the dashboard. No key needed." },
  { name: "whatsapp-callbacks", description: "The WhatsApp Cloud API's calls to this server (Meta's, not yours): its subscription handshake, and the callbacks that carry statuses and inbound messages." },
  { name: "webhook-events", description: "What this server POSTs to your webhook endpoints: one body per event type (docs/webhooks.md)." },
];

/** package.json's `license` as OpenAPI states it; npm's `UNLICENSED` is proprietary, not a licence. */
function licenseOf(license: string): { name: string; identifier: string } {
  return license === "UNLICENSED"
    ? { name: "Proprietary: all rights reserved", identifier: "LicenseRef-Proprietary" }
    : { name: license, identifier: license };
}

/**
 * Generates the OpenAPI 3.1 document from the route schemas that validate requests, serves it at
 * `/openapi.json`, and the Swagger UI reference, from the package's own files, at `/docs`. Both
 * public, at the root. Must be awaited before any route is registered: the document collects
 * routes through `onRoute`.
 */
export async function registerOpenApi(app: App): Promise<void> {
  // The named schemas of every route, collected as routes are registered; the document, built
  // on its first request (after ready), finds them all in `schemas`, sorted by name.
  const named = new Map<string, { source: Record<string, unknown>; component: unknown }>();
  collectContractSchemas(named);
  app.addHook("onRoute", (route) => {
    const schema = route.schema as Schema | undefined;
    if (schema === undefined || schema.hide) return;
    for (const part of [schema.body, schema.querystring, schema.params, schema.headers, ...Object.values(schema.response ?? {})]) {
      collectNamedSchemas(part, named);
    }
  });
  const schemas: Record<string, unknown> = {};
  app.addHook("onReady", (done) => {
    for (const [name, { component }] of [...named].sort(([a], [b]) => a.localeCompare(b))) schemas[name] = component;
    done();
  });

  await app.register(swagger, {
    openapi: {
      openapi: "3.1.0",
      info: {
        title: "WhatIsUp.dev API",
        version: packageJson.version,
        description:
          "A WhatsApp messaging API for developers. Every `/v1` route takes `Authorization: Bearer <key>`; " +
          "every 4xx and 5xx answers with the error envelope (`Error`), whose `error.code` is the stable contract.",
        contact: { name: "WhatIsUp.dev maintainers (SECURITY.md says how to report a vulnerability)" },
        license: licenseOf(packageJson.license),
      },
      servers: [
        { url: "/", description: "The server this document was fetched from" },
        { url: "http://127.0.0.1:8080", description: "A server started locally with the default HOST and PORT" },
      ],
      tags: TAGS,
      components: {
        // JSON Schema as TypeBox writes it, which @fastify/swagger converts; its types expect the result.
        schemas: schemas as Record<string, never>,
        securitySchemes: {
          [BEARER_SCHEME]: {
            type: "http",
            scheme: "bearer",
            bearerFormat: "zpk_live_… or zpk_test_…",
            description: "An API key. The scopes listed on each operation are those the key must hold (or `*`).",
          },
        },
      },
    },
    // A schema with an `$id` is named after it (the default names `def-0`, `def-1`, … and adds a title).
    refResolver: { buildLocalReference: (json, _baseUri, _fragment, index) => (typeof json.$id === "string" ? json.$id : `def-${index}`) },
    transform: ({ schema, url, route }) => ({
      schema: withReferences(documentedSchema(schema as Schema | undefined, url, route)) as FastifySchema,
      // Swagger UI's page is registered as `/docs/`; it answers `/docs` too, the address we give.
      url: url === `${DOCS_PREFIX}/` ? DOCS_PREFIX : url,
    }),
    transformObject: (documents) => {
      const { openapiObject } = documents as { openapiObject: OpenApiDocument };
      openapiObject.components = { ...openapiObject.components, headers: HEADERS };
      const document = withWebhooks(withExamples(withSharedResponses(withOptionalBodies(openapiObject))));
      return document as ReturnType<SwaggerTransformObject>;
    },
  });

  app.get(
    OPENAPI_PATH,
    {
      schema: {
        operationId: "getOpenApiDocument",
        summary: "This OpenAPI 3.1 document",
        tags: ["reference"],
        response: {
          200: Type.Object(
            { openapi: Type.String() },
            { additionalProperties: true, description: "The OpenAPI document", examples: [{ openapi: "3.1.0", info: { title: "WhatIsUp.dev API" } }] },
          ),
          ...errorResponses("internal_error"),
        },
      },
    },
    async () => app.swagger() as unknown as { openapi: string },
  );

  await app.register(swaggerUi, {
    routePrefix: DOCS_PREFIX,
    staticCSP: DOCS_CSP,
    theme: { title: "WhatIsUp.dev API reference" },
    uiConfig: { deepLinking: true, defaultModelsExpandDepth: 0 },
  });
}

/** The route's schema as documented: tags, and for /v1 the bearer requirement with its scope. */
function documentedSchema(schema: Schema | undefined, url: string, route: RouteOptions): Schema | undefined {
  if ((url === DOCS_PREFIX || url === `${DOCS_PREFIX}/`) && methodsOf(route).includes("GET")) {
    // Swagger UI hides its own routes; the page itself is part of the API's surface.
    return publicSchema({
      operationId: "getApiReference",
      summary: "Interactive API reference (Swagger UI, served locally)",
      tags: ["reference"],
      response: {
        200: {
          description: "The HTML page",
          content: { "text/html": { schema: { type: "string" }, example: "<!doctype html><html lang=\"en\">…</html>" } },
        },
      },
    });
  }
  if (schema === undefined || schema.hide) return schema;
  const tags = schema.tags ?? [tagOf(url)];
  if (!url.startsWith("/v1/") || route.config?.public) return publicSchema({ ...schema, tags });
  const access = route.config?.access;
  if (!access) throw new Error(`${url} declares no access policy`);
  const scopeSentence =
    access.scope === null
      ? "Requires any valid API key (no scope)."
      : `Requires an API key holding the scope \`${access.scope}\` (or \`*\`).`;
  return {
    ...schema,
    tags,
    description: [schema.description, scopeSentence, INSTANCE_SENTENCES[access.instances]].filter(Boolean).join("\n\n"),
    security: [{ [BEARER_SCHEME]: access.scope === null ? [] : [access.scope] }],
    "x-required-scope": access.scope,
    "x-instance-access": access.instances,
  };
}

function publicSchema(schema: Schema): Schema {
  return { ...schema, description: [schema.description, "Public: takes no API key."].filter(Boolean).join("\n\n"), security: [] };
}

/** The schema with every named subschema, a part's root included, as a `$ref` to its component. */
function withReferences(schema: Schema | undefined): Schema | undefined {
  if (schema === undefined || schema.hide) return schema;
  const documented: Schema = { ...schema };
  for (const part of ["body", "querystring", "params", "headers"]) {
    if (documented[part] !== undefined) documented[part] = referencing(documented[part]);
  }
  if (schema.response) {
    documented.response = Object.fromEntries(Object.entries(schema.response).map(([status, response]) => [status, referencing(response)]));
  }
  return documented;
}

function methodsOf(route: RouteOptions): string[] {
  return (Array.isArray(route.method) ? route.method : [route.method]).map(String);
}

/** `/v1/api-keys/:id` → `api-keys`; the public routes are `operations`. */
function tagOf(url: string): string {
  const segments = url.split("/").filter(Boolean);
  return segments[0] === "v1" && segments[1] ? segments[1] : "operations";
}

const HEADERS = {
  "X-Request-Id": { description: "The request's id (`req_…`), also in the error envelope's `request_id`.", schema: { type: "string" } },
  "X-RateLimit-Limit": { description: "The key's bucket capacity.", schema: { type: "integer" } },
  "X-RateLimit-Remaining": { description: "Tokens left after this request.", schema: { type: "integer" } },
  "X-RateLimit-Reset": { description: "Unix seconds when the bucket is full again.", schema: { type: "integer" } },
  "Retry-After": { description: "Seconds to wait before retrying.", schema: { type: "integer" } },
  "WWW-Authenticate": { description: "`Bearer realm=\"whatisup\"` (RFC 6750).", schema: { type: "string" } },
};
