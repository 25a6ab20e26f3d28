import type { KeyActor } from "../audit/actor.js";
import type { MediaType, Message, MessageMedia, SandboxInboundBody } from "../contract/message.js";
import { AppError, validationFailed } from "../errors/app-error.js";
import { newId } from "../ids/uuid-v7.js";
import { lockLiveInstance } from "../instances/instance-repository.js";
import { findOutboundIdByProviderId, insertInboundMessage, isOutboundMessageOf } from "../messages/message-repository.js";
import { nowTimestamp } from "../time/timestamps.js";
import { instanceNotFound } from "./send-message.js";
import type { Write } from "./write.js";

/** A message an instance received, as its transport reports it. */
export type IncomingMessage = {
  customerId: string;
  instanceId: string;
  from: string;
  type: "text" | MediaType;
  text: string | null;
  media: MessageMedia | null;
  /** The message of ours it quotes, by our id (the sandbox) or by the provider's (the Cloud API). */
  replyTo: { id: string } | { providerMessageId: string } | null;
  /** The provider's id of the message: a repeated report of the same id is stored once. */
  providerMessageId: string | null;
  receivedAt: string;
};

/**
 * An instance receives a message: it is stored (`inbound`, `received`) and `message.received` is
 * written for the endpoints that subscribe to it, in the write's transaction. A message the
 * provider reported before (the same provider id) stores and emits nothing: undefined. A quoted
 * message that is not one of this instance's outbound messages is left out (`reply_to` null):
 * the message itself was received all the same.
 */
export async function receiveMessage(write: Write, input: IncomingMessage): Promise<Message | undefined> {
  const instance = await lockLiveInstance(write.tx, input.customerId, input.instanceId);
  if (!instance) return undefined;
  const replyTo =
    input.replyTo === null
      ? null
      : "id" in input.replyTo
        ? input.replyTo.id
        : ((await findOutboundIdByProviderId(write.tx, input.customerId, instance.id, input.replyTo.providerMessageId)) ?? null);
  const message = await insertInboundMessage(write.tx, input.customerId, {
    id: newId(),
    instance_id: instance.id,
    transport: instance.transport,
    from: input.from,
    to: instance.phone_number,
    type: input.type,
    text: input.text,
    media: input.media,
    template: null,
    reply_to: replyTo,
    provider_message_id: input.providerMessageId,
    received_at: input.receivedAt,
    // Listed by when it was stored, so a provider's late report still shows at the top.
    created_at: nowTimestamp(),
  });
  if (!message) return undefined;
  await write.outbox.emit(write.tx, input.customerId, { event: "message.received", instanceId: instance.id, data: message });
  return message;
}

/**
 * `POST /v1/instances/:id/sandbox/inbound`: the developer plays the other side of a sandbox
 * instance's conversation, and the instance receives what they wrote, as it would from WhatsApp.
 */
export async function receiveSandboxMessage(
  write: Write,
  actor: KeyActor,
  input: { instanceId: string; message: SandboxInboundBody },
): Promise<Message> {
  const customerId = actor.key.customer_id;
  const instance = await lockLiveInstance(write.tx, customerId, input.instanceId);
  if (!instance) throw instanceNotFound();
  if (instance.transport !== "sandbox") {
    throw new AppError("instance_not_sandbox", "Only a sandbox instance can be made to receive a message.", {
      instance_id: instance.id,
      transport: instance.transport,
    });
  }
  const body = input.message;
  const type = body.type ?? "text";
  const problems = [];
  if (type === "text" && body.text === undefined) problems.push({ field: "body.text", message: "is required with type text" });
  if (type !== "text" && body.media === undefined) problems.push({ field: "body.media", message: `is required with type ${type}` });
  if (type !== "text" && body.text !== undefined) problems.push({ field: "body.text", message: `is not allowed with type ${type}` });
  if (type === "text" && body.media !== undefined) problems.push({ field: "body.media", message: "is not allowed with type text" });
  const replyTo = body.reply_to?.toLowerCase();
  if (replyTo !== undefined && !(await isOutboundMessageOf(write.tx, customerId, instance.id, replyTo))) {
    problems.push({ field: "body.reply_to", message: "is not a message this instance sent" });
  }
  if (problems.length > 0) throw validationFailed(problems);
  const media: MessageMedia | null = body.media
    ? {
        url: body.media.url,
        caption: body.media.caption ?? null,
        filename: body.media.filename ?? null,
        mime_type: body.media.mime_type ?? null,
        provider_media_id: null,
      }
    : null;
  const received = await receiveMessage(write, {
    customerId,
    instanceId: instance.id,
    from: body.from,
    type,
    text: body.text ?? null,
    media,
    replyTo: replyTo === undefined ? null : { id: replyTo },
    providerMessageId: null,
    receivedAt: nowTimestamp(),
  });
  // Without a provider id nothing is a repeat, and the instance was locked above.
  if (!received) throw instanceNotFound();
  return received;
}
