import Type from "typebox";
import { requestOrigin } from "../../http/request-actor.js";
import { recordAuditEvent } from "../../audit/audit-repository.js";
import { nowTimestamp } from "../../time/timestamps.js";
import type { App } from "../../http/app-types.js";
import { AppError } from "../../errors/app-error.js";
import { AUTHENTICATED_ERRORS, errorResponses, IdParams } from "../../http/schemas.js";
import type { Services } from "../../services.js";
import { findWebhookEndpoint, softDeleteWebhookEndpoint } from "../../webhook-endpoints/webhook-endpoint-repository.js";

export function registerDeleteWebhookEndpoint(app: App, services: Services): void {
  app.delete(
    "/webhook-endpoints/:id",
    {
      config: { access: { scope: "webhooks:write", instances: "multi" } },
      schema: {
        summary: "Delete a webhook endpoint: nothing more is sent to it, pending deliveries included",
        params: IdParams,
        response: {
          204: Type.Null({ description: "Deleted" }),
          ...errorResponses(...AUTHENTICATED_ERRORS, "instance_scoped_key", "webhook_endpoint_not_found"),
        },
      },
    },
    async (request, reply) => {
      const customerId = request.apiKey.customer_id;
      const endpointId = request.params.id;
      await services.db.transaction().execute(async (tx) => {
        const endpoint = await findWebhookEndpoint(tx, customerId, endpointId);
        if (!endpoint || !(await softDeleteWebhookEndpoint(tx, customerId, endpointId, nowTimestamp()))) {
          throw new AppError("webhook_endpoint_not_found", "No such webhook endpoint.");
        }
        await recordAuditEvent(tx, customerId, requestOrigin(request), {
          action: "webhook_endpoint.deleted",
          target: { type: "webhook_endpoint", id: endpointId },
          metadata: { url: endpoint.url, events: endpoint.events, instance_id: endpoint.instance_id },
        });
      });
      return reply.code(204).send(null);
    },
  );
}
