import { describe, expect, it } from "vitest";
import { verifyWebhookSignature } from "../src/crypto/webhook-signature.js";
import { signatureHeader } from "../src/crypto/webhook-signature.js";

const SECRET = "whsec_test-secret";
const BODY = '{"event":"message.sent","event_id":"01J0000000000000000000000"}';
const NOW = 1_800_000_000;

describe("verifyWebhookSignature", () => {
  it("accepts the header the dispatcher writes for that body", () => {
    expect(verifyWebhookSignature(SECRET, signatureHeader(SECRET, BODY, NOW), BODY, 300, NOW)).toBe(true);
  });

  it("refuses another body, another secret, or a tampered digest", () => {
    const header = signatureHeader(SECRET, BODY, NOW);
    expect(verifyWebhookSignature(SECRET, header, `${BODY} `, 300, NOW)).toBe(false);
    expect(verifyWebhookSignature("whsec_other", header, BODY, 300, NOW)).toBe(false);
    expect(verifyWebhookSignature(SECRET, header.replace(/.$/, (c) => (c === "0" ? "1" : "0")), BODY, 300, NOW)).toBe(false);
  });

  it("refuses a signature older or newer than the tolerance (a replay)", () => {
    expect(verifyWebhookSignature(SECRET, signatureHeader(SECRET, BODY, NOW - 301), BODY, 300, NOW)).toBe(false);
    expect(verifyWebhookSignature(SECRET, signatureHeader(SECRET, BODY, NOW + 301), BODY, 300, NOW)).toBe(false);
    expect(verifyWebhookSignature(SECRET, signatureHeader(SECRET, BODY, NOW - 299), BODY, 300, NOW)).toBe(true);
  });

  it("refuses headers without a timestamp or of the wrong shape", () => {
    expect(verifyWebhookSignature(SECRET, "", BODY, 300, NOW)).toBe(false);
    expect(verifyWebhookSignature(SECRET, "v1=abc", BODY, 300, NOW)).toBe(false);
    expect(verifyWebhookSignature(SECRET, `t=${NOW}`, BODY, 300, NOW)).toBe(false);
  });
});
