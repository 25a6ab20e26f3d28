import type { Message, OutboundStatus } from "../contract/message.js";
import { findMessageByProviderId, moveMessage } from "../messages/message-repository.js";
import { eventFor, statusesBefore } from "../messages/message-states.js";
import { nowTimestamp } from "../time/timestamps.js";
import type { Write } from "./write.js";

export type MessageAdvance = {
  customerId: string;
  id: string;
  to: Exclude<OutboundStatus, "queued">;
  /** Narrows the states it may move from (the sandbox clock names the one it saw); by default any earlier state. */
  from?: OutboundStatus[];
  /** Why, when `to` is failed. */
  error?: string | null;
};

/**
 * A message moves forward and its webhook event is written, in the write's transaction: the
 * change and its deliveries commit together or not at all. No actor: messages are moved by their
 * transport (the sandbox clock, the Cloud API pump and callbacks), and moves are not audited.
 * Returns the moved message, or undefined when it was not in a state that may move to `to`
 * (nothing is written).
 */
export async function advanceMessage(write: Write, input: MessageAdvance): Promise<Message | undefined> {
  const allowed = statusesBefore(input.to).filter((status) => input.from === undefined || input.from.includes(status));
  const moved = await moveMessage(write.tx, input.customerId, input.id, {
    from: allowed,
    to: input.to,
    at: nowTimestamp(),
    error: input.to === "failed" ? (input.error ?? "failed") : null,
  });
  if (!moved) return undefined;
  await write.outbox.emit(write.tx, input.customerId, {
    event: eventFor(input.to),
    instanceId: moved.instance_id,
    data: { message: moved },
  });
  return moved;
}

/**
 * A provider's report of a message's new state, which names the message only by the provider's
 * id (the Cloud API's wamid). A report of an earlier state, or of a message we do not know,
 * changes nothing. True when the message moved.
 */
export async function applyProviderStatus(
  write: Write,
  report: { providerMessageId: string; to: Exclude<OutboundStatus, "queued">; error: string | null },
): Promise<boolean> {
  const found = await findMessageByProviderId(write.tx, report.providerMessageId);
  if (!found) return false;
  const moved = await advanceMessage(write, { customerId: found.customer_id, id: found.id, to: report.to, error: report.error });
  return moved !== undefined;
}
