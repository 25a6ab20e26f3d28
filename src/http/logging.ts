import { isIP } from "node:net";
import type { PinoLoggerOptions } from "fastify/types/logger.js";

/**
 * pino options for the server. A request is logged by method and path only: the query string
 * (where someone may paste a key) and the headers (Authorization) never reach a log line; the
 * redaction list catches secrets that other log calls might carry.
 */
const KEY_LIKE = /zpk_(live|test)_[0-9A-Za-z]+/g;

/** The path without its query, and with anything shaped like a key (pasted as an id) masked. */
function loggablePath(url: string): string {
  return (url.split("?")[0] ?? "").replace(KEY_LIKE, "zpk_$1_[redacted]");
}

export function loggerOptions(level: string): PinoLoggerOptions {
  return {
    level,
    redact: {
      paths: [
        "req.headers.authorization",
        "headers.authorization",
        "authorization",
        "secret",
        "*.secret",
        "api_key.secret",
        "pepper",
        "*.pepper",
      ],
      censor: "[redacted]",
    },
    serializers: {
      req(request: { method: string; url: string; ip?: string; id?: string }) {
        // A forwarded address is text a client may have written: only an IP address is logged.
        const ip = request.ip !== undefined && isIP(request.ip) !== 0 ? request.ip : "not an address";
        return { method: request.method, path: loggablePath(request.url), ip };
      },
      res(reply: { statusCode: number }) {
        return { status: reply.statusCode };
      },
    },
  };
}
