import Type, { type Static } from "typebox";
import { NullableString, NullableTimestamp, Timestamp, Uuid } from "./common.js";
import { PageQuery } from "./page.js";

/**
 * A message's states; how one moves to the next is `messages/message-states.ts`. An inbound
 * message is `received` and never moves.
 */
export const MESSAGE_STATUSES = ["queued", "sent", "delivered", "read", "failed", "received"] as const;
export type MessageStatus = (typeof MESSAGE_STATUSES)[number];
/** The states an outbound message goes through. */
export type OutboundStatus = Exclude<MessageStatus, "received">;

export const MESSAGE_DIRECTIONS = ["outbound", "inbound"] as const;
export type MessageDirection = (typeof MESSAGE_DIRECTIONS)[number];

export const MEDIA_TYPES = ["image", "document", "audio", "video"] as const;
export type MediaType = (typeof MEDIA_TYPES)[number];
export const MESSAGE_TYPES = ["text", ...MEDIA_TYPES, "template"] as const;
export type MessageType = (typeof MESSAGE_TYPES)[number];

/** E.164: `+`, then 8 to 15 digits, the first not 0. */
export const E164_PATTERN = "^\\+[1-9][0-9]{7,14}$";
export const MAX_TEXT_LENGTH = 4096;
export const MAX_CLIENT_REF_LENGTH = 100;
export const MAX_CAPTION_LENGTH = 1024;
export const MAX_FILENAME_LENGTH = 240;
export const MAX_MEDIA_URL_LENGTH = 2048;
export const MAX_TEMPLATE_COMPONENTS = 20;

const E164 = Type.String({ pattern: E164_PATTERN, description: "E.164, e.g. +15551234567" });
const MessageText = Type.String({ minLength: 1, maxLength: MAX_TEXT_LENGTH });

const MediaToSend = Type.Object(
  {
    url: Type.String({
      maxLength: MAX_MEDIA_URL_LENGTH,
      pattern: "^https?://",
      format: "uri",
      description: "Where WhatsApp fetches the file; checked like a webhook URL (no loopback or private addresses)",
    }),
    caption: Type.Optional(Type.String({ minLength: 1, maxLength: MAX_CAPTION_LENGTH, description: "Not for audio" })),
    filename: Type.Optional(Type.String({ minLength: 1, maxLength: MAX_FILENAME_LENGTH, description: "Documents only" })),
  },
  { additionalProperties: false },
);

const TemplateComponent = Type.Object(
  { type: Type.String({ minLength: 1, maxLength: 40, description: "header, body, button, …" }) },
  { additionalProperties: true, description: "A component as the WhatsApp Cloud API takes it: passed through as given" },
);

export const MessageTemplateSchema = Type.Object(
  {
    name: Type.String({ pattern: "^[a-z0-9_]{1,512}$", description: "The approved template's name" }),
    language: Type.String({ pattern: "^[a-z]{2,3}(_[A-Z]{2})?$", description: "Its language code, e.g. en_US" }),
    components: Type.Optional(Type.Array(TemplateComponent, { maxItems: MAX_TEMPLATE_COMPONENTS })),
  },
  {
    $id: "MessageTemplate",
    additionalProperties: false,
    description: "A pre-approved template: what WhatsApp lets a business send outside the 24-hour window",
  },
);
export type MessageTemplate = Static<typeof MessageTemplateSchema>;

