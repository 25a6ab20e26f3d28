import { findApiKey } from "../../api-keys/api-key-repository.js";
import { keyUsage, PERIOD_MS } from "../../api-keys/api-key-usage-repository.js";
import { ApiKeyUsageQuery, ApiKeyUsageSchema, DEFAULT_USAGE_DAYS, MAX_USAGE_PERIODS } from "../../contract/api-key-usage.js";
import { AppError, validationFailed } from "../../errors/app-error.js";
import type { App } from "../../http/app-types.js";
import { AUTHENTICATED_ERRORS, errorResponses, IdParams } from "../../http/schemas.js";
import type { RouteDependencies } from "../route-dependencies.js";

export function registerGetApiKeyUsage(app: App, { db }: Pick<RouteDependencies, "db">): void {
  app.get(
    "/api-keys/:id/usage",
    {
      config: { access: { scope: "api_keys:read", instances: "multi" } },
      schema: {
        operationId: "getApiKeyUsage",
        summary: "A key's requests per hour or day (UTC), empty periods included",
        params: IdParams,
        querystring: ApiKeyUsageQuery,
        response: {
          200: ApiKeyUsageSchema,
          ...errorResponses(...AUTHENTICATED_ERRORS, "instance_scoped_key", "api_key_not_found"),
        },
      },
    },
    async (request) => {
      const granularity = request.query.granularity ?? "day";
      const periodMs = PERIOD_MS[granularity];
      const to = request.query.to === undefined ? Date.now() : Date.parse(request.query.to);
      const requestedFrom = request.query.from === undefined ? to - DEFAULT_USAGE_DAYS * PERIOD_MS.day : Date.parse(request.query.from);
      if (Number.isNaN(to) || Number.isNaN(requestedFrom)) {
        throw validationFailed([{ field: Number.isNaN(to) ? "to" : "from", message: "must be an instant" }]);
      }
      if (requestedFrom >= to) {
        throw validationFailed([{ field: "from", message: "must be before to" }]);
      }
      const from = Math.floor(requestedFrom / periodMs) * periodMs;
      if (Math.ceil((to - from) / periodMs) > MAX_USAGE_PERIODS) {
        throw validationFailed([{ field: "from", message: `the range holds more than ${MAX_USAGE_PERIODS} periods of a ${granularity}` }]);
      }
      const customerId = request.apiKey.customer_id;
      const key = await findApiKey(db, customerId, request.params.id);
      if (!key) throw new AppError("api_key_not_found", "No such API key.");
      return { key_id: key.id, granularity, data: await keyUsage(db, customerId, key.id, granularity, from, to) };
    },
  );
}
