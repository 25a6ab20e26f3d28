import createFetchClient, { type Client, type ClientOptions as FetchClientOptions } from "openapi-fetch";
import type { paths } from "./generated/api-types.js";

// Bundled for browsers too (the dashboard): nothing here may import node: modules.

export type { paths };
/** The scopes a key can hold, for pickers: `*` holds every other one. */
export { SCOPES, type Scope } from "./generated/scopes.js";

export type WhatIsUpClient = Client<paths>;

export type ClientOptions = {
  /** The server's origin, e.g. `http://127.0.0.1:8080` or, in a browser, `location.origin`. */
  baseUrl: string;
  /** An API key's secret (`zpk_live_…`). */
  apiKey: string;
  /** Called with a `Request`; defaults to the global `fetch` when the client is created. */
  fetch?: FetchClientOptions["fetch"];
};

/**
 * A typed client for the `/v1` API: `client.GET("/v1/api-keys")` answers `{ data, error, response }`,
 * where `error` is the error envelope on any 4xx or 5xx; it does not throw on them.
 */
export function createClient({ baseUrl, apiKey, fetch }: ClientOptions): WhatIsUpClient {
  return createFetchClient<paths>({
    baseUrl,
    headers: { Authorization: `Bearer ${apiKey}` },
    ...(fetch ? { fetch } : {}),
  });
}

// The document inlines its schemas (no components.schemas), so the resources are named here
// from the operations that answer them.
type Json<Path extends keyof paths, Method extends "get" | "post", Status extends number> =
  paths[Path][Method] extends { responses: { [S in Status]: { content: { "application/json": infer Body } } } } ? Body : never;

export type ApiKey = Json<"/v1/api-keys/{id}", "get", 200>;
/** An API key as issued: with its `secret`, shown this once. */
export type IssuedApiKey = Json<"/v1/api-keys", "post", 201>;
export type Instance = Json<"/v1/instances/{id}", "get", 200>;
export type AuditEvent = Json<"/v1/audit-events", "get", 200>["data"][number];
export type WebhookEndpoint = Json<"/v1/webhook-endpoints/{id}", "get", 200>;
export type WebhookDelivery = Json<"/v1/webhook-deliveries/{id}", "get", 200>;
/** The body of every webhook: the event envelope, as a delivery stores and sends it. */
export type EventEnvelope = WebhookDelivery["payload"];
/** A webhook endpoint as created: with its signing `secret`, shown this once. */
export type CreatedWebhookEndpoint = Json<"/v1/webhook-endpoints", "post", 201>;
/** The 202 of a send: the message as accepted, `queued`. */
export type AcceptedMessage = Json<"/v1/instances/{id}/messages", "post", 202>;
/** `GET /v1/limits`: the calling key's bucket. */
export type Limits = Json<"/v1/limits", "get", 200>;
/** `GET /v1/api-keys/{id}/usage`: a key's requests per hour or UTC day, oldest first. */
export type ApiKeyUsage = Json<"/v1/api-keys/{id}/usage", "get", 200>;
export type ApiKeyUsageQuery = NonNullable<paths["/v1/api-keys/{id}/usage"]["get"]["parameters"]["query"]>;

/** A key's usage (`GET /v1/api-keys/{id}/usage`); without a query, the last 30 days by day. */
export function apiKeyUsage(client: WhatIsUpClient, id: string, query: ApiKeyUsageQuery = {}) {
  return client.GET("/v1/api-keys/{id}/usage", { params: { path: { id }, query } });
}
/** `POST /v1/api-keys/{id}/roll`: `expires_in_seconds` (0 to 604800, default 0) is how long the old key keeps working. */
export type RollApiKeyOptions = NonNullable<paths["/v1/api-keys/{id}/roll"]["post"]["requestBody"]>["content"]["application/json"];

/** Replaces a key with a new one of the same settings; the 201 holds the new key's secret, shown this once. */
export function rollApiKey(client: WhatIsUpClient, id: string, options: RollApiKeyOptions = {}) {
  return client.POST("/v1/api-keys/{id}/roll", { params: { path: { id } }, body: options });
}

/** `GET /v1/api-keys/current`: the calling key's own metadata, for any key; it spends no token. */
export function currentApiKey(client: WhatIsUpClient) {
  return client.GET("/v1/api-keys/current");
}
/** `POST /v1/leaked-keys`: `keys` (1 to 1000 tokens found in the open) and an optional `source`. */
export type LeakReport = NonNullable<paths["/v1/leaked-keys"]["post"]["requestBody"]>["content"]["application/json"];

/**
 * Reports leaked keys (docs/leaked-keys.md). It needs no key, so it takes no client: the answer,
 * 202 `{"received": n}`, is the same whether or not any entry matched.
 */
export function reportLeakedKeys({ baseUrl, fetch }: Omit<ClientOptions, "apiKey">, report: LeakReport) {
  return createFetchClient<paths>({ baseUrl, ...(fetch ? { fetch } : {}) }).POST("/v1/leaked-keys", { body: report });
}
/** The body of every 4xx and 5xx; `error.code` is the stable contract. */
export type ErrorEnvelope = Json<"/v1/api-keys", "get", 401>;
export type ErrorCode = ErrorEnvelope["error"]["code"];
/** `{"data": [...], "next_cursor": "…" | null}`: every paginated list. */
export type Page<Item> = { data: Item[]; next_cursor: string | null };
