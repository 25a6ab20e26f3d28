import type { App } from "../http/app-types.js";
import type { Services } from "../services.js";
import { registerGetApiKey } from "./get-api-key.route.js";
import { registerIssueApiKey } from "./issue-api-key.route.js";
import { registerListApiKeys } from "./list-api-keys.route.js";
import { registerRevokeApiKey } from "./revoke-api-key.route.js";

/** The keys API. Keys have no PATCH or PUT: a key cannot be changed, only revoked (405). */
export function registerApiKeyRoutes(app: App, services: Services): void {
  registerListApiKeys(app, services);
  registerGetApiKey(app, services);
  registerIssueApiKey(app, services);
  registerRevokeApiKey(app, services);
}
