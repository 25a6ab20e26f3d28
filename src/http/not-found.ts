import type { FastifyReply, FastifyRequest } from "fastify";
import { AppError } from "../errors/app-error.js";
import { sendError } from "./error-handler.js";
import type { RouteTable } from "./route-table.js";

/**
 * Unknown paths are 404 `not_found`; a known path asked with a method it does not have is 405
 * `method_not_allowed` with `Allow`. The returned handler is installed at the root and in the
 * authenticated context, so unknown `/v1` paths are answered only after authentication.
 */
export function createNotFoundHandler(routes: RouteTable) {
  return (request: FastifyRequest, reply: FastifyReply) => {
    const path = request.url.split("?")[0] ?? "/";
    const allowed = routes.methodsAt(path);
    if (allowed.length > 0) {
      const error = new AppError(
        "method_not_allowed",
        `${request.method} is not allowed on ${path}. Allowed: ${allowed.join(", ")}.`,
        { allowed },
        { allow: allowed.join(", ") },
      );
      return sendError(request, reply, error);
    }
    return sendError(request, reply, new AppError("not_found", `No route ${request.method} ${path}.`));
  };
}
