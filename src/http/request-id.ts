import { pooledRandomBytes } from "../crypto/random-pool.js";

const ID_BYTES = 12;

/** Generated here, never taken from the client, so a request id in the logs is always ours. */
export function newRequestId(): string {
  return `req_${pooledRandomBytes(ID_BYTES).toString("base64url")}`;
}
