import Type from "typebox";
import { listActiveApiKeys } from "../../api-keys/api-key-repository.js";
import { ApiKeySchema } from "../../contract/api-key.js";
import type { App } from "../../http/app-types.js";
import { AUTHENTICATED_ERRORS, errorResponses } from "../../http/schemas.js";
import { nowTimestamp } from "../../time/timestamps.js";
import type { RouteDependencies } from "../route-dependencies.js";

export function registerListApiKeys(app: App, { db }: Pick<RouteDependencies, "db">): void {
  app.get(
    "/api-keys",
    {
      config: { access: { scope: "api_keys:read", instances: "multi" } },
      schema: {
        summary: "List the customer's active keys (not revoked, not expired), newest first",
        response: {
          200: Type.Array(ApiKeySchema),
          ...errorResponses(...AUTHENTICATED_ERRORS, "instance_scoped_key"),
        },
      },
    },
    async (request) => listActiveApiKeys(db, request.apiKey.customer_id, nowTimestamp()),
  );
}
