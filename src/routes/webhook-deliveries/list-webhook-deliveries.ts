import { PageOf } from "../../contract/page.js";
import { DeliverySchema, ListDeliveriesQuery } from "../../contract/webhook-delivery.js";
import { AppError } from "../../errors/app-error.js";
import type { App } from "../../http/app-types.js";
import { listPage } from "../../http/pagination.js";
import { AUTHENTICATED_ERRORS, errorResponses } from "../../http/schemas.js";
import { listDeliveries } from "../../webhook-deliveries/webhook-delivery-repository.js";
import type { RouteDependencies } from "../route-dependencies.js";

export function registerListWebhookDeliveries(app: App, { db }: Pick<RouteDependencies, "db">): void {
  app.get(
    "/webhook-deliveries",
    {
      // A bound key is let through and sees its own instance's deliveries only.
      config: { access: { scope: "deliveries:read", instances: "narrowed" } },
      schema: {
        operationId: "listWebhookDeliveries",
        summary: "The customer's webhook deliveries, newest first. A key bound to an instance sees only that instance's",
        querystring: ListDeliveriesQuery,
        response: {
          200: PageOf(DeliverySchema),
          ...errorResponses(...AUTHENTICATED_ERRORS, "instance_access_denied"),
        },
      },
    },
    async (request) => {
      const key = request.apiKey;
      const { status, event } = request.query;
      const instanceId = request.query.instance_id?.toLowerCase();
      // Any instance but its own is refused to a bound key, without looking it up: the answer
      // is the same whether the id exists, is the customer's, or another tenant's.
      if (key.instance_id !== null && instanceId !== undefined && instanceId !== key.instance_id) {
        throw new AppError("instance_access_denied", "This key is bound to another instance.", {
          instance_id: key.instance_id,
        });
      }
      return listPage(request.query, (page) =>
        listDeliveries(db, key.customer_id, { instanceId: key.instance_id }, { status, event, instanceId }, page),
      );
    },
  );
}
