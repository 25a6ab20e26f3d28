import type { FastifyRequest } from "fastify";
import type { AuditOrigin } from "../audit/audit-repository.js";

const MAX_USER_AGENT_LENGTH = 512;

/** The audit origin of an authenticated request: its key, address, user agent and request id. */
export function requestOrigin(request: FastifyRequest): AuditOrigin {
  const key = request.apiKey;
  return {
    actor: { type: "api_key", id: key.id, prefix: key.prefix },
    ip: request.ip,
    userAgent: request.headers["user-agent"]?.slice(0, MAX_USER_AGENT_LENGTH) ?? null,
    requestId: request.id,
  };
}

export const CLI_ORIGIN: AuditOrigin = { actor: { type: "cli" }, ip: null, userAgent: null, requestId: null };
