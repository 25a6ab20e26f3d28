import { readFile } from "node:fs/promises";
import Type from "typebox";
import type { App } from "../../http/app-types.js";
import { AppError } from "../../errors/app-error.js";
import { errorResponses } from "../../http/schemas.js";

export const DASHBOARD_PATH = "/dashboard";

/**
 * Where `npm run build` leaves the page, its script and its stylesheet (scripts/build-dashboard.mjs).
 * The same address from src/ (tests) and from dist/ (the installed server): the package root's dist/.
 */
const ASSETS_DIR = new URL("../../../dist/dashboard/assets/", import.meta.url);

const ASSETS = {
  "dashboard.js": "text/javascript; charset=utf-8",
  "dashboard.css": "text/css; charset=utf-8",
} as const;

/**
 * The page talks to this origin's API and nothing else, runs no inline script, and cannot be
 * framed: a pasted key is only as safe as the page that holds it.
 */
const DASHBOARD_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join("; ");

/**
 * The dashboard: one static page whose script calls the API with the key the user pastes (kept
 * in sessionStorage). Public, registered at the root: the page holds no data, the API does.
 * Files are read on first use, so an app built from source without `npm run build` still starts;
 * it answers 503 `not_ready` for the page until the bundle exists.
 */
export function registerDashboard(app: App): void {
  const loaded = new Map<string, string>();
  async function asset(name: string): Promise<string> {
    const cached = loaded.get(name);
    if (cached) return cached;
    try {
      const content = await readFile(new URL(name, ASSETS_DIR), "utf8");
      loaded.set(name, content);
      return content;
    } catch (error) {
      app.log.error({ err: error }, "dashboard bundle missing: run `npm run build`");
      throw new AppError("not_ready", "The dashboard has not been built.");
    }
  }

  app.get(
    DASHBOARD_PATH,
    {
      schema: {
        operationId: "getDashboard",
        summary: "The dashboard: sign in with an API key; manage keys, instances and webhook endpoints; read and retry deliveries; read the audit log",
        tags: ["reference"],
        response: {
          200: { description: "The HTML page", content: { "text/html": { schema: Type.String({ examples: ["<!doctype html><html lang=\"en\">…</html>"] }) } } },
          ...errorResponses("not_ready", "internal_error"),
        },
      },
    },
    async (_request, reply) => {
      const page = await asset("dashboard.html");
      return reply
        .type("text/html; charset=utf-8")
        .headers(securityHeaders("no-store"))
        .send(page);
    },
  );

  app.get(
    `${DASHBOARD_PATH}/assets/:name`,
    {
      schema: {
        hide: true,
        params: Type.Object({ name: Type.String() }, { additionalProperties: false }),
        response: {
          200: { description: "The page's script or stylesheet", content: { "*/*": { schema: Type.String() } } },
          ...errorResponses("not_found", "not_ready", "internal_error"),
        },
      },
    },
    async (request, reply) => {
      const name = request.params.name;
      if (!Object.hasOwn(ASSETS, name)) throw new AppError("not_found", "No such dashboard file.");
      const content = await asset(name);
      return reply
        .type(ASSETS[name as keyof typeof ASSETS])
        .headers(securityHeaders("no-cache"))
        .send(content);
    },
  );
}

function securityHeaders(cacheControl: string): Record<string, string> {
  return {
    "content-security-policy": DASHBOARD_CSP,
    "cache-control": cacheControl,
    "referrer-policy": "no-referrer",
    "x-content-type-options": "nosniff",
    "cross-origin-opener-policy": "same-origin",
  };
}
