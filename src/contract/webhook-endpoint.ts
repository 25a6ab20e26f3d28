import Type, { type Static } from "typebox";
import { Timestamp, Uuid } from "./common.js";
import { ALL_EVENTS, EVENT_TYPES } from "./webhook-event.js";

const SubscribedEvent = Type.Enum([...EVENT_TYPES, ALL_EVENTS], { description: `An event type, or "${ALL_EVENTS}" for all` });

export const WebhookEndpointSchema = Type.Object(
  {
    id: Uuid,
    customer_id: Uuid,
    instance_id: Type.Union([Uuid, Type.Null()], {
      description: "The one instance whose events it receives; null for every instance of the customer",
    }),
    url: Type.String(),
    events: Type.Array(SubscribedEvent),
    created_at: Timestamp,
  },
  {
    $id: "WebhookEndpoint",
    additionalProperties: false,
    description: "A URL the customer's webhook events are POSTed to; never its signing secret",
    examples: [
      {
        id: "0198c0e3-1a2b-7c3d-8e4f-9a0b1c2d3e4f",
        customer_id: "01936b2e-1a2b-7c3d-8e4f-5a6b7c8d9e0f",
        instance_id: null,
        url: "https://example.com/hooks/whatisup",
        events: ["message.delivered", "message.failed"],
        created_at: "2026-11-26T14:20:00.000Z",
      },
    ],
  },
);

export const CreatedWebhookEndpointSchema = Type.Object(
  {
    ...WebhookEndpointSchema.properties,
    secret: Type.Optional(
      Type.String({
        description:
          "The whsec_ signing secret. Shown in this response only: absent when the response is an Idempotency-Key replay (`Idempotent-Replayed: true`), since the secret is never stored in plaintext (docs/idempotency.md).",
      }),
    ),
  },
  {
    $id: "CreatedWebhookEndpoint",
    additionalProperties: false,
    description: "A webhook endpoint as created: with its signing secret, shown in this response only",
    examples: [
      {
        id: "0198c0e3-1a2b-7c3d-8e4f-9a0b1c2d3e4f",
        customer_id: "01936b2e-1a2b-7c3d-8e4f-5a6b7c8d9e0f",
        instance_id: null,
        url: "https://example.com/hooks/whatisup",
        events: ["message.delivered", "message.failed"],
        created_at: "2026-11-26T14:20:00.000Z",
        secret: "whsec_… (the whole secret, shown in this response only)",
      },
    ],
  },
);

export const CreateWebhookEndpointBody = Type.Object(
  {
    url: Type.String({
      maxLength: 2048,
      description: "An http(s) URL whose host resolves to a public address",
    }),
    events: Type.Array(SubscribedEvent, { minItems: 1, uniqueItems: true }),
    instance_id: Type.Optional(Uuid),
  },
  { additionalProperties: false, examples: [{ url: "https://example.com/hooks/whatisup", events: ["message.delivered", "message.failed"] }] },
);

export type WebhookEndpoint = Static<typeof WebhookEndpointSchema>;
export type SubscribedEvent = WebhookEndpoint["events"][number];
export type CreateWebhookEndpointBody = Static<typeof CreateWebhookEndpointBody>;
