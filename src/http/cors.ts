import type { FastifyReply, FastifyRequest } from "fastify";
import type { App } from "./app-types.js";
import type { RouteTable } from "./route-table.js";

/** The request headers a page may send: the key, and the JSON body's type. */
const ALLOWED_HEADERS = "Authorization, Content-Type, Idempotency-Key";
/** The response headers a page may read, besides the few every browser exposes. */
const EXPOSED_HEADERS = "X-Request-Id, X-RateLimit-Limit, X-RateLimit-Remaining, X-RateLimit-Reset, Retry-After, Idempotent-Replayed";
/** Chromium caps a preflight's cache at two hours; a longer max-age would mean nothing more. */
const PREFLIGHT_MAX_AGE_SECONDS = 7200;

/**
 * Cross-origin access for the listed browser origins only, and no credentials mode: a page sends
 * its key in `Authorization`, no cookie is ever involved. Every answer to a listed origin, errors
 * and 401s included, carries `Access-Control-Allow-Origin`, so that the page can read the error
 * envelope; any other origin gets no CORS header and the browser keeps the answer from it.
 * Preflights are answered by a public route of their own at the root, outside the authenticated
 * context: they carry no key, so they must neither be refused for lacking one nor spend a token.
 * With no origin listed nothing is installed and no answer changes.
 */
export function installCors(app: App, origins: readonly string[], routes: RouteTable): void {
  if (origins.length === 0) return;
  const allowed = new Set(origins);
  const allowedOrigin = (request: FastifyRequest): string | null => {
    const origin = request.headers.origin;
    // Sent twice, the header arrives joined ("a, b") or as a list: never one listed origin.
    return typeof origin === "string" && allowed.has(origin) ? origin : null;
  };

  app.addHook("onRequest", (request, reply, done) => {
    // The answer differs by origin, whichever it is: a cache must not serve one origin's to another.
    reply.header("vary", "Origin");
    const origin = allowedOrigin(request);
    if (origin !== null) {
      reply.header("access-control-allow-origin", origin);
      reply.header("access-control-expose-headers", EXPOSED_HEADERS);
    }
    done();
  });

  app.options(
    "*",
    { config: { public: true }, schema: { hide: true } },
    (request: FastifyRequest, reply: FastifyReply) => {
      reply.header("vary", "Origin, Access-Control-Request-Method, Access-Control-Request-Headers");
      const path = request.url.split("?")[0] ?? "/";
      const methods = routes.methodsAt(path);
      const origin = allowedOrigin(request);
      if (origin !== null && methods.length > 0 && typeof request.headers["access-control-request-method"] === "string") {
        reply.header("access-control-allow-methods", methods.join(", "));
        reply.header("access-control-allow-headers", ALLOWED_HEADERS);
        reply.header("access-control-max-age", String(PREFLIGHT_MAX_AGE_SECONDS));
      } else {
        // Refused (an origin not listed, a path with no route, or no preflight at all): no CORS
        // header, so the browser sends nothing. Still a 204: the status tells a page nothing more.
        reply.removeHeader("access-control-allow-origin");
        reply.removeHeader("access-control-expose-headers");
      }
      return reply.code(204).send();
    },
  );
}
