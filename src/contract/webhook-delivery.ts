import Type, { type Static } from "typebox";
import { NullableTimestamp, NullableUuid, Timestamp, Uuid } from "./common.js";
import { PageQuery } from "./page.js";
import { EVENT_TYPES, EventEnvelopeSchema } from "./webhook-event.js";

export const DELIVERY_STATUSES = ["pending", "success", "failed", "retrying"] as const;
export type DeliveryStatus = (typeof DELIVERY_STATUSES)[number];

const DELIVERY_EXAMPLE = {
  id: "0198c0e4-6a7b-7c8d-9e0f-1a2b3c4d5e6f",
  endpoint_id: "0198c0e3-1a2b-7c3d-8e4f-9a0b1c2d3e4f",
  customer_id: "01936b2e-1a2b-7c3d-8e4f-5a6b7c8d9e0f",
  instance_id: "0198c0de-4b1a-7c3e-9f00-5a1b2c3d4e5f",
  event: "message.delivered",
  event_id: "01JT4B7Z9X2K8Q5R3M6N1P0VWS",
  payload: {
    event: "message.delivered",
    event_id: "01JT4B7Z9X2K8Q5R3M6N1P0VWS",
    api_version: "2026-04",
    instance_id: "0198c0de-4b1a-7c3e-9f00-5a1b2c3d4e5f",
    occurred_at: "2026-11-26T14:10:04.123Z",
    data: { message: { id: "0198c0e1-2d3c-7a4b-8c5d-6e7f8a9b0c1d", status: "delivered" } },
  },
  status: "retrying",
  attempt_count: 1,
  last_error: "HTTP 503",
  last_response_status: 503,
  next_attempt_at: "2026-11-26T14:10:14.300Z",
  delivered_at: null,
  created_at: "2026-11-26T14:10:04.123Z",
  updated_at: "2026-11-26T14:10:04.300Z",
};

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
  {
    $id: "WebhookDelivery",
    additionalProperties: false,
    description: "One event sent to one webhook endpoint, with the state of its attempts",
    examples: [DELIVERY_EXAMPLE],
  },
);

/** The attempts a delivery's detail answers: the newest ones, should manual retries pile up. */
export const MAX_LISTED_ATTEMPTS = 100;

const ATTEMPT_EXAMPLE = {
  number: 1,
  started_at: "2026-11-26T14:10:04.180Z",
  finished_at: "2026-11-26T14:10:04.300Z",
  response_status: 503,
  error: "HTTP 503",
  success: false,
};

export const DeliveryAttemptSchema = Type.Object(
  {
    number: Type.Integer({ minimum: 1, description: "1-based; the last one's is the delivery's `attempt_count`" }),
    started_at: Timestamp,
    finished_at: Timestamp,
    response_status: Type.Union([Type.Integer(), Type.Null()], {
      description: "The HTTP status of the attempt's response; null when none arrived",
    }),
    error: Type.Union([Type.String(), Type.Null()], {
      description: "Why the attempt failed, in short (never a body, a header or a URL); null for a success",
    }),
    success: Type.Boolean({ description: "True when the receiver answered 2xx" }),
  },
  {
    $id: "WebhookDeliveryAttempt",
    additionalProperties: false,
    description: "One attempt to send a delivery to its endpoint",
    examples: [ATTEMPT_EXAMPLE],
  },
);

export const DeliveryDetailSchema = Type.Object(
  {
    ...DeliverySchema.properties,
    attempts: Type.Array(DeliveryAttemptSchema, {
      maxItems: MAX_LISTED_ATTEMPTS,
      description: `The delivery's attempts, oldest first: the newest ${MAX_LISTED_ATTEMPTS} when there were more`,
    }),
  },
  {
    $id: "WebhookDeliveryDetail",
    additionalProperties: false,
    description: "One webhook delivery with its attempt log",
    examples: [
      {
        ...DELIVERY_EXAMPLE,
        attempts: [ATTEMPT_EXAMPLE],
      },
    ],
  },
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
export type DeliveryAttempt = Static<typeof DeliveryAttemptSchema>;
export type DeliveryDetail = Static<typeof DeliveryDetailSchema>;
export type ListDeliveriesQuery = Static<typeof ListDeliveriesQuery>;
