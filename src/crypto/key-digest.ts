import { createHmac } from "node:crypto";

/** HMAC-SHA256 of the whole key under the server's pepper: what is stored and looked up. */
export function keyDigest(pepper: string, key: string): string {
  return createHmac("sha256", pepper).update(key, "utf8").digest("hex");
}
