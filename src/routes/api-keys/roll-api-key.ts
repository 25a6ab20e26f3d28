import { IssuedApiKeySchema, RollApiKeyBody } from "../../contract/api-key.js";
import type { App } from "../../http/app-types.js";
import { requestActor } from "../../http/request-actor.js";
import { AUTHENTICATED_ERRORS, errorResponses, IdParams } from "../../http/schemas.js";
import { SECRET_NOT_REPLAYED } from "../../idempotency/idempotency-hooks.js";
import { rollApiKey } from "../../use-cases/roll-api-key.js";
import type { RouteDependencies } from "../route-dependencies.js";

export function registerRollApiKey(app: App, { write }: Pick<RouteDependencies, "write">): void {
  app.post(
    "/api-keys/:id/roll",
    {
      // Bound keys are let through so that one can roll itself: the use case keeps each to the
      // keys of its own instance (403 instance_access_denied).
      config: {
        access: { scope: "api_keys:write", instances: "none" },
        // A replay would have to give the new key's secret again, so it would have to be stored.
        idempotency: { refused: SECRET_NOT_REPLAYED },
      },
      schema: {
        operationId: "rollApiKey",
        summary: "Replace a key with a new one of the same settings; the old one stops working now or after `expires_in_seconds`",
        description:
          "The body is optional: none is the same as `{}`. The response holds the new key's secret, shown this once. An instance-bound key may roll only keys bound to its own instance, itself included.",
        params: IdParams,
        body: RollApiKeyBody,
        // The OpenAPI document marks every body required; this one may be left out (preValidation).
        "x-body-optional": true,
        response: {
          201: IssuedApiKeySchema,
          ...errorResponses(
            ...AUTHENTICATED_ERRORS,
            "instance_access_denied",
            "scope_escalation",
            "api_key_not_found",
            "api_key_not_active",
            "key_limit_reached",
          ),
        },
      },
      // Sent without a body, the request is validated as `{}`: every field has its default.
      preValidation: (request, _reply, done) => {
        request.body ??= {};
        done();
      },
    },
    async (request, reply) => {
      const input = { id: request.params.id, expiresInSeconds: request.body.expires_in_seconds ?? 0 };
      const issued = await write(requestActor(request), (w, actor) => rollApiKey(w, actor, input));
      return reply.code(201).header("cache-control", "no-store").send(issued);
    },
  );
}
