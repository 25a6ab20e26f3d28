/**
 * Every field of a Message (docs/messaging.md), sorted: what reading one back shows and what its
 * webhook events carry. Written out here rather than read from src/, so that a field added or
 * dropped there fails the tests until the contract is meant to change.
 */
export const MESSAGE_FIELDS = [
  "client_ref",
  "created_at",
  "delivered_at",
  "direction",
  "error",
  "failed_at",
  "from",
  "id",
  "instance_id",
  "media",
  "read_at",
  "received_at",
  "reply_to",
  "sent_at",
  "status",
  "template",
  "text",
  "to",
  "type",
  "updated_at",
];
