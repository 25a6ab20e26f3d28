import { requestOrigin } from "../../http/request-actor.js";
import { recordAuditEvent } from "../../audit/audit-repository.js";
import { newId } from "../../ids/uuid-v7.js";
import { nowTimestamp } from "../../time/timestamps.js";
import type { App } from "../../http/app-types.js";
import { AppError, validationFailed } from "../../errors/app-error.js";
import { AUTHENTICATED_ERRORS, errorResponses } from "../../http/schemas.js";
import { findInstance } from "../../instances/instance-repository.js";
import type { Services } from "../../services.js";
import { checkDestination, DestinationError, type DestinationPolicy } from "../../webhook-endpoints/destination-guard.js";
import { insertWebhookEndpoint } from "../../webhook-endpoints/webhook-endpoint-repository.js";
import { CreatedWebhookEndpointSchema, CreateWebhookEndpointBody } from "../../contract/webhook-endpoint.js";
import { generateWebhookSecret } from "../../crypto/webhook-signature.js";

export function registerCreateWebhookEndpoint(app: App, services: Services): void {
  app.post(
    "/webhook-endpoints",
    {
      config: { access: { scope: "webhooks:write", instances: "multi" } },
      schema: {
        summary: "Register a webhook endpoint. The response holds its signing secret, shown this once",
        body: CreateWebhookEndpointBody,
        response: {
          201: CreatedWebhookEndpointSchema,
          ...errorResponses(...AUTHENTICATED_ERRORS, "instance_scoped_key", "instance_not_found"),
        },
      },
    },
    async (request, reply) => {
      const customerId = request.apiKey.customer_id;
      const { url, events } = request.body;
      const instanceId = request.body.instance_id?.toLowerCase() ?? null;
      // Resolved before the transaction opens: a slow DNS answer must not hold a write lock.
      await refuseUnsafeDestination(url, services.config.webhooks);
      const secret = generateWebhookSecret();
      const endpoint = await services.db.transaction().execute(async (tx) => {
        if (instanceId !== null && !(await findInstance(tx, customerId, instanceId))) {
          throw new AppError("instance_not_found", "No such instance to receive the events of.", {
            instance_id: instanceId,
          });
        }
        const created = await insertWebhookEndpoint(tx, customerId, {
          id: newId(),
          instance_id: instanceId,
          url,
          events,
          sealed_secret: services.secrets.seal(secret),
          created_at: nowTimestamp(),
        });
        await recordAuditEvent(tx, customerId, requestOrigin(request), {
          action: "webhook_endpoint.created",
          target: { type: "webhook_endpoint", id: created.id },
          metadata: { url, events, instance_id: instanceId },
        });
        return created;
      });
      return reply.code(201).header("cache-control", "no-store").send({ ...endpoint, secret });
    },
  );
}

/** A URL the guard refuses is a bad field of the body: 400, with the guard's reason. */
async function refuseUnsafeDestination(url: string, policy: DestinationPolicy): Promise<void> {
  try {
    await checkDestination(url, policy);
  } catch (error) {
    if (error instanceof DestinationError) throw validationFailed([{ field: "body.url", message: error.message }]);
    throw error;
  }
}
