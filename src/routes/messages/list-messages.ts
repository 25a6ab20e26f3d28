import { ListMessagesQuery, MessageSchema } from "../../contract/message.js";
import { PageOf } from "../../contract/page.js";
import type { App } from "../../http/app-types.js";
import { listPage } from "../../http/pagination.js";
import { AUTHENTICATED_ERRORS, errorResponses, IdParams } from "../../http/schemas.js";
import { findInstance } from "../../instances/instance-repository.js";
import { listMessages } from "../../messages/message-repository.js";
import { instanceNotFound } from "../../use-cases/send-message.js";
import type { RouteDependencies } from "../route-dependencies.js";

/** GET /v1/instances/:id/messages: the instance's messages both ways, newest first. */
export function registerListMessages(app: App, { db }: Pick<RouteDependencies, "db">): void {
  app.get(
    "/instances/:id/messages",
    {
      config: { access: { scope: "messages:read", instances: "param" } },
      schema: {
        operationId: "listMessages",
        tags: ["messages"],
        summary: "An instance's messages, sent and received, newest first; filter by direction and status",
        params: IdParams,
        querystring: ListMessagesQuery,
        response: {
          200: PageOf(MessageSchema),
          ...errorResponses(...AUTHENTICATED_ERRORS, "instance_access_denied", "instance_not_found"),
        },
      },
    },
    async (request) => {
      const customerId = request.apiKey.customer_id;
      const instanceId = request.params.id;
      // Deleted instances are gone for every reader, their messages with them.
      if (!(await findInstance(db, customerId, instanceId))) throw instanceNotFound();
      const { direction, status } = request.query;
      return listPage(request.query, (page) => listMessages(db, customerId, instanceId, { direction, status }, page));
    },
  );
}
