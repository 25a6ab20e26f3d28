import { readFileSync } from "node:fs";
import swagger, { type SwaggerTransformObject } from "@fastify/swagger";
import swaggerUi from "@fastify/swagger-ui";
import type { FastifySchema, RouteOptions } from "fastify";
import Type from "typebox";
import type { RouteAccess } from "../../http/route-access.js";
import type { App } from "../../http/app-types.js";
import { errorResponses } from "../../http/schemas.js";

export const OPENAPI_PATH = "/openapi.json";
export const DOCS_PREFIX = "/docs";
export const BEARER_SCHEME = "bearer";

const packageJson = JSON.parse(readFileSync(new URL("../../../package.json", import.meta.url), "utf8")) as { version: string };

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

type Schema = Record<string, unknown> & { hide?: boolean; tags?: string[]; description?: string };

/**
 * Generates the OpenAPI 3.1 document from the route schemas that validate requests, serves it at
 * `/openapi.json`, and the Swagger UI reference, from the package's own files, at `/docs`. Both
 * public, at the root. Must be awaited before any route is registered: the document collects
 * routes through `onRoute`.
 */
export async function registerOpenApi(app: App): Promise<void> {
  await app.register(swagger, {
    openapi: {
      openapi: "3.1.0",
      info: {
        title: "WhatIsUp.dev API",
        version: packageJson.version,
        description:
          "A WhatsApp messaging API for developers. Every `/v1` route takes `Authorization: Bearer <key>`; " +
          "every 4xx and 5xx answers with the error envelope, whose `error.code` is the stable contract.",
      },
      components: {
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
    transform: ({ schema, url, route }) => ({
      schema: documentedSchema(schema as Schema | undefined, url, route) as FastifySchema,
      // Swagger UI's page is registered as `/docs/`; it answers `/docs` too, the address we give.
      url: url === `${DOCS_PREFIX}/` ? DOCS_PREFIX : url,
    }),
    transformObject: (documents) => {
      const { openapiObject } = documents as { openapiObject: Parameters<typeof withResponseHeaders>[0] };
      return withOptionalBodies(withResponseHeaders(openapiObject)) as ReturnType<SwaggerTransformObject>;
    },
  });

  app.get(
    OPENAPI_PATH,
    {
      schema: {
        summary: "This OpenAPI 3.1 document",
        tags: ["reference"],
        response: {
          200: Type.Object({ openapi: Type.String() }, { additionalProperties: true, description: "The OpenAPI document" }),
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
    return {
      summary: "Interactive API reference (Swagger UI, served locally)",
      tags: ["reference"],
      response: { 200: { description: "The HTML page", content: { "text/html": { schema: { type: "string" } } } } },
    };
  }
  if (schema === undefined || schema.hide) return schema;
  const tags = schema.tags ?? [tagOf(url)];
  if (!url.startsWith("/v1/") || route.config?.public) return { ...schema, tags, security: [] };
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

function methodsOf(route: RouteOptions): string[] {
  return (Array.isArray(route.method) ? route.method : [route.method]).map(String);
}

/** `/v1/api-keys/:id` → `api-keys`; the public routes are `operations`. */
function tagOf(url: string): string {
  const segments = url.split("/").filter(Boolean);
  return segments[0] === "v1" && segments[1] ? segments[1] : "operations";
}

type OpenApiOperation = {
  security?: unknown[];
  responses?: Record<string, { headers?: Record<string, unknown> }>;
  requestBody?: { required?: boolean };
  "x-body-optional"?: boolean;
};
type OpenApiDocument = {
  paths?: Record<string, Record<string, OpenApiOperation>>;
  components?: Record<string, Record<string, unknown>>;
};

const HEADERS = {
  "X-Request-Id": { description: "The request's id (`req_…`), also in the error envelope's `request_id`.", schema: { type: "string" } },
  "X-RateLimit-Limit": { description: "The key's bucket capacity.", schema: { type: "integer" } },
  "X-RateLimit-Remaining": { description: "Tokens left after this request.", schema: { type: "integer" } },
  "X-RateLimit-Reset": { description: "Unix seconds when the bucket is full again.", schema: { type: "integer" } },
  "Retry-After": { description: "Seconds to wait before retrying.", schema: { type: "integer" } },
  "WWW-Authenticate": { description: "`Bearer realm=\"whatisup\"` (RFC 6750).", schema: { type: "string" } },
};
const RATE_LIMIT_HEADERS = ["X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset"];

/**
 * @fastify/swagger marks every request body required. A route whose schema says
 * `"x-body-optional": true` takes none as `{}`: its body is documented as optional.
 */
function withOptionalBodies(document: OpenApiDocument): OpenApiDocument {
  for (const operations of Object.values(document.paths ?? {})) {
    for (const operation of Object.values(operations)) {
      if (operation["x-body-optional"] && operation.requestBody) operation.requestBody.required = false;
    }
  }
  return document;
}

/**
 * Response headers, which route schemas do not declare: X-Request-Id on every answer; on
 * authenticated operations the X-RateLimit-* trio (set once the key is known, so not on 401),
 * Retry-After on 429 and WWW-Authenticate on 401.
 */
function withResponseHeaders(document: OpenApiDocument): OpenApiDocument {
  document.components = { ...document.components, headers: { ...document.components?.headers, ...HEADERS } };
  const ref = (name: string) => ({ $ref: `#/components/headers/${name}` });
  for (const operations of Object.values(document.paths ?? {})) {
    for (const operation of Object.values(operations)) {
      const authenticated = (operation.security?.length ?? 0) > 0;
      for (const [status, response] of Object.entries(operation.responses ?? {})) {
        const headers: Record<string, unknown> = { ...response.headers, "X-Request-Id": ref("X-Request-Id") };
        if (authenticated && status !== "401") for (const name of RATE_LIMIT_HEADERS) headers[name] = ref(name);
        if (status === "429") headers["Retry-After"] = ref("Retry-After");
        if (status === "401") headers["WWW-Authenticate"] = ref("WWW-Authenticate");
        response.headers = headers;
      }
    }
  }
  return document;
}