// Lengths are counted in Unicode code points (Ajv's default `unicode: true`), as docs/messaging.md says:
// 4096 emoji are 4096 characters, not the 8192 UTF-16 units JavaScript would count. Which of text,
// media and template a type needs is checked by the use case (messageContent), which names the field.
export const SendMessageBody = Type.Object(
  {
    type: Type.Enum([...MESSAGE_TYPES], { description: "What the message is; it decides which of text, media and template the body holds" }),
    to: E164,
    text: Type.Optional(Type.String({ minLength: 1, maxLength: MAX_TEXT_LENGTH, description: "Required with type text, refused with the others" })),
    media: Type.Optional({ ...MediaToSend, description: "Required with type image, document, audio or video, refused with the others" }),
    template: Type.Optional(MessageTemplateSchema),
    client_ref: Type.Optional(
      Type.String({ maxLength: MAX_CLIENT_REF_LENGTH, description: "Your own reference, echoed in the message's events" }),
    ),
  },
  {
    additionalProperties: false,
    examples: [
      { type: "text", to: "+15551234567", text: "Your order has shipped.", client_ref: "order-4821" },
      { type: "image", to: "+15551234567", media: { url: "https://cdn.example.com/receipt-4821.png", caption: "Your receipt" } },
      { type: "document", to: "+15551234567", media: { url: "https://cdn.example.com/invoice-4821.pdf", filename: "invoice-4821.pdf" } },
      {
        type: "template",
        to: "+15551234567",
        template: { name: "order_shipped", language: "en_US", components: [{ type: "body", parameters: [{ type: "text", text: "4821" }] }] },
      },
    ],
  },
);

/** The sandbox plays the other side of a conversation: a message the instance receives. */
export const SandboxInboundBody = Type.Object(
  {
    from: E164,
    type: Type.Optional(Type.Enum(["text", ...MEDIA_TYPES], { default: "text", description: "text unless given" })),
    text: Type.Optional(MessageText),
    media: Type.Optional(
      Type.Object(
        {
          url: MediaToSend.properties.url,
          caption: MediaToSend.properties.caption,
          filename: MediaToSend.properties.filename,
          mime_type: Type.Optional(Type.String({ minLength: 3, maxLength: 100, pattern: "^[a-z]+/[-+.a-zA-Z0-9]+$" })),
        },
        { additionalProperties: false },
      ),
    ),
    reply_to: Type.Optional(Type.String({ format: "uuid", description: "An outbound message of this instance that it quotes" })),
  },
  { additionalProperties: false, examples: [{ from: "+15557654321", text: "Where is my order?" }] },
);

/** The 202 answer: the accepted message, exactly these fields. */
export const AcceptedMessageSchema = Type.Object(
  {
    id: Uuid,
    instance_id: Uuid,
    direction: Type.Literal("outbound"),
    to: Type.String(),
    type: Type.Enum([...MESSAGE_TYPES]),
    status: Type.Literal("queued"),
    client_ref: NullableString,
    created_at: Timestamp,
  },
  {
    $id: "AcceptedMessage",
    additionalProperties: false,
    description: "A message as accepted for sending: stored and queued; read it back, or wait for its webhook events",
    examples: [
      {
        id: "0198c0e1-2d3c-7a4b-8c5d-6e7f8a9b0c1d",
        instance_id: "0198c0de-4b1a-7c3e-9f00-5a1b2c3d4e5f",
        direction: "outbound",
        to: "+15551234567",
        type: "text",
        status: "queued",
        client_ref: "order-4821",
        created_at: "2026-11-26T14:10:00.000Z",
      },
    ],
  },
);

export const MessageMediaSchema = Type.Object(
  {
    url: Type.Union([Type.String(), Type.Null()], { description: "The file's URL; null for media received through the Cloud API" }),
    caption: NullableString,
    filename: NullableString,
    mime_type: NullableString,
    provider_media_id: Type.Union([Type.String(), Type.Null()], {
      description: "The Cloud API's media id of a received file: fetch it from Meta with your own access token",
    }),
  },
  { $id: "MessageMedia", additionalProperties: false, description: "The file of an image, document, audio or video message" },
);
export type MessageMedia = Static<typeof MessageMediaSchema>;

