import { CreatedWebhookEndpointSchema, CreateWebhookEndpointBody } from "../../contract/webhook-endpoint.js";
import type { App } from "../../http/app-types.js";
import { requestActor } from "../../http/request-actor.js";
import { AUTHENTICATED_ERRORS, errorResponses } from "../../http/schemas.js";
import { checkEndpointUrl, createWebhookEndpoint } from "../../use-cases/create-webhook-endpoint.js";
import type { RouteDependencies } from "../route-dependencies.js";

export function registerCreateWebhookEndpoint(
  app: App,
  { write, webhookDestinations }: Pick<RouteDependencies, "write" | "webhookDestinations">,
): void {
  app.post(
    "/webhook-endpoints",
    {
      config: { access: { scope: "webhooks:write", instances: "multi" } },
      schema: {
        operationId: "createWebhookEndpoint",
        summary: "Register a webhook endpoint. The response holds its signing secret, shown this once",
        body: CreateWebhookEndpointBody,
        response: {
          201: CreatedWebhookEndpointSchema,
          ...errorResponses(...AUTHENTICATED_ERRORS, "instance_scoped_key", "instance_not_found"),
        },
      },
    },
    async (request, reply) => {
      const url = await checkEndpointUrl(request.body.url, webhookDestinations);
      const input = { url, events: request.body.events, instanceId: request.body.instance_id?.toLowerCase() ?? null };
      const endpoint = await write(requestActor(request), (w, actor) => createWebhookEndpoint(w, actor, input));
      return reply.code(201).header("cache-control", "no-store").send(endpoint);
    },
  );
}
