import type { App } from "../../http/app-types.js";
import type { Services } from "../../services.js";
import { registerCreateWebhookEndpoint } from "./create-webhook-endpoint.js";
import { registerDeleteWebhookEndpoint } from "./delete-webhook-endpoint.js";
import { registerGetWebhookEndpoint } from "./get-webhook-endpoint.js";
import { registerListWebhookEndpoints } from "./list-webhook-endpoints.js";

/** Endpoints have no PATCH or PUT: to change one, create its replacement, then delete it (405). */
export function registerWebhookEndpointRoutes(app: App, services: Services): void {
  registerListWebhookEndpoints(app, services);
  registerCreateWebhookEndpoint(app, services);
  registerGetWebhookEndpoint(app, services);
  registerDeleteWebhookEndpoint(app, services);
}
