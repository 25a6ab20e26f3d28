import type { FastifyReply, FastifyRequest } from "fastify";
import FindMyWay, { type HTTPMethod } from "find-my-way";
import type { App } from "./app-types.js";
import { AppError } from "../errors/app-error.js";
import { sendError } from "./error-handler.js";

/**
 * Unknown paths are 404 `not_found`; a known path asked with a method it does not have is 405
 * `method_not_allowed` with `Allow`. A second router records only which methods each path has;
 * the returned handler is installed at the root and in the authenticated context, so unknown
 * `/v1` paths are answered only after authentication.
 */
export function createNotFoundHandler(app: App) {
  const methodsByPath = FindMyWay();
  const known = new Set<string>();
  app.addHook("onRoute", (route) => {
    const methods = Array.isArray(route.method) ? route.method : [route.method];
    for (const method of methods) {
      const entry = `${method} ${route.url}`;
      if (known.has(entry)) continue;
      known.add(entry);
      methodsByPath.on(method as HTTPMethod, route.url, () => undefined);
    }
  });

  return (request: FastifyRequest, reply: FastifyReply) => {
    const path = request.url.split("?")[0] ?? "/";
    const allowed = ["GET", "POST", "PUT", "PATCH", "DELETE"].filter(
      (method) => methodsByPath.find(method as HTTPMethod, path) !== null,
    );
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
