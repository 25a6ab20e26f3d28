/** Every error code of the API and the status it is answered with: the one table of product.md. */
export const ERROR_STATUS = {
  auth_missing: 401,
  auth_malformed: 401,
  auth_invalid: 401,
  auth_expired: 401,
  insufficient_scope: 403,
  scope_escalation: 403,
  instance_access_denied: 403,
  instance_scoped_key: 403,
  verification_failed: 403,
  api_key_not_found: 404,
  instance_not_found: 404,
  webhook_endpoint_not_found: 404,
  delivery_not_found: 404,
  not_found: 404,
  method_not_allowed: 405,
  instance_unavailable: 409,
  validation_failed: 400,
  payload_too_large: 413,
  unsupported_media_type: 415,
  rate_limited: 429,
  internal_error: 500,
  not_ready: 503,
} as const;

export type ErrorCode = keyof typeof ERROR_STATUS;
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
