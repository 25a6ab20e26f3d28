import { AppError } from "../errors/app-error.js";
import type { App } from "./app-types.js";

/**
 * JSON is the only body type. An empty JSON body counts as no body, so that a client sending
 * `Content-Type: application/json` on a DELETE is not refused, while a route that needs a body
 * still answers 400 through its schema. Everything else (text/plain included) is 415, and so is
 * a body with a `Content-Encoding` other than identity: the server decodes none, and would
 * otherwise parse the compressed bytes as if they were the JSON.
 */
export function installJsonBodyParser(app: App): void {
  const parseJson = app.getDefaultJsonParser("error", "error");
  app.removeAllContentTypeParsers();
  app.addContentTypeParser("application/json", { parseAs: "string" }, (request, body, done) => {
    if (body === "") {
      done(null, undefined);
      return;
    }
    if (!isIdentity(request.headers["content-encoding"])) {
      const message = "Send the body as application/json without a Content-Encoding: compressed bodies are not accepted.";
      done(new AppError("unsupported_media_type", message));
      return;
    }
    parseJson(request, body as string, done);
  });
}

function isIdentity(header: string | undefined): boolean {
  if (header === undefined) return true;
  return header.split(",").every((coding) => ["", "identity"].includes(coding.trim().toLowerCase()));
}
