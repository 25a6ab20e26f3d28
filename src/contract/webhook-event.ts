/** Every event a webhook endpoint can subscribe to; `*` subscribes to all of them. */
export const EVENT_TYPES = [
  "message.sent",
  "message.delivered",
  "message.read",
  "message.failed",
  "api_key.issued",
  "api_key.revoked",
  "instance.created",
  "instance.deleted",
] as const;

export type EventType = (typeof EVENT_TYPES)[number];
export const ALL_EVENTS = "*";
export const API_VERSION = "2026-04";

/** The body of every webhook: the envelope of product.md. */
export type EventEnvelope = {
  event: EventType;
  event_id: string;
  api_version: typeof API_VERSION;
  instance_id: string | null;
  occurred_at: string;
  data: Record<string, unknown>;
};
