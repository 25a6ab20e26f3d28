import { findApiKey } from "../../api-keys/api-key-repository.js";
import { ApiKeySchema } from "../../contract/api-key.js";
import { AppError } from "../../errors/app-error.js";
import type { App } from "../../http/app-types.js";
import { AUTHENTICATED_ERRORS, errorResponses, IdParams } from "../../http/schemas.js";
import type { RouteDependencies } from "../route-dependencies.js";

export function registerGetApiKey(app: App, { db }: Pick<RouteDependencies, "db">): void {
  app.get(
    "/api-keys/:id",
    {
      config: { access: { scope: "api_keys:read", instances: "multi" } },
      schema: {
        operationId: "getApiKey",
        summary: "One key's metadata, whatever its status",
        params: IdParams,
        response: {
          200: ApiKeySchema,
          ...errorResponses(...AUTHENTICATED_ERRORS, "instance_scoped_key", "api_key_not_found"),
        },
      },
    },
    async (request) => {
      const key = await findApiKey(db, request.apiKey.customer_id, request.params.id);
      if (!key) throw new AppError("api_key_not_found", "No such API key.");
      return key;
    },
  );
}
