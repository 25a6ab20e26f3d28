import { createHmac, createSecretKey, type KeyObject } from "node:crypto";

/** HMAC-SHA256 of the whole key under the server's pepper: what is stored and looked up. */
export function keyDigest(pepper: string | KeyObject, key: string): string {
  return createHmac("sha256", pepper).update(key, "utf8").digest("hex");
}

/**
 * The pepper as a key object, for a caller that digests on every request: an HMAC keyed with a
 * string converts the string first (about 0.15 µs of the 1.3 an HMAC of a key costs). The digests
 * are the same.
 */
export function pepperKey(pepper: string): KeyObject {
  return createSecretKey(pepper, "utf8");
}
