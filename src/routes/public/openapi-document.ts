import { ERROR_STATUS, ErrorEnvelope, type ErrorCode } from "../../contract/errors.js";
import { EVENT_SCHEMAS } from "../../contract/webhook-event.js";

/**
 * How the OpenAPI document names what the route schemas share. A contract schema with an `$id`
 * (`ApiKey`, `Error`, …) validates and serializes inline, as any schema; in the document it is
 * one component, `#/components/schemas/<$id>`, and every use of it a `$ref` to that.
 */

type JsonSchema = Record<string, unknown>;
type Media = { schema?: JsonSchema; example?: unknown; examples?: unknown };
type Response = { $ref?: string; description?: string; headers?: Record<string, unknown>; content?: Record<string, Media> };
export type OpenApiOperation = {
  operationId?: string;
  security?: unknown[];
  responses?: Record<string, Response>;
  requestBody?: { required?: boolean; content?: Record<string, Media> };
  "x-body-optional"?: boolean;
};
export type OpenApiDocument = {
  paths?: Record<string, Record<string, OpenApiOperation>>;
  webhooks?: Record<string, Record<string, unknown>>;
  components?: Record<string, Record<string, unknown>>;
};

export const SCHEMAS_PREFIX = "#/components/schemas/";
const ERROR_SCHEMA_REF = `${SCHEMAS_PREFIX}Error`;

// The keywords whose value is a subschema, a list of them, or a map of names to them: a walk
// through these never mistakes data (`examples`, `enum`, `default`) for a schema.
const SUBSCHEMA = ["items", "additionalItems", "additionalProperties", "contains", "propertyNames", "not", "if", "then", "else"];
const SUBSCHEMA_LISTS = ["anyOf", "allOf", "oneOf", "prefixItems"];
const SUBSCHEMA_MAPS = ["properties", "patternProperties", "$defs", "definitions", "dependentSchemas"];

