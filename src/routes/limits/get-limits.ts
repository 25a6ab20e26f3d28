import { LimitsSchema } from "../../contract/limits.js";
import type { App } from "../../http/app-types.js";
import { AUTHENTICATED_ERRORS, errorResponses } from "../../http/schemas.js";
import type { BucketState } from "../../rate-limit/token-buckets.js";
import { toTimestamp } from "../../time/timestamps.js";
import type { RouteDependencies } from "../route-dependencies.js";

export function registerGetLimits(app: App, { keyLimits, customerLimits }: Pick<RouteDependencies, "keyLimits" | "customerLimits">): void {
  app.get(
    "/limits",
    {
      config: { access: { scope: null, instances: "none", spendsToken: false } },
      schema: {
        summary: "The rate-limit headroom of the calling key and of its customer; this request spends no token",
        response: { 200: LimitsSchema, ...errorResponses(...AUTHENTICATED_ERRORS) },
      },
    },
    async (request) => {
      const [perKey, perCustomer] = await Promise.all([keyLimits.peek(request.apiKey.id), customerLimits.peek(request.apiKey.customer_id)]);
      return { per_key: headroom(perKey), per_customer: headroom(perCustomer) };
    },
  );
}

function headroom(bucket: BucketState) {
  return { limit: bucket.limit, remaining: bucket.remaining, reset_at: toTimestamp(bucket.resetAt) };
}
