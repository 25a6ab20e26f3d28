import { CreatedWebhookEndpointSchema, CreateWebhookEndpointBody } from "../../contract/webhook-endpoint.js";
import type { App } from "../../http/app-types.js";
import { requestActor } from "../../http/request-actor.js";
import { AUTHENTICATED_ERRORS, errorResponses } from "../../http/schemas.js";
import { IDEMPOTENCY_ERRORS, IdempotencyKeyHeaders } from "../../idempotency/idempotency-hooks.js";
import { idempotent } from "../../idempotency/idempotent-write.js";
import { checkEndpointUrl, createWebhookEndpoint } from "../../use-cases/create-webhook-endpoint.js";
import type { RouteDependencies } from "../route-dependencies.js";

export function registerCreateWebhookEndpoint(
  app: App,
  { write, webhookDestinations }: Pick<RouteDependencies, "write" | "webhookDestinations">,
): void {
  app.post(
    "/webhook-endpoints",
    {
      config: { access: { scope: "webhooks:write", instances: "multi" }, idempotency: "honoured" },
      schema: {
        operationId: "createWebhookEndpoint",
        summary: "Register a webhook endpoint. The response holds its signing secret, shown this once",
        headers: IdempotencyKeyHeaders,
        body: CreateWebhookEndpointBody,
        response: {
          201: CreatedWebhookEndpointSchema,
          ...errorResponses(...AUTHENTICATED_ERRORS, ...IDEMPOTENCY_ERRORS, "instance_scoped_key", "instance_not_found"),
        },
      },
    },
    async (request, reply) => {
      const url = await checkEndpointUrl(request.body.url, webhookDestinations);
      const input = { url, events: request.body.events, instanceId: request.body.instance_id?.toLowerCase() ?? null };
      // The signing secret is never stored: a replay answers without it (docs/idempotency.md).
      const endpoint = await write(
        requestActor(request),
        idempotent(request, 201, (w, actor) => createWebhookEndpoint(w, actor, input), ({ secret: _secret, ...stored }) => stored),
      );
      return reply.code(201).header("cache-control", "no-store").send(endpoint);
    },
  );
}
