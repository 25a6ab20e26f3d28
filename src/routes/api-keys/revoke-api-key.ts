import Type from "typebox";
import { requestOrigin } from "../../http/request-actor.js";
import { recordAuditEvent } from "../../audit/audit-repository.js";
import { nowTimestamp } from "../../time/timestamps.js";
import type { App } from "../../http/app-types.js";
import { AppError } from "../../errors/app-error.js";
import { AUTHENTICATED_ERRORS, errorResponses, IdParams } from "../../http/schemas.js";
import type { Services } from "../../services.js";
import { findApiKey, revokeApiKey } from "../../api-keys/api-key-repository.js";

export function registerRevokeApiKey(app: App, services: Services): void {
  app.delete(
    "/api-keys/:id",
    {
      config: { access: { scope: "api_keys:write", instances: "multi" } },
      schema: {
        summary: "Revoke a key: it stops working at once. Revoking a revoked key changes nothing",
        params: IdParams,
        response: {
          204: Type.Null({ description: "Revoked" }),
          ...errorResponses(...AUTHENTICATED_ERRORS, "instance_scoped_key", "api_key_not_found"),
        },
      },
    },
    async (request, reply) => {
      const customerId = request.apiKey.customer_id;
      const keyId = request.params.id;
      await services.db.transaction().execute(async (tx) => {
        const key = await findApiKey(tx, customerId, keyId);
        if (!key) throw new AppError("api_key_not_found", "No such API key.");
        const revokedAt = nowTimestamp();
        if (await revokeApiKey(tx, customerId, keyId, revokedAt)) {
          await recordAuditEvent(tx, customerId, requestOrigin(request), {
            action: "api_key.revoked",
            target: { type: "api_key", id: keyId },
            metadata: { name: key.name, prefix: key.prefix },
          });
          await services.keyEvents.announceRevoked(tx, [keyId]);
          await services.outbox.emit(tx, customerId, {
            event: "api_key.revoked",
            instanceId: key.instance_id,
            data: { api_key: { ...key, revoked_at: revokedAt } },
          });
        }
      });
      services.cache.evict([keyId]);
      return reply.code(204).send(null);
    },
  );
}
