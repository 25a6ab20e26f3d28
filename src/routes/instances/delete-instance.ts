import Type from "typebox";
import type { App } from "../../http/app-types.js";
import { requestActor } from "../../http/request-actor.js";
import { AUTHENTICATED_ERRORS, errorResponses, IdParams } from "../../http/schemas.js";
import { deleteInstance } from "../../use-cases/delete-instance.js";
import type { RouteDependencies } from "../route-dependencies.js";

export function registerDeleteInstance(app: App, { write }: Pick<RouteDependencies, "write">): void {
  app.delete(
    "/instances/:id",
    {
      // Deleting revokes every key bound to the instance: an account-wide act, so bound keys
      // (which could otherwise delete their own instance) are refused.
      config: { access: { scope: "instances:write", instances: "multi" } },
      schema: {
        operationId: "deleteInstance",
        summary: "Delete an instance and revoke every key bound to it",
        params: IdParams,
        response: {
          204: Type.Null({ description: "Deleted" }),
          ...errorResponses(...AUTHENTICATED_ERRORS, "instance_scoped_key", "instance_not_found"),
        },
      },
    },
    async (request, reply) => {
      await write(requestActor(request), (w, actor) => deleteInstance(w, actor, { id: request.params.id }));
      return reply.code(204).send(null);
    },
  );
}
