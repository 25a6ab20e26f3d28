import createFetchClient, { type Client, type ClientOptions as FetchClientOptions, type FetchResponse } from "openapi-fetch";
import type { components, paths, webhooks } from "./generated/api-types.js";

// Bundled for browsers too (the dashboard): nothing here may import node: modules.

export type { components, paths, webhooks };
/** The scopes a key can hold, for pickers: `*` holds every other one. */
export { SCOPES, type Scope } from "./generated/scopes.js";
export {
  verifyWebhookSignature,
  WebhookSignatureError,
  type VerifyWebhookSignatureOptions,
  type WebhookSignatureFailure,
} from "./webhook-signature.js";

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

/**
 * What a helper below resolves to: `{ data, error, response }`, as `client.GET`/`POST` of that
 * operation. Named, so that the declarations say it in one line instead of spelling the operation out.
 */
export type Answer<Operation extends Record<string | number, unknown>> = Promise<FetchResponse<Operation, object, `${string}/${string}`>>;

type Schemas = components["schemas"];

export type ApiKey = Schemas["ApiKey"];
/** An API key as issued: with its `secret`, shown this once. */
export type IssuedApiKey = Schemas["IssuedApiKey"];
export type Instance = Schemas["Instance"];
export type AuditEvent = Schemas["AuditEvent"];
export type WebhookEndpoint = Schemas["WebhookEndpoint"];
/** A webhook endpoint as created: with its signing `secret`, shown this once. */
export type CreatedWebhookEndpoint = Schemas["CreatedWebhookEndpoint"];
export type WebhookDelivery = Schemas["WebhookDelivery"];
/** `GET /v1/webhook-deliveries/{id}`: the delivery with its `attempts`, oldest first (the newest 100). */
export type WebhookDeliveryDetail = Schemas["WebhookDeliveryDetail"];
export type WebhookDeliveryAttempt = Schemas["WebhookDeliveryAttempt"];
/** The body of every webhook, whatever its event: `data` is read once `event` is known (see {@link WebhookEvent}). */
export type EventEnvelope = Schemas["EventEnvelope"];
/**
 * The body of a webhook, one type per event of the document's `webhooks`: narrow on `event.event`
 * and `data` is typed (`"api_key.issued"` → `data.api_key`). A server newer than this package may
 * send an event it does not list: keep a default branch.
 */
export type WebhookEvent = { [Event in keyof webhooks]: WebhookBody<webhooks[Event]> }[keyof webhooks];
type WebhookBody<PathItem> = PathItem extends { post: { requestBody: { content: { "application/json": infer Body } } } } ? Body : never;
/** A message sent or received by an instance (`direction`), with its status and the time of each state. */
export type Message = Schemas["Message"];
/** The file of an image, document, audio or video message. */
export type MessageMedia = Schemas["MessageMedia"];
/** A pre-approved template, by name and language, with its components. */
export type MessageTemplate = Schemas["MessageTemplate"];
/** The 202 of a send: the message as accepted, `queued`. */
export type AcceptedMessage = Schemas["AcceptedMessage"];
/** The body of `POST /v1/instances/{id}/messages`: `type`, `to`, and the `text`, `media` or `template` that type takes. */
export type SendMessageBody = NonNullable<paths["/v1/instances/{id}/messages"]["post"]["requestBody"]>["content"]["application/json"];
/** `GET /v1/instances/{id}/messages`: `direction`, `status`, `cursor`, `limit`. */
export type ListMessagesQuery = NonNullable<paths["/v1/instances/{id}/messages"]["get"]["parameters"]["query"]>;
/** A `message.received` webhook: its `data` is the inbound message itself (a `Message`), not wrapped. */
export type MessageReceivedEvent = Schemas["MessageReceivedEvent"];
/** `GET /v1/limits`: the calling key's bucket. */
export type Limits = Schemas["Limits"];
/** `GET /v1/api-keys/{id}/usage`: a key's requests per hour or UTC day, oldest first. */
export type ApiKeyUsage = Schemas["ApiKeyUsage"];
/** The body of every 4xx and 5xx; `error.code` is the stable contract. */
export type ErrorEnvelope = Schemas["Error"];
export type ErrorCode = ErrorEnvelope["error"]["code"];
/** `{"data": [...], "next_cursor": "…" | null}`: every paginated list. */
export type Page<Item> = { data: Item[]; next_cursor: string | null };

export type ApiKeyUsageQuery = NonNullable<paths["/v1/api-keys/{id}/usage"]["get"]["parameters"]["query"]>;

/** A key's usage (`GET /v1/api-keys/{id}/usage`); without a query, the last 30 days by day. */
export function apiKeyUsage(
  client: WhatIsUpClient,
  id: string,
  query: ApiKeyUsageQuery = {},
): Answer<paths["/v1/api-keys/{id}/usage"]["get"]> {
  return client.GET("/v1/api-keys/{id}/usage", { params: { path: { id }, query } });
}

/** `POST /v1/api-keys/{id}/roll`: `expires_in_seconds` (0 to 604800, default 0) is how long the old key keeps working. */
export type RollApiKeyOptions = NonNullable<paths["/v1/api-keys/{id}/roll"]["post"]["requestBody"]>["content"]["application/json"];

/** Replaces a key with a new one of the same settings; the 201 holds the new key's secret, shown this once. */
export function rollApiKey(client: WhatIsUpClient, id: string, options: RollApiKeyOptions = {}): Answer<paths["/v1/api-keys/{id}/roll"]["post"]> {
  return client.POST("/v1/api-keys/{id}/roll", { params: { path: { id } }, body: options });
}

/** `GET /v1/api-keys/current`: the calling key's own metadata, for any key; it spends no token. */
export function currentApiKey(client: WhatIsUpClient): Answer<paths["/v1/api-keys/current"]["get"]> {
  return client.GET("/v1/api-keys/current");
}

/** `POST /v1/leaked-keys`: `keys` (1 to 1000 tokens found in the open) and an optional `source`. */
export type LeakReport = NonNullable<paths["/v1/leaked-keys"]["post"]["requestBody"]>["content"]["application/json"];

/**
 * Reports leaked keys (docs/leaked-keys.md). It needs no key, so it takes no client: the answer,
 * 202 `{"received": n}`, is the same whether or not any entry matched.
 */
export function reportLeakedKeys({ baseUrl, fetch }: Omit<ClientOptions, "apiKey">, report: LeakReport): Answer<paths["/v1/leaked-keys"]["post"]> {
  return createFetchClient<paths>({ baseUrl, ...(fetch ? { fetch } : {}) }).POST("/v1/leaked-keys", { body: report });
}
