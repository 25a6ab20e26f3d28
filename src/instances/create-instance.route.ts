import { requestOrigin } from "../audit/audit-origin.js";
import { recordAuditEvent } from "../audit/audit-repository.js";
import { newId } from "../db/ids.js";
import { nowTimestamp } from "../db/time.js";
import type { App } from "../http/app-types.js";
import { AUTHENTICATED_ERRORS, errorResponses } from "../http/schemas.js";
import type { Services } from "../services.js";
import { insertInstance } from "./instance-repository.js";
import { CreateInstanceBody, InstanceSchema } from "./instance-schemas.js";

export function registerCreateInstance(app: App, services: Services): void {
  app.post(
    "/instances",
    {
      config: { access: { scope: "instances:write", instances: "multi" } },
      schema: {
        summary: "Create an instance (a WhatsApp number to connect)",
        body: CreateInstanceBody,
        response: {
          201: InstanceSchema,
          ...errorResponses(...AUTHENTICATED_ERRORS, "instance_scoped_key"),
        },
      },
    },
    async (request, reply) => {
      const customerId = request.apiKey.customer_id;
      const now = nowTimestamp();
      const instance = await services.db.transaction().execute(async (tx) => {
        const created = await insertInstance(tx, customerId, {
          id: newId(),
          name: request.body.name,
          transport: "sandbox",
          status: "pending",
          phone_number: null,
          created_at: now,
          updated_at: now,
        });
        await recordAuditEvent(tx, customerId, requestOrigin(request), {
          action: "instance.created",
          target: { type: "instance", id: created.id },
          metadata: { name: created.name },
        });
        await services.outbox.emit(tx, customerId, {
          event: "instance.created",
          instanceId: created.id,
          data: { instance: created },
        });
        return created;
      });
      return reply.code(201).send(instance);
    },
  );
}
