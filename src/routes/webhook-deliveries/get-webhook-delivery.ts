import type { App } from "../../http/app-types.js";
import { AppError } from "../../errors/app-error.js";
import { AUTHENTICATED_ERRORS, errorResponses, IdParams } from "../../http/schemas.js";
import type { Services } from "../../services.js";
import { findDelivery } from "../../webhook-deliveries/webhook-delivery-repository.js";
import { DeliverySchema } from "../../contract/webhook-delivery.js";

export function registerGetWebhookDelivery(app: App, services: Services): void {
  app.get(
    "/webhook-deliveries/:id",
    {
      // The `:id` is a delivery's, not an instance's: the handler narrows a bound key to its
      // own instance's deliveries, and anything else is 404.
      config: { access: { scope: "deliveries:read", instances: "narrowed" } },
      schema: {
        summary: "One webhook delivery with its attempt log",
        params: IdParams,
        response: {
          200: DeliverySchema,
          ...errorResponses(...AUTHENTICATED_ERRORS, "delivery_not_found"),
        },
      },
    },
    async (request) => {
      const key = request.apiKey;
      const delivery = await findDelivery(services.db, key.customer_id, request.params.id, {
        instanceId: key.instance_id,
      });
      if (!delivery) throw new AppError("delivery_not_found", "No such delivery.");
      return delivery;
    },
  );
}
