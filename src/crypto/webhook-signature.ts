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
  const digest = createHmac("sha256", secret).update(`${unixSeconds}.${body}`).digest("hex");
  return `t=${unixSeconds},v1=${digest}`;
}

/**
 * Checks an `X-WhatIsUp-Signature` header the way a receiver should: the HMAC must match, and
 * its timestamp must be recent (replays of old deliveries are refused).
 */
export function verifyWebhookSignature(
  secret: string,
  header: string,
  rawBody: string,
  toleranceSeconds = 300,
  nowSeconds = Math.floor(Date.now() / 1000),
): boolean {
  const timestamp = /(?:^|,)t=(\d+)(?:,|$)/.exec(header)?.[1];
  if (timestamp === undefined || Math.abs(nowSeconds - Number(timestamp)) > toleranceSeconds) return false;
  const expected = Buffer.from(signatureHeader(secret, rawBody, Number(timestamp)));
  const given = Buffer.from(header);
  return expected.length === given.length && timingSafeEqual(expected, given);
}
