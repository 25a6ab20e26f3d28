import type { Message, WebhookDelivery, WebhookEndpoint } from "@whatisup/client";

export type EventType = WebhookDelivery["event"];
export type DeliveryStatus = WebhookDelivery["status"];
/** An event type, or "*" for all of them. */
export type SubscribedEvent = WebhookEndpoint["events"][number];

/**
 * A list of every value of the union `All`, for a picker: the client package has these as types
 * only. A list that misses a value (the API gained one) or holds one too many does not compile.
 */
function everyValueOf<All>() {
  return <const Listed extends readonly All[]>(list: Listed & ([Exclude<All, Listed[number]>] extends [never] ? unknown : never)) => list;
}

export const EVENT_TYPES = everyValueOf<EventType>()([
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
]);

export const DELIVERY_STATUSES = everyValueOf<DeliveryStatus>()(["pending", "retrying", "failed", "success"]);

export type MessageDirection = Message["direction"];
export type MessageStatus = Message["status"];
export type MessageType = Message["type"];

export const MESSAGE_DIRECTIONS = everyValueOf<MessageDirection>()(["inbound", "outbound"]);
export const MESSAGE_STATUSES = everyValueOf<MessageStatus>()(["queued", "sent", "delivered", "read", "failed", "received"]);
export const MESSAGE_TYPES = everyValueOf<MessageType>()(["text", "image", "document", "audio", "video", "template"]);
