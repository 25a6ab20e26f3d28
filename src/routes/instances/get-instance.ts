import { InstanceSchema } from "../../contract/instance.js";
import { AppError } from "../../errors/app-error.js";
import type { App } from "../../http/app-types.js";
import { AUTHENTICATED_ERRORS, errorResponses, IdParams } from "../../http/schemas.js";
import { findInstance } from "../../instances/instance-repository.js";
import type { RouteDependencies } from "../route-dependencies.js";

export function registerGetInstance(app: App, { db }: Pick<RouteDependencies, "db">): void {
  app.get(
    "/instances/:id",
    {
      config: { access: { scope: "instances:read", instances: "param" } },
      schema: {
        operationId: "getInstance",
        summary: "One instance. A key bound to an instance may read only that one",
        params: IdParams,
        response: {
          200: InstanceSchema,
          ...errorResponses(...AUTHENTICATED_ERRORS, "instance_access_denied", "instance_not_found"),
        },
      },
    },
    async (request) => {
      const instance = await findInstance(db, request.apiKey.customer_id, request.params.id);
      if (!instance) throw new AppError("instance_not_found", "No such instance.");
      return instance;
    },
  );
}
