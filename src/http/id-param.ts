import type { FastifyRequest } from "fastify";

/**
 * UUIDs are case-insensitive (RFC 9562) and stored in lower case: an `:id` is lowered before
 * anything compares it, so the access check and the query see the same id on both databases.
 */
export function lowerCaseIdParam(request: FastifyRequest): void {
  const params = request.params as { id?: unknown };
  if (typeof params.id === "string") params.id = params.id.toLowerCase();
}
