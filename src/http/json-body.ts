import type { App } from "./app-types.js";

/**
 * JSON is the only body type. An empty JSON body counts as no body, so that a client sending
 * `Content-Type: application/json` on a DELETE is not refused, while a route that needs a body
 * still answers 400 through its schema. Everything else (text/plain included) is 415.
 */
export function installJsonBodyParser(app: App): void {
  const parseJson = app.getDefaultJsonParser("error", "error");
  app.removeAllContentTypeParsers();
  app.addContentTypeParser("application/json", { parseAs: "string" }, (request, body, done) => {
    if (body === "") {
      done(null, undefined);
      return;
    }
    parseJson(request, body as string, done);
  });
}
