import { randomBytes } from "node:crypto";

const ID_BYTES = 12;
/** 12 bytes are 16 base64url characters, with no padding: a batch's text slices into ids. */
const ID_CHARACTERS = 16;
const IDS_PER_BATCH = 1024;

let batch = "";
let next = IDS_PER_BATCH;

/**
 * Generated here, never taken from the client, so a request id in the logs is always ours. Every
 * request needs one: a batch of ids is drawn and encoded at once, and each request slices its
 * own. A request id is no secret, so its text may wait in memory until it is used.
 */
export function newRequestId(): string {
  if (next === IDS_PER_BATCH) {
    batch = randomBytes(ID_BYTES * IDS_PER_BATCH).toString("base64url");
    next = 0;
  }
  const start = next * ID_CHARACTERS;
  next += 1;
  return `req_${batch.slice(start, start + ID_CHARACTERS)}`;
}
