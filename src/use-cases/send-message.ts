import type { KeyActor } from "../audit/actor.js";
import type { AcceptedMessage, SendMessageBody } from "../contract/message.js";
import { AppError } from "../errors/app-error.js";
import { newId } from "../ids/uuid-v7.js";
import { lockLiveInstance } from "../instances/instance-repository.js";
import { insertMessage } from "../messages/message-repository.js";
import { nowTimestamp } from "../time/timestamps.js";
import type { Write } from "./write.js";

export function instanceNotFound(): AppError {
  return new AppError("instance_not_found", "No such instance.");
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
  input: { instanceId: string; message: SendMessageBody },
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
  const message = await insertMessage(write.tx, customerId, {
    id: newId(),
    instance_id: instance.id,
    transport: instance.transport,
    to: input.message.to,
    type: input.message.type,
    text: input.message.text,
    client_ref: input.message.client_ref ?? null,
    created_at: nowTimestamp(),
  });
  // The 202 shows the message as accepted: not yet its tenant, error or later updates.
  const { customer_id: _customer, error: _error, updated_at: _updated, ...accepted } = message;
  return accepted;
}
