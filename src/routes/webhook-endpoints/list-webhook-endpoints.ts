import { PageOf, PageQuery } from "../../contract/page.js";
import { WebhookEndpointSchema } from "../../contract/webhook-endpoint.js";
import type { App } from "../../http/app-types.js";
import { listPage } from "../../http/pagination.js";
import { AUTHENTICATED_ERRORS, errorResponses } from "../../http/schemas.js";
import { listWebhookEndpoints } from "../../webhook-endpoints/webhook-endpoint-repository.js";
import type { RouteDependencies } from "../route-dependencies.js";

export function registerListWebhookEndpoints(app: App, { db }: Pick<RouteDependencies, "db">): void {
  app.get(
    "/webhook-endpoints",
    {
      config: { access: { scope: "webhooks:read", instances: "multi" } },
      schema: {
        operationId: "listWebhookEndpoints",
        summary: "List the customer's webhook endpoints, newest first",
        querystring: PageQuery,
        response: {
          200: PageOf(WebhookEndpointSchema),
          ...errorResponses(...AUTHENTICATED_ERRORS, "instance_scoped_key"),
        },
      },
    },
    async (request) => listPage(request.query, (page) => listWebhookEndpoints(db, request.apiKey.customer_id, page)),
  );
}
