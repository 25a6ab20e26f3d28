import Type, { type TSchema } from "typebox";
import { ERROR_STATUS, type ErrorCode } from "./errors.js";

export const Timestamp = Type.String({ format: "date-time", description: "ISO 8601, UTC, with milliseconds" });
export const NullableTimestamp = Type.Union([Timestamp, Type.Null()]);
export const Uuid = Type.String({ format: "uuid" });
export const NullableUuid = Type.Union([Uuid, Type.Null()]);

export const ErrorEnvelope = Type.Object(
  {
    error: Type.Object({
      code: Type.String({ enum: Object.keys(ERROR_STATUS) }),
      message: Type.String(),
      details: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
    }),
    request_id: Type.String(),
  },
);

/** Every status that one of these codes can answer with, mapped to the error envelope. */
export function errorResponses(...codes: ErrorCode[]): Record<number, TSchema> {
  const responses: Record<number, TSchema> = {};
  for (const code of codes) responses[ERROR_STATUS[code]] = ErrorEnvelope;
  return responses;
}

/** Errors any authenticated route can answer, whatever it does. */
export const AUTHENTICATED_ERRORS: ErrorCode[] = [
  "auth_missing",
  "insufficient_scope",
  "rate_limited",
  "validation_failed",
  "unsupported_media_type",
  "payload_too_large",
  "internal_error",
];

export const IdParams = Type.Object({ id: Uuid }, { additionalProperties: false });
