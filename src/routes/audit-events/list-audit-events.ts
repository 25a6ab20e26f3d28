import type { App } from "../../http/app-types.js";
import { decodeCursor, toPage } from "../../http/cursor.js";
import { DEFAULT_PAGE_SIZE, PageOf, PageQuery } from "../../contract/page.js";
import { AUTHENTICATED_ERRORS, errorResponses } from "../../http/schemas.js";
import type { Services } from "../../services.js";
import { listAuditEvents } from "../../audit/audit-repository.js";
import { AuditEventSchema } from "../../contract/audit-event.js";

export function registerListAuditEvents(app: App, services: Services): void {
  app.get(
    "/audit-events",
    {
      config: { access: { scope: "audit:read", instances: "multi" } },
      schema: {
        summary: "The customer's audit log, newest first. Append-only",
        querystring: PageQuery,
        response: {
          200: PageOf(AuditEventSchema),
          ...errorResponses(...AUTHENTICATED_ERRORS, "instance_scoped_key"),
        },
      },
    },
    async (request) => {
      const limit = request.query.limit ?? DEFAULT_PAGE_SIZE;
      const after = request.query.cursor === undefined ? null : decodeCursor(request.query.cursor);
      const rows = await listAuditEvents(services.db, request.apiKey.customer_id, { limit, after });
      return toPage(rows, limit, (row) => row);
    },
  );
}
