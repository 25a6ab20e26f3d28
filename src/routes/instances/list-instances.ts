import { decodeCursor, toPage } from "../../http/cursor.js";
import type { App } from "../../http/app-types.js";
import { DEFAULT_PAGE_SIZE, PageOf, PageQuery } from "../../contract/page.js";
import { AUTHENTICATED_ERRORS, errorResponses } from "../../http/schemas.js";
import type { Services } from "../../services.js";
import { listInstances } from "../../instances/instance-repository.js";
import { InstanceSchema } from "../../contract/instance.js";

export function registerListInstances(app: App, services: Services): void {
  app.get(
    "/instances",
    {
      config: { access: { scope: "instances:read", instances: "multi" } },
      schema: {
        summary: "List the customer's instances, newest first",
        querystring: PageQuery,
        response: {
          200: PageOf(InstanceSchema),
          ...errorResponses(...AUTHENTICATED_ERRORS, "instance_scoped_key"),
        },
      },
    },
    async (request) => {
      const limit = request.query.limit ?? DEFAULT_PAGE_SIZE;
      const after = request.query.cursor === undefined ? null : decodeCursor(request.query.cursor);
      const rows = await listInstances(services.db, request.apiKey.customer_id, { limit, after });
      return toPage(rows, limit, (row) => row);
    },
  );
}
