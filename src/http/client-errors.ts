import { maxHeaderSize, STATUS_CODES } from "node:http";
import type { Socket } from "node:net";
import type { ConnectionError, FastifyInstance } from "fastify";
import { AppError, validationFailed } from "../errors/app-error.js";
import { newRequestId } from "./request-id.js";

/** Node's own check (socketOnError) reads the same field: a second status line would corrupt an answer already begun. */
type HttpSocket = Socket & { _httpMessage?: { headersSent: boolean } | null };

/**
 * Fastify's `clientErrorHandler`: Node found a connection it will not pass on as a request: its
 * request or headers missed the deadline (REQUEST_TIMEOUT_MS), or it is not HTTP Node accepts.
 * There is no request or reply to go through sendError, so the envelope is written on the
 * socket itself, with a request id of its own, and the connection is closed: the client cannot
 * know how much of what it sent was read.
 */
export function answerClientError(this: FastifyInstance, error: ConnectionError, socket: Socket): void {
  if (error.code === "ECONNRESET" || socket.destroyed) return;
  const requestId = newRequestId();
  const answer =
    error.code === "ERR_HTTP_REQUEST_TIMEOUT"
      ? new AppError("request_timeout", "The request did not arrive in full in time; the connection is closed.")
      : validationFailed([{ field: "request", message: unreadableRequest(error) }]);
  this.log.info({ request_id: requestId, code: error.code }, "connection ended before routing");
  if (socket.writable && !(socket as HttpSocket)._httpMessage?.headersSent) socket.write(rawAnswer(answer, requestId));
  // Not end(): a client that stops reading (slow-loris) would keep a half-closed socket open.
  socket.destroy();
}

function unreadableRequest(error: ConnectionError): string {
  return error.code === "HPE_HEADER_OVERFLOW"
    ? `has a request line and headers over ${maxHeaderSize / 1024} KiB`
    : "is not a valid HTTP/1.1 request";
}

function rawAnswer(error: AppError, requestId: string): string {
  const body = JSON.stringify({
    error: { code: error.code, message: error.message, ...(error.details === undefined ? {} : { details: error.details }) },
    request_id: requestId,
  });
  return [
    `HTTP/1.1 ${error.status} ${STATUS_CODES[error.status]}`,
    "Content-Type: application/json; charset=utf-8",
    `Content-Length: ${Buffer.byteLength(body)}`,
    `X-Request-Id: ${requestId}`,
    "Connection: close",
    "",
    body,
  ].join("\r\n");
}
