import { randomBytes } from "node:crypto";

/** Generated here, never taken from the client, so a request id in the logs is always ours. */
export function newRequestId(): string {
  return `req_${randomBytes(12).toString("base64url")}`;
}
