import Type from "typebox";
import type { App } from "../../http/app-types.js";
import { requestActor } from "../../http/request-actor.js";
import { AUTHENTICATED_ERRORS, errorResponses, IdParams } from "../../http/schemas.js";
import { deleteWebhookEndpoint } from "../../use-cases/delete-webhook-endpoint.js";
import type { RouteDependencies } from "../route-dependencies.js";

export function registerDeleteWebhookEndpoint(app: App, { write }: Pick<RouteDependencies, "write">): void {
  app.delete(
    "/webhook-endpoints/:id",
    {
      config: { access: { scope: "webhooks:write", instances: "multi" } },
      schema: {
        operationId: "deleteWebhookEndpoint",
        summary: "Delete a webhook endpoint: nothing more is sent to it, pending deliveries included",
        params: IdParams,
        response: {
          204: Type.Null({ description: "Deleted" }),
          ...errorResponses(...AUTHENTICATED_ERRORS, "instance_scoped_key", "webhook_endpoint_not_found"),
        },
      },
    },
    async (request, reply) => {
      await write(requestActor(request), (w, actor) => deleteWebhookEndpoint(w, actor, { id: request.params.id }));
      return reply.code(204).send(null);
    },
  );
}
