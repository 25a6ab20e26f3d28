import Type from "typebox";
import type { App } from "../../http/app-types.js";

/** Liveness: the process answers. Public, registered outside the authenticated context. */
export function registerHealth(app: App): void {
  app.get(
    "/healthz",
    {
      schema: {
        operationId: "getHealth",
        summary: "Liveness",
        response: { 200: Type.Object({ status: Type.Literal("ok") }, { additionalProperties: false, description: "The process answers" }) },
      },
    },
    async () => ({ status: "ok" as const }),
  );
}
