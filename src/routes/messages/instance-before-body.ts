import type { FastifyRequest } from "fastify";
import type { Db } from "../../db/schema.js";
import { isUuid } from "../../ids/uuid-v7.js";
import { findInstance } from "../../instances/instance-repository.js";
import { instanceNotFound } from "../../use-cases/send-message.js";

/**
 * A `preParsing` hook for the routes that post to an instance: preParsing runs before the body is
 * even read, so an unknown instance is 404 whatever the body is (invalid JSON, another media type
 * or an oversized one included), not only when the body parses but fails the schema.
 */
export function refuseUnknownInstance(db: Db) {
  return async (request: FastifyRequest): Promise<void> => {
    const id = (request.params as { id?: unknown }).id;
    // A malformed id is left to validation: 400, as on every route.
    if (typeof id !== "string" || !isUuid(id)) return;
    if (!(await findInstance(db, request.apiKey.customer_id, id))) throw instanceNotFound();
  };
}
