import { newId } from "../ids/uuid-v7.js";
import { readJson } from "../db/json.js";
import type { Tx } from "../db/schema.js";
import { nowTimestamp, toTimestamp } from "../time/timestamps.js";
import { ALL_EVENTS, API_VERSION, type EventEnvelope, type EventType } from "../contract/webhook-event.js";
import { newUlid } from "../ids/ulid.js";

export type NewEvent = {
  event: EventType;
  instanceId: string | null;
  data: Record<string, unknown>;
};

/**
 * The outbox: one delivery row for each of the customer's endpoints that wants the event, written
 * in the transaction of the change that caused it, so that a crash loses neither or both. The
 * dispatcher sends what is written here; nothing is sent that was not first written down.
 */
export class Outbox {
  /** `firstAttemptDelayMs` is the first of the retry delays, normally 0: "at once". */
  constructor(private readonly firstAttemptDelayMs: number) {}

  async emit(tx: Tx, customerId: string, event: NewEvent): Promise<EventEnvelope> {
    return writeDeliveries(tx, customerId, event, this.firstAttemptDelayMs);
  }
}

async function writeDeliveries(
  tx: Tx,
  customerId: string,
  event: NewEvent,
  firstAttemptDelayMs: number,
): Promise<EventEnvelope> {
  const now = nowTimestamp();
  const envelope: EventEnvelope = {
    event: event.event,
    event_id: newUlid(),
    api_version: API_VERSION,
    instance_id: event.instanceId,
    occurred_at: now,
    data: event.data,
  };
  let endpoints = tx
    .selectFrom("webhook_endpoints")
    .select(["id", "events"])
    .where("customer_id", "=", customerId)
    .where("deleted_at", "is", null);
  endpoints = event.instanceId === null
    ? endpoints.where("instance_id", "is", null)
    : endpoints.where((eb) => eb.or([eb("instance_id", "is", null), eb("instance_id", "=", event.instanceId)]));
  const subscribed = (await endpoints.execute()).filter((endpoint) => {
    const events = readJson<string[]>(endpoint.events);
    return events.includes(ALL_EVENTS) || events.includes(event.event);
  });
  if (subscribed.length === 0) return envelope;

  const payload = JSON.stringify(envelope);
  const firstAttemptAt = toTimestamp(Date.parse(now) + firstAttemptDelayMs);
  await tx
    .insertInto("webhook_deliveries")
    .values(
      subscribed.map((endpoint) => ({
        id: newId(),
        customer_id: customerId,
        endpoint_id: endpoint.id,
        instance_id: event.instanceId,
        event: event.event,
        event_id: envelope.event_id,
        payload,
        status: "pending",
        attempt_count: 0,
        last_error: null,
        last_response_status: null,
        next_attempt_at: firstAttemptAt,
        delivered_at: null,
        claimed_until: null,
        claimed_by: null,
        created_at: now,
        updated_at: now,
      })),
    )
    .execute();
  return envelope;
}
