import type { KeyActor } from "../audit/actor.js";
import { recordAuditEvent } from "../audit/audit-repository.js";
import type { Delivery } from "../contract/webhook-delivery.js";
import { AppError } from "../errors/app-error.js";
import { nowTimestamp } from "../time/timestamps.js";
import { lockDelivery, requeueDelivery } from "../webhook-deliveries/webhook-delivery-repository.js";
import type { Write } from "./write.js";

/**
 * `POST /v1/webhook-deliveries/:id/retry`: the delivery is due now, and the dispatcher's next
 * run attempts it. A key bound to an instance retries only that instance's deliveries.
 */
export async function retryWebhookDelivery(write: Write, actor: KeyActor, input: { id: string }): Promise<Delivery> {
  const customerId = actor.key.customer_id;
  const delivery = await lockDelivery(write.tx, write.dialect, customerId, input.id, { instanceId: actor.key.instance_id });
  if (!delivery) throw new AppError("delivery_not_found", "No such delivery.");
  if (delivery.status === "success") {
    throw new AppError("delivery_not_retryable", "This delivery has already succeeded: there is nothing to retry.", {
      status: delivery.status,
    });
  }
  const requeued = await requeueDelivery(write.tx, customerId, input.id, nowTimestamp());
  // The row is locked (PostgreSQL) or the database is ours alone (SQLite): it cannot have changed.
  if (!requeued) throw new Error(`delivery ${input.id} changed while locked`);
  await recordAuditEvent(write.tx, customerId, actor, {
    action: "webhook_delivery.retried",
    target: { type: "webhook_delivery", id: delivery.id },
    metadata: {
      previous_status: delivery.status,
      attempt_count: delivery.attempt_count,
      event: delivery.event,
      event_id: delivery.event_id,
      endpoint_id: delivery.endpoint_id,
      instance_id: delivery.instance_id,
    },
  });
  return requeued;
}
