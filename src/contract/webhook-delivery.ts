import Type from "typebox";
import { API_VERSION, EVENT_TYPES } from "./webhook-event.js";
import { PageQuery } from "./page.js";
import { NullableTimestamp, NullableUuid, Timestamp, Uuid } from "../http/schemas.js";
import { DELIVERY_STATUSES } from "../webhook-deliveries/webhook-delivery-repository.js";

/** The body every webhook carries (product.md's envelope), as stored and sent. */
export const EventEnvelopeSchema = Type.Object(
  {
    event: Type.Enum([...EVENT_TYPES]),
    event_id: Type.String({ description: "A ULID; the same on every attempt and every endpoint of the event" }),
    api_version: Type.String({ description: `The envelope's version, e.g. ${API_VERSION}` }),
    instance_id: NullableUuid,
    occurred_at: Timestamp,
    data: Type.Record(Type.String(), Type.Unknown()),
  },
  { additionalProperties: false },
);

export const DeliverySchema = Type.Object(
  {
    id: Uuid,
    endpoint_id: Uuid,
    customer_id: Uuid,
    instance_id: NullableUuid,
    event: Type.Enum([...EVENT_TYPES]),
    event_id: Type.String(),
    payload: EventEnvelopeSchema,
    status: Type.Enum([...DELIVERY_STATUSES]),
    attempt_count: Type.Integer({ minimum: 0 }),
    last_error: Type.Union([Type.String(), Type.Null()], { description: "Why the last attempt failed; null after a success" }),
    last_response_status: Type.Union([Type.Integer(), Type.Null()], {
      description: "The HTTP status of the last attempt's response; null when none arrived",
    }),
    next_attempt_at: NullableTimestamp,
    delivered_at: NullableTimestamp,
    created_at: Timestamp,
    updated_at: Timestamp,
  },
  { additionalProperties: false },
);

export const ListDeliveriesQuery = Type.Object(
  {
    ...PageQuery.properties,
    status: Type.Optional(Type.Enum([...DELIVERY_STATUSES])),
    event: Type.Optional(Type.Enum([...EVENT_TYPES])),
    instance_id: Type.Optional(Uuid),
  },
  { additionalProperties: false },
);
