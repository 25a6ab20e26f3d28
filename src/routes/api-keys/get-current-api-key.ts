import { findApiKey } from "../../api-keys/api-key-repository.js";
import { ApiKeySchema } from "../../contract/api-key.js";
import type { App } from "../../http/app-types.js";
import { AUTHENTICATED_ERRORS, errorResponses } from "../../http/schemas.js";
import type { RouteDependencies } from "../route-dependencies.js";

export function registerGetCurrentApiKey(app: App, { db }: Pick<RouteDependencies, "db">): void {
  app.get(
    "/api-keys/current",
    {
      // Any valid key may ask which key it is, and asking spends no token: a client signing in
      // with a throttled key still learns what it holds.
      config: { access: { scope: null, instances: "none", spendsToken: false } },
      schema: {
        operationId: "getCurrentApiKey",
        summary: "The calling key's own metadata; this request spends no token",
        response: { 200: ApiKeySchema, ...errorResponses(...AUTHENTICATED_ERRORS) },
      },
    },
    async (request) => {
      const key = await findApiKey(db, request.apiKey.customer_id, request.apiKey.id);
      // Authentication has just found the key; only a row deleted under it could be missing.
      if (!key) throw new Error(`the authenticated key ${request.apiKey.id} has no row`);
      return key;
    },
  );
}
