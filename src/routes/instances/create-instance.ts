import { CreateInstanceBody, InstanceSchema } from "../../contract/instance.js";
import type { App } from "../../http/app-types.js";
import { requestActor } from "../../http/request-actor.js";
import { AUTHENTICATED_ERRORS, errorResponses } from "../../http/schemas.js";
import { IDEMPOTENCY_ERRORS, IdempotencyKeyHeaders } from "../../idempotency/idempotency-hooks.js";
import { idempotent } from "../../idempotency/idempotent-write.js";
import { connectTransport, createInstance } from "../../use-cases/create-instance.js";
import type { RouteDependencies } from "../route-dependencies.js";

export function registerCreateInstance(app: App, { write, cloudApi }: Pick<RouteDependencies, "write" | "cloudApi">): void {
  app.post(
    "/instances",
    {
      config: { access: { scope: "instances:write", instances: "multi" }, idempotency: "honoured" },
      schema: {
        operationId: "createInstance",
        summary: "Create an instance (a WhatsApp number to connect)",
        headers: IdempotencyKeyHeaders,
        body: CreateInstanceBody,
        response: {
          201: InstanceSchema,
          ...errorResponses(...AUTHENTICATED_ERRORS, ...IDEMPOTENCY_ERRORS, "instance_scoped_key"),
        },
      },
    },
    async (request, reply) => {
      const connected = await connectTransport(cloudApi, {
        transport: request.body.transport ?? "sandbox",
        phoneNumberId: request.body.phone_number_id ?? null,
      });
      const instance = await write(
        requestActor(request),
        idempotent(request, 201, (w, actor) => createInstance(w, actor, { name: request.body.name, connected })),
      );
      return reply.code(201).send(instance);
    },
  );
}
