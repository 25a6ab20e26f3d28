import Type, { type TSchema } from "typebox";
import { Uuid } from "../contract/common.js";
import { ERROR_STATUS, ErrorEnvelope, type ErrorCode } from "../contract/errors.js";

/**
 * Every status that one of these codes can answer with, mapped to the error envelope. Each
 * status's description names its codes, which is what the OpenAPI document shows per response.
 */
export function errorResponses(...codes: ErrorCode[]): Record<number, TSchema> {
  const codesByStatus = new Map<number, Set<ErrorCode>>();
  for (const code of codes) {
    const status = ERROR_STATUS[code];
    codesByStatus.set(status, (codesByStatus.get(status) ?? new Set()).add(code));
  }
  const responses: Record<number, TSchema> = {};
  // The envelope's `$id` names it in the OpenAPI document, where every use becomes one `$ref`.
  const { $id } = ErrorEnvelope as TSchema & { $id?: string };
  for (const [status, statusCodes] of codesByStatus) {
    const names = [...statusCodes].map((code) => `\`${code}\``).join(", ");
    responses[status] = Type.Object(ErrorEnvelope.properties, { $id, description: `Error envelope; error.code is one of ${names}.` });
  }
  return responses;
}

/** Errors any authenticated route can answer, whatever it does. */
export const AUTHENTICATED_ERRORS: ErrorCode[] = [
  "auth_missing",
  "auth_malformed",
  "auth_invalid",
  "auth_expired",
  "insufficient_scope",
  "ip_not_allowed",
  "rate_limited",
  "validation_failed",
  "unsupported_media_type",
  "payload_too_large",
  "internal_error",
  "database_unavailable",
];

export const IdParams = Type.Object({ id: Uuid }, { additionalProperties: false });
