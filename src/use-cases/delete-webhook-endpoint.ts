import type { KeyActor } from "../audit/actor.js";
import { recordAuditEvent } from "../audit/audit-repository.js";
import { AppError } from "../errors/app-error.js";
import { nowTimestamp } from "../time/timestamps.js";
import { findWebhookEndpoint, softDeleteWebhookEndpoint } from "../webhook-endpoints/webhook-endpoint-repository.js";
import type { Write } from "./write.js";

/** `DELETE /v1/webhook-endpoints/:id`: nothing more is sent to it, pending deliveries included. */
export async function deleteWebhookEndpoint(write: Write, actor: KeyActor, input: { id: string }): Promise<void> {
  const customerId = actor.key.customer_id;
  const endpoint = await findWebhookEndpoint(write.tx, customerId, input.id);
  if (!endpoint || !(await softDeleteWebhookEndpoint(write.tx, customerId, input.id, nowTimestamp()))) {
    throw new AppError("webhook_endpoint_not_found", "No such webhook endpoint.");
  }
  await recordAuditEvent(write.tx, customerId, actor, {
    action: "webhook_endpoint.deleted",
    target: { type: "webhook_endpoint", id: input.id },
    metadata: { url: endpoint.url, events: endpoint.events, instance_id: endpoint.instance_id },
  });
}
