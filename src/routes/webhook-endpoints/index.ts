import type { App } from "../../http/app-types.js";
import type { RouteDependencies } from "../route-dependencies.js";
import { registerCreateWebhookEndpoint } from "./create-webhook-endpoint.js";
import { registerDeleteWebhookEndpoint } from "./delete-webhook-endpoint.js";
import { registerGetWebhookEndpoint } from "./get-webhook-endpoint.js";
import { registerListWebhookEndpoints } from "./list-webhook-endpoints.js";

/** Endpoints have no PATCH or PUT: to change one, create its replacement, then delete it (405). */
export function registerWebhookEndpointRoutes(app: App, deps: RouteDependencies): void {
  registerListWebhookEndpoints(app, deps);
  registerCreateWebhookEndpoint(app, deps);
  registerGetWebhookEndpoint(app, deps);
  registerDeleteWebhookEndpoint(app, deps);
}
