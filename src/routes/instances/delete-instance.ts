import Type from "typebox";
import { revokeInstanceKeys } from "../../api-keys/api-key-repository.js";
import { requestOrigin } from "../../http/request-actor.js";
import { recordAuditEvent } from "../../audit/audit-repository.js";
import { nowTimestamp } from "../../time/timestamps.js";
import type { App } from "../../http/app-types.js";
import { AppError } from "../../errors/app-error.js";
import { AUTHENTICATED_ERRORS, errorResponses, IdParams } from "../../http/schemas.js";
import type { Services } from "../../services.js";
import { findInstance, softDeleteInstance } from "../../instances/instance-repository.js";

export function registerDeleteInstance(app: App, services: Services): void {
  app.delete(
    "/instances/:id",
    {
      // Deleting revokes every key bound to the instance: an account-wide act, so bound keys
      // (which could otherwise delete their own instance) are refused.
      config: { access: { scope: "instances:write", instances: "multi" } },
      schema: {
        summary: "Delete an instance and revoke every key bound to it",
        params: IdParams,
        response: {
          204: Type.Null({ description: "Deleted" }),
          ...errorResponses(...AUTHENTICATED_ERRORS, "instance_scoped_key", "instance_not_found"),
        },
      },
    },
    async (request, reply) => {
      const customerId = request.apiKey.customer_id;
      const instanceId = request.params.id;
      const origin = requestOrigin(request);
      const revoked = await services.db.transaction().execute(async (tx) => {
        const instance = await findInstance(tx, customerId, instanceId);
        const at = nowTimestamp();
        if (!instance || !(await softDeleteInstance(tx, customerId, instanceId, at))) {
          throw new AppError("instance_not_found", "No such instance.");
        }
        const keys = await revokeInstanceKeys(tx, customerId, instanceId, at);
        await services.keyEvents.announceRevoked(
          tx,
          keys.map((key) => key.id),
        );
        for (const key of keys) {
          await recordAuditEvent(tx, customerId, origin, {
            action: "api_key.revoked",
            target: { type: "api_key", id: key.id },
            metadata: { name: key.name, prefix: key.prefix, reason: "instance_deleted", instance_id: instanceId },
          });
          await services.outbox.emit(tx, customerId, {
            event: "api_key.revoked",
            instanceId,
            data: { api_key: key, reason: "instance_deleted" },
          });
        }
        await recordAuditEvent(tx, customerId, origin, {
          action: "instance.deleted",
          target: { type: "instance", id: instanceId },
          metadata: { revoked_key_ids: keys.map((key) => key.id) },
        });
        await services.outbox.emit(tx, customerId, {
          event: "instance.deleted",
          instanceId,
          data: { instance: { ...instance, updated_at: at } },
        });
        return keys;
      });
      services.cache.evict(revoked.map((key) => key.id));
      return reply.code(204).send(null);
    },
  );
}
