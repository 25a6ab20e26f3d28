import http from "node:http";
import https from "node:https";
import {
  DestinationError,
  guardedConnection,
  urlShapeProblem,
  type DestinationPolicy,
} from "../webhook-endpoints/destination-guard.js";

/** What one POST to a receiver came to. `status` is null when no response arrived. */
export type AttemptOutcome =
  | { ok: true; status: number }
  | { ok: false; status: number | null; error: string };

export type SendOptions = DestinationPolicy & {
  /** The whole attempt (lookup, connect, request, response headers) must fit in this. */
  timeoutMs: number;
};

/** At most this much of a receiver's response body is read (and discarded). */
export const MAX_RESPONSE_BYTES = 8 * 1024;
/** `last_error` stays short: a reason, never a body, a header or a URL (which may hold a token). */
const MAX_ERROR_LENGTH = 200;

class AttemptTimeout extends Error {}

/**
 * POSTs `body` exactly as given to `url` with node:http(s), not fetch: the connection goes
 * through the destination guard's lookup, so the address checked is the address connected to (no
 * DNS rebinding between a check and the connection), and redirects are never followed (a 3xx is
 * a failure).
 * Any 2xx is a success. Never throws: every failure comes back as an outcome.
 */
export function postWebhook(
  url: string,
  body: string,
  headers: Record<string, string>,
  options: SendOptions,
): Promise<AttemptOutcome> {
  const shape = urlShapeProblem(url);
  if (shape) return Promise.resolve(failure(null, `destination refused: URL ${shape}`));
  const policy: DestinationPolicy = { allowLoopback: options.allowLoopback };
  let connection: ReturnType<typeof guardedConnection>;
  try {
    // An IP-literal host is checked here (Node connects to it without calling `lookup`); a
    // name, by the returned lookup, as the connection is made.
    connection = guardedConnection(url, policy);
  } catch (error) {
    return Promise.resolve(failure(null, describeError(error, options.timeoutMs)));
  }
  return send(new URL(url), body, headers, options, connection.lookup);
}

function send(
  target: URL,
  body: string,
  headers: Record<string, string>,
  options: SendOptions,
  lookup: ReturnType<typeof guardedConnection>["lookup"],
): Promise<AttemptOutcome> {
  return new Promise((resolve) => {
    let settled = false;
    const settle = (outcome: AttemptOutcome) => {
      if (settled) return;
      settled = true;
      resolve(outcome);
    };
    const transport = target.protocol === "https:" ? https : http;
    const request = transport.request(target, {
      method: "POST",
      headers: { ...headers, "content-length": String(Buffer.byteLength(body, "utf8")) },
      // One connection per attempt: a pooled socket would skip the lookup (and its check).
      agent: false,
      lookup,
    });
    const timer = setTimeout(() => {
      request.destroy(new AttemptTimeout());
    }, options.timeoutMs);
    timer.unref();

    request.on("response", (response) => {
      const status = response.statusCode ?? 0;
      settle(status >= 200 && status < 300 ? { ok: true, status } : failure(status, `HTTP ${status}`));
      // Read a little of the body so the exchange ends cleanly; its content is never used.
      let received = 0;
      response.on("data", (chunk: Buffer) => {
        received += chunk.length;
        if (received > MAX_RESPONSE_BYTES) response.destroy();
      });
      response.on("error", () => undefined);
      response.on("close", () => {
        clearTimeout(timer);
        request.destroy();
      });
    });
    request.on("error", (error) => {
      clearTimeout(timer);
      settle(failure(null, describeError(error, options.timeoutMs)));
    });
    request.end(body, "utf8");
  });
}

function failure(status: number | null, error: string): AttemptOutcome {
  return { ok: false, status, error: error.slice(0, MAX_ERROR_LENGTH) };
}

/** A short reason for `last_error`. */
function describeError(error: unknown, timeoutMs: number): string {
  if (error instanceof AttemptTimeout) return `timed out after ${timeoutMs} ms`;
  if (error instanceof DestinationError) return `destination refused: ${error.message}`;
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  switch (code) {
    case "ECONNREFUSED":
      return "connection refused";
    case "ECONNRESET":
    case "EPIPE":
      return "connection reset by the receiver";
    case "EHOSTUNREACH":
    case "ENETUNREACH":
      return "host unreachable";
    case "HPE_INVALID_CONSTANT":
    case "HPE_INVALID_STATUS":
      return "the receiver did not answer with HTTP";
  }
  if (typeof code === "string") return `request failed: ${code}`;
  return "request failed";
}