function isObject(value: unknown): value is JsonSchema {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function nameOf(schema: JsonSchema): string | undefined {
  const id = schema.$id;
  return typeof id === "string" && !id.startsWith("#") ? id : undefined;
}

/** A copy of `schema` whose named subschemas are `$ref`s; the root too unless `keepRoot`. */
export function referencing(schema: unknown, keepRoot = false): unknown {
  if (!isObject(schema)) return schema;
  const name = nameOf(schema);
  if (name !== undefined && !keepRoot) {
    return { $ref: `${SCHEMAS_PREFIX}${name}`, ...(typeof schema.description === "string" ? { description: schema.description } : {}) };
  }
  const copy: JsonSchema = { ...schema };
  for (const key of SUBSCHEMA) if (isObject(copy[key])) copy[key] = referencing(copy[key]);
  if (Array.isArray(copy.items)) copy.items = copy.items.map((item) => referencing(item));
  for (const key of SUBSCHEMA_LISTS) {
    if (Array.isArray(copy[key])) copy[key] = (copy[key] as unknown[]).map((member) => referencing(member));
  }
  for (const key of SUBSCHEMA_MAPS) {
    if (isObject(copy[key])) copy[key] = Object.fromEntries(Object.entries(copy[key]).map(([property, sub]) => [property, referencing(sub)]));
  }
  return copy;
}

/**
 * Every named schema in `schema`, the root included, each as its component: its own named
 * subschemas referenced. Two different schemas under one name are refused: one would be lost.
 * A root's description and examples may differ (an error response's names its codes); the
 * first one seen is the component's.
 */
export function collectNamedSchemas(schema: unknown, into: Map<string, { source: JsonSchema; component: unknown }>): void {
  if (!isObject(schema)) return;
  const name = nameOf(schema);
  if (name !== undefined) {
    const known = into.get(name);
    if (known === undefined) into.set(name, { source: schema, component: referencing(schema, true) });
    else if (known.source !== schema && shapeOf(known.source) !== shapeOf(schema)) {
      throw new Error(`two different schemas have the $id ${name}: give one of them another name`);
    }
  }
  for (const key of SUBSCHEMA) collectNamedSchemas(schema[key], into);
  if (Array.isArray(schema.items)) for (const item of schema.items) collectNamedSchemas(item, into);
  for (const key of SUBSCHEMA_LISTS) if (Array.isArray(schema[key])) for (const member of schema[key] as unknown[]) collectNamedSchemas(member, into);
  for (const key of SUBSCHEMA_MAPS) if (isObject(schema[key])) for (const sub of Object.values(schema[key])) collectNamedSchemas(sub, into);
}

function shapeOf({ description: _description, examples: _examples, ...shape }: JsonSchema): string {
  return JSON.stringify(shape);
}

/** The error envelope as the contract describes it, and the webhook events' payloads (`MessageSentEvent`, …). */
export function collectContractSchemas(into: Map<string, { source: JsonSchema; component: unknown }>): void {
  collectNamedSchemas(ErrorEnvelope, into);
  for (const { schema } of EVENT_SCHEMAS) collectNamedSchemas(schema, into);
}

// Fixed, not node:http's STATUS_CODES: those texts change between Node.js versions (413), and the
// names become type names in every generated client.
const STATUS_NAMES: Record<number, string> = {
  400: "BadRequest",
  401: "Unauthorized",
  403: "Forbidden",
  404: "NotFound",
  405: "MethodNotAllowed",
  408: "RequestTimeout",
  409: "Conflict",
  413: "PayloadTooLarge",
  415: "UnsupportedMediaType",
  422: "UnprocessableContent",
  429: "TooManyRequests",
  500: "InternalServerError",
  503: "ServiceUnavailable",
};

const headerRef = (name: string) => ({ $ref: `#/components/headers/${name}` });
const RATE_LIMIT_HEADERS = ["X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset"];

/**
 * The headers of an answer: X-Request-Id on every one; on authenticated operations the
 * X-RateLimit-* trio (set once the key is known, so not on 401); Retry-After on 429 and 503
 * (`database_unavailable`); WWW-Authenticate on 401.
 */
function headersOf(status: string, authenticated: boolean): Record<string, unknown> {
  const headers: Record<string, unknown> = { "X-Request-Id": headerRef("X-Request-Id") };
  if (authenticated && status !== "401") for (const name of RATE_LIMIT_HEADERS) headers[name] = headerRef(name);
  if (status === "429" || status === "503") headers["Retry-After"] = headerRef("Retry-After");
  if (status === "401") headers["WWW-Authenticate"] = headerRef("WWW-Authenticate");
  return headers;
}

function codesWithStatus(status: number): ErrorCode[] {
  return (Object.keys(ERROR_STATUS) as ErrorCode[]).filter((code) => ERROR_STATUS[code] === status);
}

/**
 * Every error answer becomes a `$ref` to one shared response per status (and per kind of
 * operation: the authenticated ones carry the rate-limit headers), keeping the operation's own
 * description, which names the codes that operation can answer. Then every other answer gets
 * its headers.
 */
export function withSharedResponses(document: OpenApiDocument): OpenApiDocument {
  const shared: Record<string, unknown> = {};
  for (const operations of Object.values(document.paths ?? {})) {
    for (const operation of Object.values(operations)) {
      const authenticated = (operation.security?.length ?? 0) > 0;
      for (const [status, response] of Object.entries(operation.responses ?? {})) {
        // Whatever the operation produces (`text/plain` for /metrics), its errors are the JSON envelope.
        if (!Object.values(response.content ?? {}).some((media) => media.schema?.$ref === ERROR_SCHEMA_REF)) {
          response.headers = { ...response.headers, ...headersOf(status, authenticated) };
          continue;
        }
        const statusName = STATUS_NAMES[Number(status)];
        if (statusName === undefined) throw new Error(`no name for the shared ${status} response: add one to STATUS_NAMES`);
        const name = authenticated ? statusName : `Public${statusName}`;
        shared[name] ??= sharedErrorResponse(Number(status), authenticated);
        operation.responses![status] = { $ref: `#/components/responses/${name}`, description: response.description! };
      }
    }
  }
  document.components = { ...document.components, responses: sortedByName(shared) };
  return document;
}

function sharedErrorResponse(status: number, authenticated: boolean): Response {
  const codes = codesWithStatus(status);
  return {
    description: `The error envelope; \`error.code\` is one of ${codes.map((code) => `\`${code}\``).join(", ")}.`,
    headers: headersOf(String(status), authenticated),
    content: {
      "application/json": {
        schema: { $ref: ERROR_SCHEMA_REF },
        example: {
          error: { code: codes[0], message: "What went wrong, for a person: branch on `error.code`, never on this text." },
          request_id: "req_01JT4B7Z9X2K8Q5R3M6N1P0VWS",
        },
      },
    },
  };
}

function sortedByName<Value>(map: Record<string, Value>): Record<string, Value> {
  return Object.fromEntries(Object.entries(map).sort(([a], [b]) => a.localeCompare(b)));
}

/** The request body and the successful answer of every operation carry an example. */
export function withExamples(document: OpenApiDocument): OpenApiDocument {
  const example = exampleMaker(document);
  for (const operations of Object.values(document.paths ?? {})) {
    for (const operation of Object.values(operations)) {
      const success = Object.entries(operation.responses ?? {}).filter(([status]) => status.startsWith("2"));
      const medias = [...Object.values(operation.requestBody?.content ?? {}), ...success.flatMap(([, response]) => Object.values(response.content ?? {}))];
      for (const media of medias) {
        if (media.example === undefined && media.examples === undefined && media.schema) media.example = example(media.schema);
      }
    }
  }
  return document;
}

const SAMPLE_UUID = "0198c0de-4b1a-7c3e-9f00-5a1b2c3d4e5f";
const SAMPLE_TIMESTAMP = "2026-11-26T14:00:00.000Z";

/**
 * An example of a schema, built from the examples the schemas carry: a named schema gives its
 * own, an object is made of its properties' examples, a list holds one. What carries none gets
 * a plain value of its type (a non-null one where null is allowed).
 */
function exampleMaker(document: OpenApiDocument): (schema: JsonSchema) => unknown {
  const components = (document.components?.schemas ?? {}) as Record<string, JsonSchema>;
  const example = (schema: JsonSchema): unknown => {
    if (typeof schema.$ref === "string") {
      const target = components[schema.$ref.slice(SCHEMAS_PREFIX.length)];
      if (!target) throw new Error(`unresolved ${schema.$ref}`);
      return example(target);
    }
    if (schema.example !== undefined) return schema.example;
    if (Array.isArray(schema.examples) && schema.examples.length > 0) return schema.examples[0];
    if (schema.const !== undefined) return schema.const;
    if (Array.isArray(schema.enum)) return schema.enum.find((value) => value !== null) ?? schema.enum[0];
    const members = (schema.anyOf ?? schema.oneOf) as JsonSchema[] | undefined;
    if (members) return example(members.find((member) => member.type !== "null") ?? members[0]!);
    const types = Array.isArray(schema.type) ? (schema.type as string[]) : [schema.type as string];
    const type = types.find((name) => name !== "null") ?? types[0];
    switch (type) {
      case "object":
        return Object.fromEntries(Object.entries((schema.properties ?? {}) as Record<string, JsonSchema>).map(([name, sub]) => [name, example(sub)]));
      case "array":
        return isObject(schema.items) ? [example(schema.items)] : [];
      case "integer":
      case "number":
        return typeof schema.minimum === "number" ? schema.minimum : 1;
      case "boolean":
        return true;
      case "null":
        return null;
      case "string":
        if (schema.format === "uuid") return SAMPLE_UUID;
        if (schema.format === "date-time") return SAMPLE_TIMESTAMP;
        return "text";
      default:
        return {};
    }
  };
  return example;
}

const WEBHOOK_HEADERS: { name: string; description: string; schema: (event: string) => JsonSchema }[] = [
  { name: "X-WhatIsUp-Event", description: "The event type, as in the body", schema: (event) => ({ type: "string", enum: [event] }) },
  { name: "X-WhatIsUp-Event-Id", description: "The event's id (a ULID), as in the body", schema: () => ({ type: "string" }) },
  {
    name: "X-WhatIsUp-Delivery",
    description: "This delivery's id: one event to one endpoint, the same on every retry",
    schema: () => ({ type: "string", format: "uuid" }),
  },
  {
    name: "X-WhatIsUp-Signature",
    description: "`t=<unix seconds>,v1=<hex HMAC-SHA256 of t, a dot and the raw body, under the endpoint's secret>`",
    schema: () => ({ type: "string", pattern: "^t=[0-9]+(,v1=[0-9a-f]{64})+$" }),
  },
];

