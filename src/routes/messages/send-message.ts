import { isUuid, newId } from "../../ids/uuid-v7.js";
import { nowTimestamp } from "../../time/timestamps.js";
import type { App } from "../../http/app-types.js";
import { AppError } from "../../errors/app-error.js";
import { AUTHENTICATED_ERRORS, errorResponses, IdParams } from "../../http/schemas.js";
import { findInstance, type Instance } from "../../instances/instance-repository.js";
import type { Services } from "../../services.js";
import { insertMessage, type Message } from "../../messages/message-repository.js";
import { AcceptedMessageSchema, SendMessageBody } from "../../contract/message.js";

/**
 * POST /v1/instances/:id/messages. The order of checks is product.md's: authentication (and a
 * bound key's instance, in the authenticated context's onRequest), then the instance (404), then
 * the body (400), then the instance's state (409).
 *
 * The instance is looked up in `preParsing`, not `preValidation`: preParsing runs before the body
 * is even read, so an unknown instance is 404 whatever the body is (invalid JSON, another media
 * type or an oversized one included), not only when the body parses but fails the schema.
 */
export function registerSendMessage(app: App, services: Services): void {
  app.post(
    "/instances/:id/messages",
    {
      config: { access: { scope: "messages:send", instances: "param" } },
      schema: {
        summary: "Send a message from an instance (202: stored, queued; its states arrive as webhook events)",
        params: IdParams,
        body: SendMessageBody,
        response: {
          202: AcceptedMessageSchema,
          ...errorResponses(...AUTHENTICATED_ERRORS, "instance_access_denied", "instance_not_found", "instance_unavailable"),
        },
      },
      preParsing: async (request) => {
        const id = (request.params as { id?: unknown }).id;
        // A malformed id is left to validation: 400, as on every route.
        if (typeof id !== "string" || !isUuid(id)) return;
        if (!(await findInstance(services.db, request.apiKey.customer_id, id))) throw instanceNotFound();
      },
    },
    async (request, reply) => {
      const customerId = request.apiKey.customer_id;
      const message = await services.db.transaction().execute(async (tx) => {
        // Checked again where the message is written, so an instance deleted or disconnected
        // since the hook cannot receive it.
        const instance = await findInstance(tx, customerId, request.params.id);
        if (!instance) throw instanceNotFound();
        ensureConnected(instance);
        return insertMessage(tx, customerId, {
          id: newId(),
          instance_id: instance.id,
          to: request.body.to,
          type: request.body.type,
          text: request.body.text,
          client_ref: request.body.client_ref ?? null,
          created_at: nowTimestamp(),
        });
      });
      return reply.code(202).send(presentAccepted(message));
    },
  );
}

function instanceNotFound(): AppError {
  return new AppError("instance_not_found", "No such instance.");
}

function ensureConnected(instance: Instance): void {
  if (instance.status !== "connected") {
    throw new AppError("instance_unavailable", `This instance is ${instance.status}, not connected: it cannot send.`, {
      instance_id: instance.id,
      status: instance.status,
    });
  }
}

function presentAccepted(message: Message) {
  return {
    id: message.id,
    instance_id: message.instance_id,
    to: message.to,
    type: message.type,
    status: message.status,
    client_ref: message.client_ref,
    created_at: message.created_at,
  };
}
