import type { Tx } from "../db/schema.js";
import { nowTimestamp } from "../time/timestamps.js";
import type { Outbox } from "../webhook-deliveries/outbox.js";
import { moveMessage, type Message } from "../messages/message-repository.js";
import { eventFor, statusesBefore, type MessageStatus } from "../messages/message-states.js";

/** The `data` of every message event: the message as the API shows it, `error` only when failed. */
export function messageEventData(message: Message): Record<string, unknown> {
  return {
    message: {
      id: message.id,
      instance_id: message.instance_id,
      to: message.to,
      type: message.type,
      status: message.status,
      client_ref: message.client_ref,
      ...(message.status === "failed" ? { error: message.error } : {}),
      created_at: message.created_at,
      updated_at: message.updated_at,
    },
  };
}

/**
 * Moves a message forward and writes its event, in the caller's transaction: the change and its
 * webhook deliveries commit together or not at all. `from` narrows the states it may move from
 * (the sandbox clock names the one it saw); by default any earlier state. Returns the moved
 * message, or undefined when it was not in a state that may move to `to` (nothing is written).
 */
export async function moveAndAnnounce(
  tx: Tx,
  outbox: Outbox,
  customerId: string,
  id: string,
  to: Exclude<MessageStatus, "queued">,
  options: { from?: MessageStatus[]; error?: string | null } = {},
): Promise<Message | undefined> {
  const allowed = statusesBefore(to).filter((status) => options.from === undefined || options.from.includes(status));
  const moved = await moveMessage(tx, customerId, id, {
    from: allowed,
    to,
    at: nowTimestamp(),
    error: to === "failed" ? (options.error ?? "failed") : null,
  });
  if (!moved) return undefined;
  await outbox.emit(tx, customerId, {
    event: eventFor(to),
    instanceId: moved.instance_id,
    data: messageEventData(moved),
  });
  return moved;
}
