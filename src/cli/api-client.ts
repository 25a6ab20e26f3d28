import { terminalSafe } from "../format/human-readable.js";
import { UsageError } from "./usage-error.js";

/** How long one API call may take before the CLI gives up and says the API did not answer. */
const REQUEST_TIMEOUT_MS = 30_000;

/** Where the API is and which key to use: WHATISUP_API and WHATISUP_API_KEY, as in the docs' curl examples. */
export type ApiSettings = { baseUrl: string; apiKey: string };

export function apiSettingsFromEnv(env: NodeJS.ProcessEnv = process.env): ApiSettings {
  const base = env.WHATISUP_API?.trim();
  if (!base) throw new UsageError("WHATISUP_API is not set: export WHATISUP_API=http://127.0.0.1:8080 (the API's base URL)");
  let url: URL;
  try {
    url = new URL(base);
  } catch {
    throw new UsageError(`WHATISUP_API is not a URL: "${base}"`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new UsageError(`WHATISUP_API must be an http:// or https:// URL, got "${base}"`);
  }
  const apiKey = env.WHATISUP_API_KEY?.trim();
  if (!apiKey) throw new UsageError("WHATISUP_API_KEY is not set: export WHATISUP_API_KEY=zpk_live_… (an API key's secret)");
  return { baseUrl: base.replace(/\/+$/, ""), apiKey };
}

/** The API answered with an error: its envelope's code, message and request id. Exit code 1. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly requestId: string | null,
    readonly details: unknown,
  ) {
    super(message);
    this.name = "ApiError";
  }
}

/** No answer at all: connection refused, DNS failure, timeout. Exit code 1. */
export class ApiUnreachableError extends Error {
  constructor(
    readonly baseUrl: string,
    readonly reason: string,
  ) {
    super(`cannot reach the API at ${baseUrl} (${reason}); is WHATISUP_API right and the server running?`);
    this.name = "ApiUnreachableError";
  }
}

/** A successful answer: the body exactly as received (for --json) and parsed (for the tables). */
export type ApiResponse<T> = { status: number; text: string; body: T; headers: Headers };

export type RequestOptions = {
  query?: Record<string, string | number | undefined>;
  body?: unknown;
  /** Headers of the request itself, e.g. Idempotency-Key. */
  headers?: Record<string, string>;
};

export async function apiRequest<T>(
  settings: ApiSettings,
  method: "GET" | "POST" | "DELETE",
  path: string,
  options: RequestOptions = {},
): Promise<ApiResponse<T>> {
  const url = new URL(`${settings.baseUrl}${path}`);
  for (const [name, value] of Object.entries(options.query ?? {})) {
    if (value !== undefined) url.searchParams.set(name, String(value));
  }
  const headers: Record<string, string> = { ...options.headers, authorization: `Bearer ${settings.apiKey}`, accept: "application/json" };
  if (options.body !== undefined) headers["content-type"] = "application/json";
  let response: Response;
  let text: string;
  try {
    response = await fetch(url, {
      method,
      headers,
      body: options.body === undefined ? undefined : JSON.stringify(options.body),
      signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
    });
    text = await response.text();
  } catch (error) {
    throw new ApiUnreachableError(settings.baseUrl, describeFetchFailure(error));
  }
  const requestId = response.headers.get("x-request-id");
  if (!response.ok) throw toApiError(response.status, text, requestId);
  let body: unknown = null;
  if (text !== "") {
    try {
      body = JSON.parse(text);
    } catch {
      throw new ApiError(response.status, "unexpected_response", "the API answered with something that is not JSON", requestId, undefined);
    }
  }
  return { status: response.status, text, body: body as T, headers: response.headers };
}

function toApiError(status: number, text: string, headerRequestId: string | null): ApiError {
  try {
    const parsed = JSON.parse(text) as { error?: { code?: unknown; message?: unknown; details?: unknown }; request_id?: unknown };
    if (parsed.error && typeof parsed.error.code === "string") {
      const requestId = typeof parsed.request_id === "string" ? parsed.request_id : headerRequestId;
      return new ApiError(status, parsed.error.code, String(parsed.error.message ?? ""), requestId, parsed.error.details);
    }
  } catch {
    // Not the API's envelope (a proxy's error page, say): described by its status below.
  }
  return new ApiError(status, `http_${status}`, "the server answered with an error that is not the API's envelope", headerRequestId, undefined);
}

function describeFetchFailure(error: unknown): string {
  if (error instanceof Error && (error.name === "TimeoutError" || error.name === "AbortError")) {
    return `no answer within ${REQUEST_TIMEOUT_MS / 1000} s`;
  }
  const cause = (error as { cause?: { code?: string; message?: string } }).cause;
  return cause?.code ?? cause?.message ?? (error as Error).message ?? String(error);
}

/** The lines printed on stderr for an API refusal, each made terminalSafe: all of it is the API's. */
export function describeApiError(error: ApiError): string {
  const lines = [`whatisup: the API refused the request: ${error.code}: ${error.message}`];
  if (error.details !== undefined && error.details !== null) lines.push(`  details: ${JSON.stringify(error.details)}`);
  lines.push(`  HTTP ${error.status}${error.requestId ? `, request id ${error.requestId}` : ""}`);
  return `${lines.map(terminalSafe).join("\n")}\n`;
}

/** `--json`: the API's body exactly as it came, nothing else on stdout (an empty 204 prints nothing). */
export function printRawBody(response: ApiResponse<unknown>): void {
  if (response.text !== "") process.stdout.write(response.text.endsWith("\n") ? response.text : `${response.text}\n`);
}
