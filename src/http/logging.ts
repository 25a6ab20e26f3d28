import { isIP } from "node:net";
import { LogController, type FastifyReply, type FastifyRequest } from "fastify";
import type { PinoLoggerOptions } from "fastify/types/logger.js";

/**
 * pino options for the server, and the one line each request writes when it is answered. A
 * request is logged by method and path only: the query string (where someone may paste a key)
 * and the headers (Authorization) never reach a log line; the redaction list catches secrets that
 * other log calls might carry.
 */
const KEY_LIKE = /zpk_(live|test)_[0-9A-Za-z]+/g;

/** The path without its query, and with anything shaped like a key (pasted as an id) masked. */
function loggablePath(url: string): string {
  const queryAt = url.indexOf("?");
  const path = queryAt === -1 ? url : url.slice(0, queryAt);
  return path.includes("zpk_") ? path.replace(KEY_LIKE, "zpk_$1_[redacted]") : path;
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
  };
}

/**
 * What the line of an answered request says, besides its request_id: the route's pattern (so
 * lines group by endpoint), the path, the status, the time taken, the client address (only if it
 * is one: a forwarded address is text a client may have written) and, once authenticated, the
 * key's display prefix.
 */
function completedRequest(request: FastifyRequest, reply: FastifyReply): Record<string, unknown> {
  const line: Record<string, unknown> = {
    method: request.method,
    route: request.routeOptions.url ?? null,
    path: loggablePath(request.url),
    status: reply.statusCode,
    duration_ms: Math.round(reply.elapsedTime * 100) / 100,
    ip: isIP(request.ip) !== 0 ? request.ip : "not an address",
  };
  const key = request.apiKey as FastifyRequest["apiKey"] | null | undefined;
  if (key) line.key_prefix = key.prefix;
  return line;
}

/** The pino levels at which each answered request is logged. */
const LEVELS_WITH_INFO = new Set(["trace", "debug", "info"]);

/**
 * Fastify's request logging, one line per request instead of two: the line of the answered
 * request (`completedRequest`) at info, its arrival only at debug. At warn and above nothing is
 * even built.
 */
export class RequestLog extends LogController {
  private readonly logsRequests: boolean;

  constructor(level: string) {
    super({ requestIdLogLabel: "request_id" });
    this.logsRequests = LEVELS_WITH_INFO.has(level);
  }

  override incomingRequest(request: FastifyRequest): void {
    if (this.logsRequests) request.log.debug({ method: request.method }, "incoming request");
  }

  override requestCompleted(error: Error | null | undefined, request: FastifyRequest, reply: FastifyReply): void {
    if (error) reply.log.error({ ...completedRequest(request, reply), err: error }, "request errored");
    else if (this.logsRequests) reply.log.info(completedRequest(request, reply), "request completed");
  }
}
