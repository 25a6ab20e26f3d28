import type { FastifyRequest } from "fastify";
import type { KeyActor } from "../audit/actor.js";
import { clientAddress } from "./client-address.js";

const MAX_USER_AGENT_LENGTH = 512;

/** The actor of an authenticated request: its key, with the address, user agent and request id. */
export function requestActor(request: FastifyRequest): KeyActor {
  return {
    type: "api_key",
    key: request.apiKey,
    ip: clientAddress(request),
    userAgent: request.headers["user-agent"]?.slice(0, MAX_USER_AGENT_LENGTH) ?? null,
    requestId: request.id,
  };
}
