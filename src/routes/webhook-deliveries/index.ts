import type { App } from "../../http/app-types.js";
import type { Services } from "../../services.js";
import { registerGetWebhookDelivery } from "./get-webhook-delivery.js";
import { registerListWebhookDeliveries } from "./list-webhook-deliveries.js";

export function registerWebhookDeliveryRoutes(app: App, services: Services): void {
  registerListWebhookDeliveries(app, services);
  registerGetWebhookDelivery(app, services);
}
