import { isIP } from "node:net";
import { hostname } from "node:os";
import { LogController, type FastifyBaseLogger, type FastifyReply, type FastifyRequest } from "fastify";
import { destination, pino, type DestinationStream, type LoggerOptions } from "pino";
import { BatchedLogOutput } from "./log-output.js";

/**
 * The server's loggers, and the one line each request writes when it is answered. A request is
 * logged by method and path only: the query string (where someone may paste a key) and the
 * headers (Authorization) never reach a log line; the redaction list catches secrets that other
 * log calls might carry.
 */
const KEY_LIKE = /zpk_(live|test)_[0-9A-Za-z]+/g;

/** The path without its query, and with anything shaped like a key (pasted as an id) masked. */
function loggablePath(url: string): string {
  const queryAt = url.indexOf("?");
  const path = queryAt === -1 ? url : url.slice(0, queryAt);
  return path.includes("zpk_") ? path.replace(KEY_LIKE, "zpk_$1_[redacted]") : path;
}

function loggerOptions(level: string): LoggerOptions {
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

/** Log lines are written by the 4 KiB, and never wait longer than 100 ms for the rest. */
const LOG_BATCH_BYTES = 4096;
const LOG_FLUSH_MS = 100;

export type Loggers = {
  /** Every log call of the app, redacted. */
  logger: FastifyBaseLogger;
  /** Where the logger writes: RequestLog writes the lines of answered requests there itself. */
  output: DestinationStream;
  /** Writes what is held and stops the batching; the app calls it last when it closes. */
  close: () => void;
};

/**
 * The logger, on `stream` (tests) or on standard output, in batches (log-output.ts). The batches
 * are written synchronously: a process that exits writes what it holds on its way out, and a
 * batch of 4 KiB costs one system call, not one per line.
 */
export function createLoggers(level: string, stream?: NodeJS.WritableStream): Loggers {
  if (stream !== undefined) return { logger: pino(loggerOptions(level), stream), output: stream, close: () => undefined };
  const output = new BatchedLogOutput(destination({ dest: 1, sync: true }), LOG_BATCH_BYTES, LOG_FLUSH_MS);
  return { logger: pino(loggerOptions(level), output), output, close: () => output.close() };
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
const INFO = 30;

/**
 * Fastify's request logging, one line per request instead of two: the line of the answered
 * request (`completedRequest`) at info, its arrival only at debug. At warn and above nothing is
 * even built.
 *
 * The line of an answered request is the one log call of every request, and pino's general path
 * (every value's type looked at, the redaction list walked) cost more than the rest of a request's
 * logging: RequestLog writes it to the logger's output itself, in the shape pino gives every other
 * line. Its fields are the few `completedRequest` picks, none of which can hold a secret (the
 * query is dropped and a key-like path masked).
 */
export class RequestLog extends LogController {
  private readonly logsRequests: boolean;
  /** pino's base fields, as it writes them after the time. */
  private readonly base = `,"pid":${process.pid},"hostname":${JSON.stringify(hostname())}`;

  constructor(
    level: string,
    /** Loggers.output. */
    private readonly output: DestinationStream,
  ) {
    super({ requestIdLogLabel: "request_id" });
    this.logsRequests = LEVELS_WITH_INFO.has(level);
  }

  override incomingRequest(request: FastifyRequest): void {
    if (this.logsRequests) request.log.debug({ method: request.method }, "incoming request");
  }

  override requestCompleted(error: Error | null | undefined, request: FastifyRequest, reply: FastifyReply): void {
    if (error) reply.log.error({ ...completedRequest(request, reply), err: error }, "request errored");
    else if (this.logsRequests) this.output.write(this.completedLine(request, reply));
  }

  private completedLine(request: FastifyRequest, reply: FastifyReply): string {
    const fields = JSON.stringify(completedRequest(request, reply)).slice(1, -1);
    return `{"level":${INFO},"time":${Date.now()}${this.base},"request_id":${JSON.stringify(request.id)},${fields},"msg":"request completed"}\n`;
  }
}
