import type { App } from "../../http/app-types.js";
import type { RouteDependencies } from "../route-dependencies.js";
import { registerGetApiKey } from "./get-api-key.js";
import { registerIssueApiKey } from "./issue-api-key.js";
import { registerListApiKeys } from "./list-api-keys.js";
import { registerRevokeApiKey } from "./revoke-api-key.js";

/** The keys API. Keys have no PATCH or PUT: a key cannot be changed, only revoked (405). */
export function registerApiKeyRoutes(app: App, deps: RouteDependencies): void {
  registerListApiKeys(app, deps);
  registerGetApiKey(app, deps);
  registerIssueApiKey(app, deps);
  registerRevokeApiKey(app, deps);
}
