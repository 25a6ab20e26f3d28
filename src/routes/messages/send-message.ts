import { AcceptedMessageSchema, SendMessageBody } from "../../contract/message.js";
import type { App } from "../../http/app-types.js";
import { requestActor } from "../../http/request-actor.js";
import { AUTHENTICATED_ERRORS, errorResponses, IdParams } from "../../http/schemas.js";
import { isUuid } from "../../ids/uuid-v7.js";
import { findInstance } from "../../instances/instance-repository.js";
import { instanceNotFound, sendMessage } from "../../use-cases/send-message.js";
import type { RouteDependencies } from "../route-dependencies.js";

/**
 * POST /v1/instances/:id/messages. The order of checks is the contract's (docs/messaging.md):
 * authentication (and a bound key's instance, in the authenticated context's onRequest), then the
 * instance (404), then the body (400), then a test key on an instance that is not sandbox (403),
 * then the instance's state (409).
 *
 * The instance is looked up in `preParsing`, not `preValidation`: preParsing runs before the body
 * is even read, so an unknown instance is 404 whatever the body is (invalid JSON, another media
 * type or an oversized one included), not only when the body parses but fails the schema.
 */
export function registerSendMessage(app: App, { db, write }: Pick<RouteDependencies, "db" | "write">): void {
  app.post(
    "/instances/:id/messages",
    {
      config: { access: { scope: "messages:send", instances: "param" } },
      schema: {
        operationId: "sendMessage",
        tags: ["messages"],
        summary: "Send a message from an instance (202: stored, queued; its states arrive as webhook events)",
        params: IdParams,
        body: SendMessageBody,
        response: {
          202: AcceptedMessageSchema,
          ...errorResponses(...AUTHENTICATED_ERRORS, "instance_access_denied", "instance_not_found", "test_key_live_instance", "instance_unavailable"),
        },
      },
      preParsing: async (request) => {
        const id = (request.params as { id?: unknown }).id;
        // A malformed id is left to validation: 400, as on every route.
        if (typeof id !== "string" || !isUuid(id)) return;
        if (!(await findInstance(db, request.apiKey.customer_id, id))) throw instanceNotFound();
      },
    },
    async (request, reply) => {
      const accepted = await write(requestActor(request), (w, actor) =>
        sendMessage(w, actor, { instanceId: request.params.id, message: request.body }),
      );
      return reply.code(202).send(accepted);
    },
  );
}
