import type { App } from "../../http/app-types.js";
import type { RouteDependencies } from "../route-dependencies.js";
import { registerGetApiKey } from "./get-api-key.js";
import { registerGetCurrentApiKey } from "./get-current-api-key.js";
import { registerGetApiKeyUsage } from "./get-api-key-usage.js";
import { registerIssueApiKey } from "./issue-api-key.js";
import { registerListApiKeys } from "./list-api-keys.js";
import { registerRevokeApiKey } from "./revoke-api-key.js";
import { registerRollApiKey } from "./roll-api-key.js";

/** The keys API. Keys have no PATCH or PUT: a key cannot be changed, only rolled or revoked (405). */
export function registerApiKeyRoutes(app: App, deps: RouteDependencies): void {
  registerListApiKeys(app, deps);
  registerGetCurrentApiKey(app, deps);
  registerGetApiKey(app, deps);
  registerGetApiKeyUsage(app, deps);
  registerIssueApiKey(app, deps);
  registerRevokeApiKey(app, deps);
  registerRollApiKey(app, deps);
}
