import { decodeCursor, toPage } from "../../http/cursor.js";
import type { App } from "../../http/app-types.js";
import { DEFAULT_PAGE_SIZE, PageOf, PageQuery } from "../../contract/page.js";
import { AUTHENTICATED_ERRORS, errorResponses } from "../../http/schemas.js";
import type { Services } from "../../services.js";
import { listWebhookEndpoints } from "../../webhook-endpoints/webhook-endpoint-repository.js";
import { WebhookEndpointSchema } from "../../contract/webhook-endpoint.js";

export function registerListWebhookEndpoints(app: App, services: Services): void {
  app.get(
    "/webhook-endpoints",
    {
      config: { access: { scope: "webhooks:read", instances: "multi" } },
      schema: {
        summary: "List the customer's webhook endpoints, newest first",
        querystring: PageQuery,
        response: {
          200: PageOf(WebhookEndpointSchema),
          ...errorResponses(...AUTHENTICATED_ERRORS, "instance_scoped_key"),
        },
      },
    },
    async (request) => {
      const limit = request.query.limit ?? DEFAULT_PAGE_SIZE;
      const after = request.query.cursor === undefined ? null : decodeCursor(request.query.cursor);
      const rows = await listWebhookEndpoints(services.db, request.apiKey.customer_id, { limit, after });
      return toPage(rows, limit, (row) => row);
    },
  );
}
