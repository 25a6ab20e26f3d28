import { LimitsSchema } from "../../contract/limits.js";
import type { App } from "../../http/app-types.js";
import { AUTHENTICATED_ERRORS, errorResponses } from "../../http/schemas.js";
import { toTimestamp } from "../../time/timestamps.js";
import type { RouteDependencies } from "../route-dependencies.js";

export function registerGetLimits(app: App, { keyLimits }: Pick<RouteDependencies, "keyLimits">): void {
  app.get(
    "/limits",
    {
      config: { access: { scope: null, instances: "none", spendsToken: false } },
      schema: {
        summary: "The calling key's rate-limit headroom; this request spends no token",
        response: { 200: LimitsSchema, ...errorResponses(...AUTHENTICATED_ERRORS) },
      },
    },
    async (request) => {
      const bucket = await keyLimits.peek(request.apiKey.id);
      return { per_key: { limit: bucket.limit, remaining: bucket.remaining, reset_at: toTimestamp(bucket.resetAt) } };
    },
  );
}
