import type { KeyActor } from "../audit/actor.js";
import { recordAuditEvent } from "../audit/audit-repository.js";
import type { SubscribedEvent, WebhookEndpoint } from "../contract/webhook-endpoint.js";
import { generateWebhookSecret } from "../crypto/webhook-signature.js";
import { AppError, validationFailed } from "../errors/app-error.js";
import { newId } from "../ids/uuid-v7.js";
import { lockLiveInstance } from "../instances/instance-repository.js";
import { nowTimestamp } from "../time/timestamps.js";
import { checkDestination, DestinationError, type DestinationPolicy } from "../webhook-endpoints/destination-guard.js";
import { insertWebhookEndpoint } from "../webhook-endpoints/webhook-endpoint-repository.js";
import type { Write } from "./write.js";

/** A URL whose host resolved, when it was checked, only to addresses the policy allows. */
export type CheckedUrl = { readonly url: string; readonly checked: true };

/**
 * The step of creating an endpoint that comes before its transaction: resolving the URL's host
 * may be slow, and must not hold a write lock. A URL the guard refuses is a bad field: 400.
 */
export async function checkEndpointUrl(url: string, policy: DestinationPolicy): Promise<CheckedUrl> {
  try {
    await checkDestination(url, policy);
  } catch (error) {
    if (error instanceof DestinationError) throw validationFailed([{ field: "body.url", message: error.message }]);
    throw error;
  }
  return { url, checked: true };
}

export type CreateWebhookEndpointInput = {
  url: CheckedUrl;
  events: SubscribedEvent[];
  /** The one instance whose events it receives; null for every instance of the customer. */
  instanceId: string | null;
};

/** `POST /v1/webhook-endpoints`: the answer holds the signing secret, which is stored sealed only. */
export async function createWebhookEndpoint(
  write: Write,
  actor: KeyActor,
  input: CreateWebhookEndpointInput,
): Promise<WebhookEndpoint & { secret: string }> {
  const customerId = actor.key.customer_id;
  const { url } = input.url;
  if (input.instanceId !== null && !(await lockLiveInstance(write.tx, customerId, input.instanceId))) {
    throw new AppError("instance_not_found", "No such instance to receive the events of.", { instance_id: input.instanceId });
  }
  const secret = generateWebhookSecret();
  const created = await insertWebhookEndpoint(write.tx, customerId, {
    id: newId(),
    instance_id: input.instanceId,
    url,
    events: input.events,
    sealed_secret: write.secrets.seal(secret),
    created_at: nowTimestamp(),
  });
  await recordAuditEvent(write.tx, customerId, actor, {
    action: "webhook_endpoint.created",
    target: { type: "webhook_endpoint", id: created.id },
    metadata: { url, events: input.events, instance_id: input.instanceId },
  });
  return { ...created, secret };
}
