import Type from "typebox";
import type { App } from "../../http/app-types.js";
import { errorResponses } from "../../http/schemas.js";
import type { AppMetrics } from "../../metrics/metrics.js";

/** Label for requests no route matched: their raw URLs would make one series per path. */
export const UNMATCHED_ROUTE = "(unmatched)";

/**
 * Times every request of the app (call before any route or child context is registered, so the
 * hook reaches them all) and serves the registry at `/metrics`: public, at the root, registered
 * only when METRICS_ENABLED=true (otherwise the path is an unknown route, 404 not_found).
 */
export function registerMetrics(app: App, metrics: AppMetrics): void {
  app.addHook("onResponse", (request, reply, done) => {
    const route = request.is404 ? UNMATCHED_ROUTE : (request.routeOptions.url ?? UNMATCHED_ROUTE);
    metrics.observeRequest(request.method, route, reply.statusCode, reply.elapsedTime / 1000);
    done();
  });

  app.get(
    "/metrics",
    {
      schema: {
        operationId: "getMetrics",
        summary: "Prometheus metrics (only when METRICS_ENABLED=true)",
        tags: ["operations"],
        produces: ["text/plain"],
        response: {
          200: Type.String({
            description: "Prometheus text exposition format 0.0.4",
            examples: ["# HELP whatisup_auth_outcomes_total …\n# TYPE whatisup_auth_outcomes_total counter\nwhatisup_auth_outcomes_total{outcome=\"ok\"} 1024\n"],
          }),
          ...errorResponses("internal_error"),
        },
      },
    },
    async (_request, reply) => {
      const text = await metrics.registry.metrics();
      return reply.type(metrics.registry.contentType).send(text);
    },
  );
}
