import { AcceptedMessageSchema, SendMessageBody } from "../../contract/message.js";
import type { App } from "../../http/app-types.js";
import { requestActor } from "../../http/request-actor.js";
import { AUTHENTICATED_ERRORS, errorResponses, IdParams } from "../../http/schemas.js";
import { IDEMPOTENCY_ERRORS, IdempotencyKeyHeaders } from "../../idempotency/idempotency-hooks.js";
import { idempotent } from "../../idempotency/idempotent-write.js";
import { checkMessage, sendMessage } from "../../use-cases/send-message.js";
import type { RouteDependencies } from "../route-dependencies.js";
import { refuseUnknownInstance } from "./instance-before-body.js";

/**
 * POST /v1/instances/:id/messages. The order of checks is the contract's (docs/messaging.md):
 * authentication (and a bound key's instance, in the authenticated context's onRequest), then the
 * instance (404, before the body is read), then the body (400: its schema, the content its type
 * needs, a media URL's destination), then a test key on an instance that is not sandbox (403),
 * then the instance's state (409).
 */
export function registerSendMessage(
  app: App,
  { db, write, webhookDestinations }: Pick<RouteDependencies, "db" | "write" | "webhookDestinations">,
): void {
  app.post(
    "/instances/:id/messages",
    {
      config: { access: { scope: "messages:send", instances: "param" }, idempotency: "honoured" },
      schema: {
        operationId: "sendMessage",
        tags: ["messages"],
        summary: "Send a message from an instance: text, media or a template (202: stored, queued)",
        params: IdParams,
        headers: IdempotencyKeyHeaders,
        body: SendMessageBody,
        response: {
          202: AcceptedMessageSchema,
          ...errorResponses(
            ...AUTHENTICATED_ERRORS,
            ...IDEMPOTENCY_ERRORS,
            "instance_access_denied",
            "instance_not_found",
            "test_key_live_instance",
            "instance_unavailable",
          ),
        },
      },
      preParsing: refuseUnknownInstance(db),
    },
    async (request, reply) => {
      const message = await checkMessage(request.body, webhookDestinations);
      const accepted = await write(
        requestActor(request),
        idempotent(request, 202, (w, actor) => sendMessage(w, actor, { instanceId: request.params.id, message })),
      );
      return reply.code(202).send(accepted);
    },
  );
}
