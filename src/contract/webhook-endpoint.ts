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
  { additionalProperties: false },
);

export const CreatedWebhookEndpointSchema = Type.Object(
  {
    ...WebhookEndpointSchema.properties,
    secret: Type.String({ description: "The whsec_ signing secret. Shown in this response only." }),
  },
  { additionalProperties: false },
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
  { additionalProperties: false },
);

export type WebhookEndpoint = Static<typeof WebhookEndpointSchema>;
export type SubscribedEvent = WebhookEndpoint["events"][number];
export type CreateWebhookEndpointBody = Static<typeof CreateWebhookEndpointBody>;
