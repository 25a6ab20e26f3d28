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

export type FieldProblem = { field: string; message: string; allowed?: unknown[] };

/** A 400 that names each offending field, as validation_failed always does. */
export function validationFailed(problems: FieldProblem[], message = "The request is not valid."): AppError {
  return new AppError("validation_failed", message, { fields: problems });
}
