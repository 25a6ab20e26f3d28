import type { App } from "../../http/app-types.js";
import type { Services } from "../../services.js";
import { registerGetApiKey } from "./get-api-key.js";
import { registerIssueApiKey } from "./issue-api-key.js";
import { registerListApiKeys } from "./list-api-keys.js";
import { registerRevokeApiKey } from "./revoke-api-key.js";

/** The keys API. Keys have no PATCH or PUT: a key cannot be changed, only revoked (405). */
export function registerApiKeyRoutes(app: App, services: Services): void {
  registerListApiKeys(app, services);
  registerGetApiKey(app, services);
  registerIssueApiKey(app, services);
  registerRevokeApiKey(app, services);
}
