import { InstanceSchema } from "../../contract/instance.js";
import { PageOf, PageQuery } from "../../contract/page.js";
import type { App } from "../../http/app-types.js";
import { listPage } from "../../http/pagination.js";
import { AUTHENTICATED_ERRORS, errorResponses } from "../../http/schemas.js";
import { listInstances } from "../../instances/instance-repository.js";
import type { RouteDependencies } from "../route-dependencies.js";

export function registerListInstances(app: App, { db }: Pick<RouteDependencies, "db">): void {
  app.get(
    "/instances",
    {
      config: { access: { scope: "instances:read", instances: "multi" } },
      schema: {
        operationId: "listInstances",
        summary: "List the customer's instances, newest first",
        querystring: PageQuery,
        response: {
          200: PageOf(InstanceSchema),
          ...errorResponses(...AUTHENTICATED_ERRORS, "instance_scoped_key"),
        },
      },
    },
    async (request) => listPage(request.query, (page) => listInstances(db, request.apiKey.customer_id, page)),
  );
}
