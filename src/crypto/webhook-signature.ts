import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";

const SECRET_PREFIX = "whsec_";

/** A new endpoint signing secret: `whsec_` and 32 random bytes, base64url. */
export function generateWebhookSecret(): string {
  return SECRET_PREFIX + randomBytes(32).toString("base64url");
}

/**
 * The `X-WhatIsUp-Signature` header (docs/webhooks.md): `t=<unix seconds>,v1=<hex HMAC-SHA256 of
 * "<t>.<raw body>" under the endpoint's secret>`.
 */
export function signatureHeader(secret: string, body: string, unixSeconds: number): string {
  return `t=${unixSeconds},v1=${hmac(secret, body, String(unixSeconds)).toString("hex")}`;
}

/**
 * Checks an `X-WhatIsUp-Signature` header the way a receiver should (docs/webhooks.md): one of
 * its `v1` signatures must match, since a secret rotation sends one per secret, and its timestamp
 * must be recent (replays of old deliveries are refused). A header with two `t` is refused: we
 * never send one, and it would leave open which time was signed.
 */
export function verifyWebhookSignature(
  secret: string,
  header: string,
  rawBody: string,
  toleranceSeconds = 300,
  nowSeconds = Math.floor(Date.now() / 1000),
): boolean {
  const timestamps: string[] = [];
  const signatures: Buffer[] = [];
  for (const part of header.split(",")) {
    const at = part.indexOf("=");
    if (at < 0) continue;
    const key = part.slice(0, at).trim();
    const value = part.slice(at + 1).trim();
    if (key === "t" && /^\d+$/.test(value)) timestamps.push(value);
    if (key === "v1" && /^[0-9a-f]{64}$/.test(value)) signatures.push(Buffer.from(value, "hex"));
  }
  const [timestamp] = timestamps;
  if (timestamps.length !== 1 || timestamp === undefined || signatures.length === 0) return false;
  if (Math.abs(nowSeconds - Number(timestamp)) > toleranceSeconds) return false;
  const expected = hmac(secret, rawBody, timestamp);
  return signatures.some((signature) => timingSafeEqual(signature, expected));
}

function hmac(secret: string, body: string, timestamp: string): Buffer {
  return createHmac("sha256", secret).update(`${timestamp}.${body}`).digest();
}
