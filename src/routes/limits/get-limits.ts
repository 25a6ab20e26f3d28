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
        operationId: "getLimits",
        summary: "The rate-limit headroom of the calling key and of its customer; this request spends no token",
        response: { 200: LimitsSchema, ...errorResponses(...AUTHENTICATED_ERRORS) },
      },
    },
    (request) => {
      const perKey = keyLimits.peek(request.apiKey.id);
      const perCustomer = customerLimits.peek(request.apiKey.customer_id);
      // Both asked at once: from Redis they arrive together; in memory, without a promise.
      if (perKey instanceof Promise || perCustomer instanceof Promise) {
        return Promise.all([perKey, perCustomer]).then(([key, customer]) => limits(key, customer));
      }
      return limits(perKey, perCustomer);
    },
  );
}

function limits(perKey: BucketState, perCustomer: BucketState) {
  return { per_key: headroom(perKey), per_customer: headroom(perCustomer) };
}

function headroom(bucket: BucketState) {
  return { limit: bucket.limit, remaining: bucket.remaining, reset_at: toTimestamp(bucket.resetAt) };
}
