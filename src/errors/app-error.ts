import { ERROR_STATUS, type ErrorCode } from "../contract/errors.js";

export type { ErrorCode };
export type ErrorDetails = Record<string, unknown>;

export class AppError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly details: ErrorDetails | undefined;
  /** Extra response headers the error needs, such as `Retry-After` or `Allow`. */
  readonly headers: Record<string, string>;

  constructor(code: ErrorCode, message: string, details?: ErrorDetails, headers: Record<string, string> = {}) {
    super(message);
    this.name = "AppError";
    this.code = code;
    this.status = ERROR_STATUS[code];
    this.details = details;
    this.headers = headers;
  }
}

/** A 429 that says, in its details and its Retry-After header, how many whole seconds to wait. */
export function rateLimitedError(retryAfterMs: number, message: (seconds: number) => string): AppError {
  const seconds = Math.max(1, Math.ceil(retryAfterMs / 1000));
  return new AppError("rate_limited", message(seconds), { retry_after_seconds: seconds }, { "retry-after": String(seconds) });
}

export type FieldProblem = { field: string; message: string; allowed?: unknown[] };

/** A 400 that names each offending field, as validation_failed always does. */
export function validationFailed(problems: FieldProblem[], message = "The request is not valid."): AppError {
  return new AppError("validation_failed", message, { fields: problems });
}
