import { isIP } from "node:net";
import type { FastifyRequest } from "fastify";

/**
 * The client's address, for the throttle, the audit log and the log: what the trusted proxies
 * put in `X-Forwarded-For` (TRUST_PROXY), else the socket's peer. Always an IP address: an entry
 * that is not one (text a client wrote, passed on by a proxy) gives way to the peer address.
 */
export function clientAddress(request: FastifyRequest): string {
  return isIP(request.ip) !== 0 ? request.ip : (request.socket.remoteAddress ?? "unknown");
}
