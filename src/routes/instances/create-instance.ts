import { requestOrigin } from "../../http/request-actor.js";
import { recordAuditEvent } from "../../audit/audit-repository.js";
import { newId } from "../../ids/uuid-v7.js";
import { nowTimestamp } from "../../time/timestamps.js";
import type { App } from "../../http/app-types.js";
import { validationFailed } from "../../errors/app-error.js";
import { AUTHENTICATED_ERRORS, errorResponses } from "../../http/schemas.js";
import type { Services } from "../../services.js";
import { transportFor } from "../../transports/transport-by-name.js";
import { insertInstance, isProviderPhoneNumberInUse } from "../../instances/instance-repository.js";
import { CreateInstanceBody, InstanceSchema } from "../../contract/instance.js";

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
      const transport = transportFor(request.body.transport ?? "sandbox", services);
      // Connecting may call the network (the Cloud API verifies the number): before the
      // transaction, which stays short. Refusals (400) happen here, before anything is written.
      const connection = await transport.connect({ phoneNumberId: request.body.phone_number_id ?? null });
      const now = nowTimestamp();
      const instance = await services.db.transaction().execute(async (tx) => {
        const providerId = connection.providerPhoneNumberId;
        if (providerId !== null && (await isProviderPhoneNumberInUse(tx, providerId))) {
          throw validationFailed([{ field: "body.phone_number_id", message: "is already connected to another instance" }]);
        }
        const created = await insertInstance(
          tx,
          customerId,
          {
            id: newId(),
            name: request.body.name,
            transport: transport.name,
            status: connection.status,
            phone_number: connection.phoneNumber,
            created_at: now,
            updated_at: now,
          },
          providerId,
        );
        await recordAuditEvent(tx, customerId, requestOrigin(request), {
          action: "instance.created",
          target: { type: "instance", id: created.id },
          metadata: { name: created.name, transport: created.transport },
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
