import { MessageParams, MessageSchema } from "../../contract/message.js";
import type { App } from "../../http/app-types.js";
import { AppError } from "../../errors/app-error.js";
import { AUTHENTICATED_ERRORS, errorResponses } from "../../http/schemas.js";
import { findInstance } from "../../instances/instance-repository.js";
import { findMessage } from "../../messages/message-repository.js";
import { instanceNotFound } from "../../use-cases/send-message.js";
import type { RouteDependencies } from "../route-dependencies.js";

/** GET /v1/instances/:id/messages/:message_id: one message, with its current state and when it got there. */
export function registerGetMessage(app: App, { db }: Pick<RouteDependencies, "db">): void {
  app.get(
    "/instances/:id/messages/:message_id",
    {
      config: { access: { scope: "messages:read", instances: "param" } },
      schema: {
        operationId: "getMessage",
        tags: ["messages"],
        summary: "One message of an instance, sent or received, with its status and the time of each state",
        params: MessageParams,
        response: {
          200: MessageSchema,
          ...errorResponses(...AUTHENTICATED_ERRORS, "instance_access_denied", "instance_not_found", "message_not_found"),
        },
      },
    },
    async (request) => {
      const customerId = request.apiKey.customer_id;
      // Deleted instances are gone for every reader, their messages with them.
      if (!(await findInstance(db, customerId, request.params.id))) throw instanceNotFound();
      const message = await findMessage(db, customerId, request.params.id, request.params.message_id.toLowerCase());
      if (!message) throw new AppError("message_not_found", "No such message.");
      return message;
    },
  );
}
