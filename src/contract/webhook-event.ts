import Type, { type Static, type TSchema } from "typebox";
import { API_KEY_EXAMPLE, ApiKeySchema } from "./api-key.js";
import { NullableUuid, Timestamp } from "./common.js";
import { INSTANCE_EXAMPLE, InstanceSchema } from "./instance.js";
import { INBOUND_MESSAGE_EXAMPLE, MESSAGE_EXAMPLE, MessageSchema } from "./message.js";

/** Every webhook event a webhook endpoint can subscribe to; `*` subscribes to all of them. */
export const EVENT_TYPES = [
  "message.sent",
  "message.delivered",
  "message.read",
  "message.failed",
  "message.received",
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

const EVENT_ID_EXAMPLE = "01JT4B7Z9X2K8Q5R3M6N1P0VWS";

/** The body every webhook carries (docs/webhooks.md), as stored and sent. */
export const EventEnvelopeSchema = Type.Object(
  {
    event: Type.Enum([...EVENT_TYPES]),
    event_id: Type.String({ description: "A ULID; the same on every attempt and every endpoint of the event", examples: [EVENT_ID_EXAMPLE] }),
    api_version: Type.String({ description: `The envelope's version, e.g. ${API_VERSION}`, examples: [API_VERSION] }),
    instance_id: NullableUuid,
    occurred_at: Timestamp,
    data: Type.Record(Type.String(), Type.Unknown(), { description: "What happened; its shape depends on `event` (see the webhooks of this document)" }),
  },
  {
    $id: "EventEnvelope",
    additionalProperties: false,
    description: "The body of every webhook, whatever its event",
    examples: [
      {
        event: "message.delivered",
        event_id: EVENT_ID_EXAMPLE,
        api_version: API_VERSION,
        instance_id: "0198c0de-4b1a-7c3e-9f00-5a1b2c3d4e5f",
        occurred_at: "2026-11-26T14:10:04.123Z",
        data: { message: { id: "0198c0e1-2d3c-7a4b-8c5d-6e7f8a9b0c1d", status: "delivered" } },
      },
    ],
  },
);

export type EventEnvelope = Static<typeof EventEnvelopeSchema>;

const MessageEventData = Type.Object({ message: MessageSchema }, { $id: "MessageEventData", additionalProperties: false });
const ApiKeyEventData = Type.Object(
  { api_key: ApiKeySchema },
  { $id: "ApiKeyEventData", additionalProperties: false, description: "The key's metadata when the event happened, never its secret" },
);
const ApiKeyRevokedEventData = Type.Object(
  {
    api_key: ApiKeySchema,
    reason: Type.Optional(
      Type.Enum(["instance_deleted", "leaked"], { description: "Absent when a key of the customer revoked it by name" }),
    ),
    source: Type.Optional(Type.Union([Type.String(), Type.Null()], { description: "Where a leaked key was found, as reported: with `leaked` only" })),
  },
  { $id: "ApiKeyRevokedEventData", additionalProperties: false },
);
const InstanceEventData = Type.Object({ instance: InstanceSchema }, { $id: "InstanceEventData", additionalProperties: false });

const messageData = (status: string, more: Record<string, unknown> = {}) => ({
  message: { ...MESSAGE_EXAMPLE, status, ...more },
});

/** What each event's `data` holds (docs/webhooks.md), and an example of it. */
const EVENT_DATA: Record<EventType, { data: TSchema; summary: string; example: Record<string, unknown> }> = {
  "message.sent": { data: MessageEventData, summary: "A message left for WhatsApp", example: messageData("sent", { delivered_at: null, updated_at: MESSAGE_EXAMPLE.sent_at }) },
  "message.delivered": { data: MessageEventData, summary: "A message reached the recipient's phone", example: messageData("delivered") },
  "message.read": { data: MessageEventData, summary: "The recipient read a message", example: messageData("read", { read_at: "2026-11-26T14:11:00.000Z", updated_at: "2026-11-26T14:11:00.000Z" }) },
  "message.failed": {
    data: MessageEventData,
    summary: "A message could not be delivered; `data.message.error` says why",
    example: messageData("failed", {
      error: "WhatsApp error 131026: Message undeliverable",
      delivered_at: null,
      failed_at: "2026-11-26T14:10:04.123Z",
    }),
  },
  "message.received": {
    data: MessageSchema,
    summary: "An instance received a message; `data` is the message itself (direction inbound)",
    example: INBOUND_MESSAGE_EXAMPLE,
  },
  "api_key.issued": {
    data: ApiKeyEventData,
    summary: "A key was issued (or rolled into a new one)",
    example: { api_key: { ...API_KEY_EXAMPLE, last_used_at: null } },
  },
  "api_key.revoked": {
    data: ApiKeyRevokedEventData,
    summary: "A key was revoked: by name, with its instance, or reported leaked",
    example: { api_key: { ...API_KEY_EXAMPLE, revoked_at: "2027-01-25T09:00:00.000Z" }, reason: "leaked", source: "https://gist.example.org/someone/1234" },
  },
  "api_key.expiring": { data: ApiKeyEventData, summary: "A key expires within KEY_EXPIRY_NOTICE_DAYS days", example: { api_key: API_KEY_EXAMPLE } },
  "api_key.expired": { data: ApiKeyEventData, summary: "A key reached its expires_at and is refused from now on", example: { api_key: API_KEY_EXAMPLE } },
  "instance.created": { data: InstanceEventData, summary: "An instance was created", example: { instance: INSTANCE_EXAMPLE } },
  "instance.deleted": {
    data: InstanceEventData,
    summary: "An instance was deleted, and every key bound to it revoked",
    example: { instance: { ...INSTANCE_EXAMPLE, updated_at: "2026-11-27T10:00:00.000Z" } },
  },
};

/** `message.sent` → `MessageSentEvent`. */
function eventSchemaName(event: EventType): string {
  return `${event.split(/[._]/).map((word) => word[0]!.toUpperCase() + word.slice(1)).join("")}Event`;
}

/** The envelope of each event type with its own `data`: what a receiver of that event gets. */
export const EVENT_SCHEMAS = EVENT_TYPES.map((event) => ({
  event,
  summary: EVENT_DATA[event].summary,
  schema: Type.Object(
    { ...EventEnvelopeSchema.properties, event: Type.Literal(event), data: EVENT_DATA[event].data },
    {
      $id: eventSchemaName(event),
      additionalProperties: false,
      description: `The body of a \`${event}\` webhook`,
      examples: [
        {
          event,
          event_id: EVENT_ID_EXAMPLE,
          api_version: API_VERSION,
          instance_id: event.startsWith("api_key.") ? null : INSTANCE_EXAMPLE.id,
          occurred_at: "2026-11-26T14:10:04.123Z",
          data: EVENT_DATA[event].example,
        },
      ],
    },
  ),
}));
