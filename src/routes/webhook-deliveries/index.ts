import type { App } from "../../http/app-types.js";
import type { RouteDependencies } from "../route-dependencies.js";
import { registerGetWebhookDelivery } from "./get-webhook-delivery.js";
import { registerListWebhookDeliveries } from "./list-webhook-deliveries.js";
import { registerRetryWebhookDelivery } from "./retry-webhook-delivery.js";

export function registerWebhookDeliveryRoutes(app: App, deps: RouteDependencies): void {
  registerListWebhookDeliveries(app, deps);
  registerGetWebhookDelivery(app, deps);
  registerRetryWebhookDelivery(app, deps);
}
