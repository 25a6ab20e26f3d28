import Type from "typebox";
import type { App } from "../../http/app-types.js";
import { requestActor } from "../../http/request-actor.js";
import { AUTHENTICATED_ERRORS, errorResponses, IdParams } from "../../http/schemas.js";
import { revokeApiKey } from "../../use-cases/revoke-api-keys.js";
import type { RouteDependencies } from "../route-dependencies.js";

export function registerRevokeApiKey(app: App, { write }: Pick<RouteDependencies, "write">): void {
  app.delete(
    "/api-keys/:id",
    {
      config: { access: { scope: "api_keys:write", instances: "multi" } },
      schema: {
        operationId: "revokeApiKey",
        summary: "Revoke a key: it stops working at once. Revoking a revoked key changes nothing",
        params: IdParams,
        response: {
          204: Type.Null({ description: "Revoked" }),
          ...errorResponses(...AUTHENTICATED_ERRORS, "instance_scoped_key", "api_key_not_found"),
        },
      },
    },
    async (request, reply) => {
      await write(requestActor(request), (w, actor) => revokeApiKey(w, actor, { id: request.params.id }));
      return reply.code(204).send(null);
    },
  );
}
