import Type from "typebox";

/** Every error code of the API and the status it is answered with (docs/api.md, "Errors"). */
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
  test_key_live_instance: 403,
  ip_not_allowed: 403,
  api_key_not_found: 404,
  instance_not_found: 404,
  webhook_endpoint_not_found: 404,
  delivery_not_found: 404,
  message_not_found: 404,
  not_found: 404,
  method_not_allowed: 405,
  request_timeout: 408,
  instance_unavailable: 409,
  key_limit_reached: 409,
  api_key_not_active: 409,
  delivery_not_retryable: 409,
  instance_not_sandbox: 409,
  idempotency_key_in_use: 409,
  validation_failed: 400,
  payload_too_large: 413,
  unsupported_media_type: 415,
  idempotency_key_reused: 422,
  rate_limited: 429,
  internal_error: 500,
  not_ready: 503,
  database_unavailable: 503,
} as const;

export type ErrorCode = keyof typeof ERROR_STATUS;

/** The body of every 4xx and 5xx answer; `error.code` is the stable contract. */
export const ErrorEnvelope = Type.Object(
  {
    error: Type.Object({
      code: Type.String({ enum: Object.keys(ERROR_STATUS) }),
      message: Type.String(),
      details: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
    }),
    request_id: Type.String(),
  },
  {
    $id: "Error",
    description: "The body of every 4xx and 5xx answer; `error.code` is the stable contract (docs/errors.md)",
    examples: [{ error: { code: "api_key_not_found", message: "No such API key." }, request_id: "req_01JT4B7Z9X2K8Q5R3M6N1P0VWS" }],
  },
);
