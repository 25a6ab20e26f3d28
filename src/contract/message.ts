import Type, { type Static } from "typebox";
import { Timestamp, Uuid } from "./common.js";

/** A message's states; how one moves to the next is `messages/message-states.ts`. */
export const MESSAGE_STATUSES = ["queued", "sent", "delivered", "read", "failed"] as const;
export type MessageStatus = (typeof MESSAGE_STATUSES)[number];

/** E.164: `+`, then 8 to 15 digits, the first not 0. */
export const E164_PATTERN = "^\\+[1-9][0-9]{7,14}$";
export const MAX_TEXT_LENGTH = 4096;
export const MAX_CLIENT_REF_LENGTH = 100;

// Lengths are counted in Unicode code points (Ajv's default `unicode: true`), as docs/messaging.md says:
// 4096 emoji are 4096 characters, not the 8192 UTF-16 units JavaScript would count.
export const SendMessageBody = Type.Object(
  {
    type: Type.Enum(["text"], { description: "Only text messages exist today" }),
    to: Type.String({ pattern: E164_PATTERN, description: "E.164, e.g. +15551234567" }),
    text: Type.String({ minLength: 1, maxLength: MAX_TEXT_LENGTH }),
    client_ref: Type.Optional(
      Type.String({ maxLength: MAX_CLIENT_REF_LENGTH, description: "Your own reference, echoed in the message's events" }),
    ),
  },
  { additionalProperties: false, examples: [{ type: "text", to: "+15551234567", text: "Your order has shipped.", client_ref: "order-4821" }] },
);

/** The 202 answer: the accepted message, exactly these fields. */
export const AcceptedMessageSchema = Type.Object(
  {
    id: Uuid,
    instance_id: Uuid,
    to: Type.String(),
    type: Type.Enum(["text"]),
    status: Type.Enum([...MESSAGE_STATUSES]),
    client_ref: Type.Union([Type.String(), Type.Null()]),
    created_at: Timestamp,
  },
  {
    $id: "AcceptedMessage",
    additionalProperties: false,
    description: "A message as accepted for sending: stored and queued; its next states arrive as webhook events",
    examples: [
      {
        id: "0198c0e1-2d3c-7a4b-8c5d-6e7f8a9b0c1d",
        instance_id: "0198c0de-4b1a-7c3e-9f00-5a1b2c3d4e5f",
        to: "+15551234567",
        type: "text",
        status: "queued",
        client_ref: "order-4821",
        created_at: "2026-11-26T14:10:00.000Z",
      },
    ],
  },
);

export type SendMessageBody = Static<typeof SendMessageBody>;
export type AcceptedMessage = Static<typeof AcceptedMessageSchema>;