export const MESSAGE_EXAMPLE = {
  id: "0198c0e1-2d3c-7a4b-8c5d-6e7f8a9b0c1d",
  instance_id: "0198c0de-4b1a-7c3e-9f00-5a1b2c3d4e5f",
  direction: "outbound",
  from: null,
  to: "+15551234567",
  type: "text",
  text: "Your order has shipped.",
  media: null,
  template: null,
  status: "delivered",
  client_ref: "order-4821",
  error: null,
  reply_to: null,
  sent_at: "2026-11-26T14:10:01.020Z",
  delivered_at: "2026-11-26T14:10:04.123Z",
  read_at: null,
  failed_at: null,
  received_at: null,
  created_at: "2026-11-26T14:10:00.000Z",
  updated_at: "2026-11-26T14:10:04.123Z",
} as const;

export const INBOUND_MESSAGE_EXAMPLE = {
  ...MESSAGE_EXAMPLE,
  id: "0198c0e3-7b2a-7d4e-8f60-1a2b3c4d5e6f",
  direction: "inbound",
  from: "+15557654321",
  to: null,
  text: "Thanks! When will it arrive?",
  status: "received",
  client_ref: null,
  reply_to: MESSAGE_EXAMPLE.id,
  sent_at: null,
  delivered_at: null,
  received_at: "2026-11-26T14:12:30.500Z",
  created_at: "2026-11-26T14:12:30.500Z",
  updated_at: "2026-11-26T14:12:30.500Z",
} as const;

/** A message either way, as reading it back shows it and as its webhook events carry it. */
export const MessageSchema = Type.Object(
  {
    id: Uuid,
    instance_id: Uuid,
    direction: Type.Enum([...MESSAGE_DIRECTIONS]),
    from: Type.Union([Type.String(), Type.Null()], { description: "Inbound: the sender. Outbound: the instance's number, when known" }),
    to: Type.Union([Type.String(), Type.Null()], { description: "Outbound: the recipient. Inbound: the instance's number, when known" }),
    type: Type.Enum([...MESSAGE_TYPES]),
    text: Type.Union([Type.String(), Type.Null()], { description: "Null for media and template messages" }),
    media: Type.Union([MessageMediaSchema, Type.Null()]),
    template: Type.Union([MessageTemplateSchema, Type.Null()]),
    status: Type.Enum([...MESSAGE_STATUSES], { description: "queued → sent → delivered → read, or failed; received for inbound messages" }),
    client_ref: NullableString,
    error: Type.Union([Type.String(), Type.Null()], { description: "Why it failed, when it did" }),
    reply_to: Type.Union([Uuid, Type.Null()], { description: "The message of ours that an inbound message quotes" }),
    sent_at: NullableTimestamp,
    delivered_at: NullableTimestamp,
    read_at: NullableTimestamp,
    failed_at: NullableTimestamp,
    received_at: NullableTimestamp,
    created_at: Timestamp,
    updated_at: Timestamp,
  },
  {
    $id: "Message",
    additionalProperties: false,
    description: "A message sent or received by an instance, and its state",
    examples: [MESSAGE_EXAMPLE, INBOUND_MESSAGE_EXAMPLE],
  },
);
export type Message = Static<typeof MessageSchema>;

export const ListMessagesQuery = Type.Object(
  {
    ...PageQuery.properties,
    direction: Type.Optional(Type.Enum([...MESSAGE_DIRECTIONS], { description: "Only the messages sent (outbound) or received (inbound)" })),
    status: Type.Optional(Type.Enum([...MESSAGE_STATUSES], { description: "Only the messages in this state now" })),
  },
  { additionalProperties: false },
);

export const MessageParams = Type.Object(
  { id: Uuid, message_id: Uuid },
  { additionalProperties: false },
);

export type SendMessageBody = Static<typeof SendMessageBody>;
export type SandboxInboundBody = Static<typeof SandboxInboundBody>;
export type AcceptedMessage = Static<typeof AcceptedMessageSchema>;
export type ListMessagesQuery = Static<typeof ListMessagesQuery>;
