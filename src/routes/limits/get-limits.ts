import Type from "typebox";
import type { App } from "../../http/app-types.js";
import { AUTHENTICATED_ERRORS, errorResponses, Timestamp } from "../../http/schemas.js";
import type { Services } from "../../services.js";

const LimitsSchema = Type.Object(
  {
    per_key: Type.Object(
      {
        limit: Type.Integer({ description: "The bucket's capacity (burst)" }),
        remaining: Type.Integer({ description: "Requests available now" }),
        reset_at: Timestamp,
      },
      { additionalProperties: false },
    ),
  },
  { additionalProperties: false },
);

export function registerGetLimits(app: App, services: Services): void {
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
      const bucket = await services.keyLimits.peek(request.apiKey.id);
      return {
        per_key: { limit: bucket.limit, remaining: bucket.remaining, reset_at: new Date(bucket.resetAt).toISOString() },
      };
    },
  );
}
