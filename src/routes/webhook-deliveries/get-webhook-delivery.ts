import { DeliveryDetailSchema } from "../../contract/webhook-delivery.js";
import { AppError } from "../../errors/app-error.js";
import type { App } from "../../http/app-types.js";
import { AUTHENTICATED_ERRORS, errorResponses, IdParams } from "../../http/schemas.js";
import { findDelivery, listDeliveryAttempts } from "../../webhook-deliveries/webhook-delivery-repository.js";
import type { RouteDependencies } from "../route-dependencies.js";

export function registerGetWebhookDelivery(app: App, { db }: Pick<RouteDependencies, "db">): void {
  app.get(
    "/webhook-deliveries/:id",
    {
      // The `:id` is a delivery's, not an instance's: a bound key sees its own instance's
      // deliveries only, and anything else is 404.
      config: { access: { scope: "deliveries:read", instances: "narrowed" } },
      schema: {
        operationId: "getWebhookDelivery",
        summary: "One webhook delivery with its attempt log",
        params: IdParams,
        response: {
          200: DeliveryDetailSchema,
          ...errorResponses(...AUTHENTICATED_ERRORS, "delivery_not_found"),
        },
      },
    },
    async (request) => {
      const key = request.apiKey;
      const delivery = await findDelivery(db, key.customer_id, request.params.id, { instanceId: key.instance_id });
      if (!delivery) throw new AppError("delivery_not_found", "No such delivery.");
      return { ...delivery, attempts: await listDeliveryAttempts(db, key.customer_id, delivery.id) };
    },
  );
}
