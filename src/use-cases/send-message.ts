import type { KeyActor } from "../audit/actor.js";
import type { AcceptedMessage, MediaType, SendMessageBody } from "../contract/message.js";
import { AppError, validationFailed, type FieldProblem } from "../errors/app-error.js";
import { newId } from "../ids/uuid-v7.js";
import { lockLiveInstance } from "../instances/instance-repository.js";
import { insertOutboundMessage, type NewMessageContent } from "../messages/message-repository.js";
import { nowTimestamp } from "../time/timestamps.js";
import { checkDestination, DestinationError, type DestinationPolicy } from "../webhook-endpoints/destination-guard.js";
import type { Write } from "./write.js";

export function instanceNotFound(): AppError {
  return new AppError("instance_not_found", "No such instance.");
}

/** A message body whose type and content agree, and whose media URL (if any) the guard let through. */
export type CheckedMessage = { readonly body: SendMessageBody; readonly content: NewMessageContent };

/**
 * The steps of sending that come before the transaction: the content each type needs (400, naming
 * the field), then where a media URL resolves, which may be slow and must not hold a write lock.
 * The URL is checked with the webhooks' destination guard: the sandbox fetches it from this
 * server, and no message may point it inside our network.
 */
export async function checkMessage(body: SendMessageBody, destinations: DestinationPolicy): Promise<CheckedMessage> {
  const content = messageContent(body);
  if (content.media?.url) {
    try {
      await checkDestination(content.media.url, destinations);
    } catch (error) {
      if (error instanceof DestinationError) throw validationFailed([{ field: "body.media.url", message: error.message }]);
      throw error;
    }
  }
  return { body, content };
}

/** Which of `text`, `media` and `template` each type takes (the schema lets each be optional). */
export function messageContent(body: SendMessageBody): NewMessageContent {
  const problems: FieldProblem[] = [];
  const refuse = (field: string, present: boolean) => {
    if (present) problems.push({ field: `body.${field}`, message: `is not allowed with type ${body.type}` });
  };
  const require = (field: string, present: boolean) => {
    if (!present) problems.push({ field: `body.${field}`, message: `is required with type ${body.type}` });
  };
  const none = { text: null, media: null, template: null };
  let content: NewMessageContent;
  if (body.type === "text") {
    require("text", body.text !== undefined);
    refuse("media", body.media !== undefined);
    refuse("template", body.template !== undefined);
    content = { ...none, type: "text", text: body.text ?? "" };
  } else if (body.type === "template") {
    require("template", body.template !== undefined);
    refuse("text", body.text !== undefined);
    refuse("media", body.media !== undefined);
    content = body.template ? { ...none, type: "template", template: body.template } : { ...none, type: "template" };
  } else {
    const type: MediaType = body.type;
    require("media", body.media !== undefined);
    refuse("text", body.text !== undefined);
    refuse("template", body.template !== undefined);
    refuse("media.caption", type === "audio" && body.media?.caption !== undefined);
    refuse("media.filename", type !== "document" && body.media?.filename !== undefined);
    content = {
      ...none,
      type,
      media: body.media
        ? { url: body.media.url, caption: body.media.caption ?? null, filename: body.media.filename ?? null, mime_type: null, provider_media_id: null }
        : null,
    };
  }
  if (problems.length > 0) throw validationFailed(problems);
  return content;
}

/**
 * `POST /v1/instances/:id/messages`: the message is stored `queued` (the 202) and its transport
 * moves it on from there. The instance is checked where the message is written, so an instance
 * deleted or disconnected since the request began cannot receive it. A test key sends only from a
 * sandbox instance (403 test_key_live_instance).
 */
export async function sendMessage(
  write: Write,
  actor: KeyActor,
  input: { instanceId: string; message: CheckedMessage },
): Promise<AcceptedMessage> {
  const customerId = actor.key.customer_id;
  const instance = await lockLiveInstance(write.tx, customerId, input.instanceId);
  if (!instance) throw instanceNotFound();
  // Here, where every message is made, so that nothing done with a test key reaches a real number.
  if (actor.key.mode === "test" && instance.transport !== "sandbox") {
    throw new AppError("test_key_live_instance", "A test key can send only from a sandbox instance.", {
      instance_id: instance.id,
      transport: instance.transport,
    });
  }
  if (instance.status !== "connected") {
    throw new AppError("instance_unavailable", `This instance is ${instance.status}, not connected: it cannot send.`, {
      instance_id: instance.id,
      status: instance.status,
    });
  }
  const { body, content } = input.message;
  const message = await insertOutboundMessage(write.tx, customerId, {
    ...content,
    id: newId(),
    instance_id: instance.id,
    transport: instance.transport,
    from: instance.phone_number,
    to: body.to,
    client_ref: body.client_ref ?? null,
    created_at: nowTimestamp(),
  });
  return {
    id: message.id,
    instance_id: message.instance_id,
    direction: "outbound",
    to: body.to,
    type: message.type,
    status: "queued",
    client_ref: message.client_ref,
    created_at: message.created_at,
  };
}
