import Type, { type Static } from "typebox";
import { NullableTimestamp, NullableUuid, Timestamp, Uuid } from "./common.js";
import { PageQuery } from "./page.js";
import { EVENT_TYPES, EventEnvelopeSchema } from "./webhook-event.js";

export const DELIVERY_STATUSES = ["pending", "success", "failed", "retrying"] as const;
export type DeliveryStatus = (typeof DELIVERY_STATUSES)[number];

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

export type Delivery = Static<typeof DeliverySchema>;
export type ListDeliveriesQuery = Static<typeof ListDeliveriesQuery>;
