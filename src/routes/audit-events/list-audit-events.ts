import { listAuditEvents } from "../../audit/audit-repository.js";
import { AuditEventSchema } from "../../contract/audit-event.js";
import { PageOf, PageQuery } from "../../contract/page.js";
import type { App } from "../../http/app-types.js";
import { listPage } from "../../http/pagination.js";
import { AUTHENTICATED_ERRORS, errorResponses } from "../../http/schemas.js";
import type { RouteDependencies } from "../route-dependencies.js";

export function registerListAuditEvents(app: App, { db }: Pick<RouteDependencies, "db">): void {
  app.get(
    "/audit-events",
    {
      config: { access: { scope: "audit:read", instances: "multi" } },
      schema: {
        operationId: "listAuditEvents",
        summary: "The customer's audit log, newest first. Append-only",
        querystring: PageQuery,
        response: {
          200: PageOf(AuditEventSchema),
          ...errorResponses(...AUTHENTICATED_ERRORS, "instance_scoped_key"),
        },
      },
    },
    async (request) => listPage(request.query, (page) => listAuditEvents(db, request.apiKey.customer_id, page)),
  );
}