/** `message.sent` → `messageSentWebhook`. */
function webhookOperationId(event: string): string {
  const words = event.split(/[._]/);
  return words.map((word, index) => (index === 0 ? word : word[0]!.toUpperCase() + word.slice(1))).join("") + "Webhook";
}

/**
 * The top-level `webhooks` of OpenAPI 3.1: one POST per event type of the contract, whose body is
 * that event's schema. docs/webhooks.md says the rest (retries, deduplication).
 */
export function withWebhooks(document: OpenApiDocument): OpenApiDocument {
  const example = exampleMaker(document);
  const webhooks: Record<string, Record<string, unknown>> = {};
  for (const { event, summary, schema } of EVENT_SCHEMAS) {
    const name = nameOf(schema as unknown as JsonSchema)!;
    webhooks[event] = {
      post: {
        operationId: webhookOperationId(event),
        summary,
        description:
          `Sent to every webhook endpoint subscribed to \`${event}\` (or \`*\`) that covers the event's instance. ` +
          "Verify `X-WhatIsUp-Signature` against the raw body before parsing it, answer 2xx at once, and deduplicate by `event_id`: " +
          "delivery is at least once (docs/webhooks.md).",
        tags: ["webhook-events"],
        security: [],
        parameters: WEBHOOK_HEADERS.map((header) => ({
          name: header.name,
          in: "header",
          required: true,
          description: header.description,
          schema: header.schema(event),
        })),
        requestBody: {
          required: true,
          content: { "application/json": { schema: { $ref: `${SCHEMAS_PREFIX}${name}` }, example: example({ $ref: `${SCHEMAS_PREFIX}${name}` }) } },
        },
        responses: {
          "2XX": { description: "Received: any 2xx ends the delivery as `success`; the body is ignored" },
          "4XX": { description: "A failed attempt, retried up to six attempts in all (docs/webhooks.md, \"Retries\")" },
          "5XX": { description: "A failed attempt, retried like any other (no answer within the timeout counts as one too)" },
        },
      },
    };
  }
  document.webhooks = webhooks;
  return document;
}

/** @fastify/swagger marks every request body required; a route whose schema says `"x-body-optional": true` takes none as `{}`. */
export function withOptionalBodies(document: OpenApiDocument): OpenApiDocument {
  for (const operations of Object.values(document.paths ?? {})) {
    for (const operation of Object.values(operations)) {
      if (operation["x-body-optional"] && operation.requestBody) operation.requestBody.required = false;
    }
  }
  return document;
}
