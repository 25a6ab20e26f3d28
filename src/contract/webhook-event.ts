import Type, { type Static } from "typebox";
import { NullableUuid, Timestamp } from "./common.js";

/** Every webhook event a webhook endpoint can subscribe to; `*` subscribes to all of them. */
export const EVENT_TYPES = [
  "message.sent",
  "message.delivered",
  "message.read",
  "message.failed",
  "api_key.issued",
  "api_key.revoked",
  "api_key.expiring",
  "api_key.expired",
  "instance.created",
  "instance.deleted",
] as const;

export type EventType = (typeof EVENT_TYPES)[number];
export const ALL_EVENTS = "*";
export const API_VERSION = "2026-04";

/** The body every webhook carries (docs/webhooks.md), as stored and sent. */
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

export type EventEnvelope = Static<typeof EventEnvelopeSchema>;
