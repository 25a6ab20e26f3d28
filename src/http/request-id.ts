import { randomBytes } from "node:crypto";

const ID_BYTES = 12;
/** Random bytes for 1,024 ids at a time: one call into the CSPRNG instead of one per request. */
const POOL_BYTES = ID_BYTES * 1024;
let pool = Buffer.alloc(0);
let offset = 0;

/** Generated here, never taken from the client, so a request id in the logs is always ours. */
export function newRequestId(): string {
  if (offset + ID_BYTES > pool.length) {
    pool = randomBytes(POOL_BYTES);
    offset = 0;
  }
  const id = pool.toString("base64url", offset, offset + ID_BYTES);
  offset += ID_BYTES;
  return `req_${id}`;
}
