import { timingSafeEqual } from "node:crypto";
import { signatureHeader } from "./webhook-signature.js";

/**
 * Checks an `X-WhatIsUp-Signature` header the way a receiver should: the HMAC must match, and
 * its timestamp must be recent (replays of old deliveries are refused).
 */
export function verifySignature(
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
