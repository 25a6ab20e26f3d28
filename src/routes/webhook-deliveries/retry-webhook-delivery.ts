import { DeliverySchema } from "../../contract/webhook-delivery.js";
import type { App } from "../../http/app-types.js";
import { requestActor } from "../../http/request-actor.js";
import { AUTHENTICATED_ERRORS, errorResponses, IdParams } from "../../http/schemas.js";
import { retryWebhookDelivery } from "../../use-cases/retry-webhook-delivery.js";
import type { RouteDependencies } from "../route-dependencies.js";

export function registerRetryWebhookDelivery(app: App, { write }: Pick<RouteDependencies, "write">): void {
  app.post(
    "/webhook-deliveries/:id/retry",
    {
      // As for reading one: a bound key retries its own instance's deliveries, and any other is 404.
      config: { access: { scope: "webhooks:write", instances: "narrowed" } },
      schema: {
        operationId: "retryWebhookDelivery",
        summary: "Retry a delivery now",
        description:
          "Takes no body. A `pending`, `retrying` or `failed` delivery becomes due at once (a failed one `retrying`, for one attempt more: if that attempt fails too, it is `failed` again) and the answer is the delivery as it now stands. An attempt already in flight is not doubled: its result is recorded as usual. A delivery that succeeded is 409 `delivery_not_retryable`.",
        params: IdParams,
        response: {
          202: DeliverySchema,
          ...errorResponses(...AUTHENTICATED_ERRORS, "delivery_not_found", "delivery_not_retryable"),
        },
      },
    },
    async (request, reply) => {
      const delivery = await write(requestActor(request), (w, actor) => retryWebhookDelivery(w, actor, { id: request.params.id }));
      return reply.code(202).send(delivery);
    },
  );
}
