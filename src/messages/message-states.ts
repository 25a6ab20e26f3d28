import type { OutboundStatus } from "../contract/message.js";

/**
 * An outbound message's lifecycle: queued → sent → delivered → read, or failed from any state
 * before read. `read` and `failed` are final. A state only moves forward: a late or repeated
 * report of an earlier state changes nothing, and a later state may skip the ones between
 * (WhatsApp can report `delivered` without `sent`). An inbound message is `received`, for good.
 */

/** The states reached by moving forward, in order; `failed` stands beside them. */
const PROGRESS: readonly OutboundStatus[] = ["queued", "sent", "delivered", "read"];

/** The states from which a message may move to `to` (empty: nothing moves there). */
export function statusesBefore(to: OutboundStatus): OutboundStatus[] {
  if (to === "failed") return ["queued", "sent", "delivered"];
  return PROGRESS.slice(0, PROGRESS.indexOf(to));
}

/** The webhook event announcing that a message reached `status`. */
export function eventFor(status: Exclude<OutboundStatus, "queued">) {
  return `message.${status}` as const;
}
