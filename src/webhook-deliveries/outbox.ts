import { API_VERSION, type EventEnvelope, type EventType } from "../contract/webhook-event.js";
import type { Tx } from "../db/schema.js";
import { newUlid } from "../ids/ulid.js";
import { newId } from "../ids/uuid-v7.js";
import { nowTimestamp, toTimestamp } from "../time/timestamps.js";
import { findSubscribedEndpointIds } from "../webhook-endpoints/webhook-endpoint-repository.js";
import { insertDeliveries } from "./webhook-delivery-repository.js";

export type NewEvent = {
  event: EventType;
  instanceId: string | null;
  data: Record<string, unknown>;
};

/**
 * The outbox: one delivery row for each of the customer's endpoints that wants the webhook event,
 * written in the transaction of the change that caused it, so that a crash loses neither or both.
 * The dispatcher sends what is written here; nothing is sent that was not first written down.
 */
export class Outbox {
  /** `firstAttemptDelayMs` is the first of the retry delays, normally 0: "at once". */
  constructor(private readonly firstAttemptDelayMs: number) {}

  async emit(tx: Tx, customerId: string, event: NewEvent): Promise<EventEnvelope> {
    const now = nowTimestamp();
    const envelope: EventEnvelope = {
      event: event.event,
      event_id: newUlid(),
      api_version: API_VERSION,
      instance_id: event.instanceId,
      occurred_at: now,
      data: event.data,
    };
    const endpointIds = await findSubscribedEndpointIds(tx, customerId, event.instanceId, event.event);
    const payload = JSON.stringify(envelope);
    const firstAttemptAt = toTimestamp(Date.parse(now) + this.firstAttemptDelayMs);
    await insertDeliveries(
      tx,
      customerId,
      endpointIds.map((endpointId) => ({
        id: newId(),
        endpoint_id: endpointId,
        instance_id: event.instanceId,
        event: event.event,
        event_id: envelope.event_id,
        payload,
        next_attempt_at: firstAttemptAt,
        created_at: now,
      })),
    );
    return envelope;
  }
}
