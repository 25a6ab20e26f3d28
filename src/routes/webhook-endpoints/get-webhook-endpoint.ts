import { WebhookEndpointSchema } from "../../contract/webhook-endpoint.js";
import { AppError } from "../../errors/app-error.js";
import type { App } from "../../http/app-types.js";
import { AUTHENTICATED_ERRORS, errorResponses, IdParams } from "../../http/schemas.js";
import { findWebhookEndpoint } from "../../webhook-endpoints/webhook-endpoint-repository.js";
import type { RouteDependencies } from "../route-dependencies.js";

export function registerGetWebhookEndpoint(app: App, { db }: Pick<RouteDependencies, "db">): void {
  app.get(
    "/webhook-endpoints/:id",
    {
      config: { access: { scope: "webhooks:read", instances: "multi" } },
      schema: {
        operationId: "getWebhookEndpoint",
        summary: "One webhook endpoint, without its signing secret",
        params: IdParams,
        response: {
          200: WebhookEndpointSchema,
          ...errorResponses(...AUTHENTICATED_ERRORS, "instance_scoped_key", "webhook_endpoint_not_found"),
        },
      },
    },
    async (request) => {
      const endpoint = await findWebhookEndpoint(db, request.apiKey.customer_id, request.params.id);
      if (!endpoint) throw new AppError("webhook_endpoint_not_found", "No such webhook endpoint.");
      return endpoint;
    },
  );
}
