import { MessageSchema, SandboxInboundBody } from "../../contract/message.js";
import type { App } from "../../http/app-types.js";
import { requestActor } from "../../http/request-actor.js";
import { AUTHENTICATED_ERRORS, errorResponses, IdParams } from "../../http/schemas.js";
import { IDEMPOTENCY_ERRORS, IdempotencyKeyHeaders } from "../../idempotency/idempotency-hooks.js";
import { idempotent } from "../../idempotency/idempotent-write.js";
import { receiveSandboxMessage } from "../../use-cases/receive-message.js";
import type { RouteDependencies } from "../route-dependencies.js";
import { refuseUnknownInstance } from "./instance-before-body.js";

/** POST /v1/instances/:id/sandbox/inbound: a sandbox instance receives a message the caller writes. */
export function registerReceiveSandboxMessage(app: App, { db, write }: Pick<RouteDependencies, "db" | "write">): void {
  app.post(
    "/instances/:id/sandbox/inbound",
    {
      config: { access: { scope: "messages:send", instances: "param" }, idempotency: "honoured" },
      schema: {
        operationId: "receiveSandboxMessage",
        tags: ["messages"],
        summary: "Make a sandbox instance receive a message, as if someone wrote to it (201: the inbound message; message.received follows)",
        params: IdParams,
        headers: IdempotencyKeyHeaders,
        body: SandboxInboundBody,
        response: {
          201: MessageSchema,
          ...errorResponses(...AUTHENTICATED_ERRORS, ...IDEMPOTENCY_ERRORS, "instance_access_denied", "instance_not_found", "instance_not_sandbox"),
        },
      },
      preParsing: refuseUnknownInstance(db),
    },
    async (request, reply) => {
      const message = await write(
        requestActor(request),
        idempotent(request, 201, (w, actor) => receiveSandboxMessage(w, actor, { instanceId: request.params.id, message: request.body })),
      );
      return reply.code(201).send(message);
    },
  );
}
