import { describe, expect, it } from "vitest";
import { signatureHeader, verifyWebhookSignature } from "../src/crypto/webhook-signature.js";

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

  describe("during a secret rotation: one v1 per secret (docs/webhooks.md)", () => {
    const OLD = "whsec_old-secret";
    const v1 = (secret: string, t = NOW) => signatureHeader(secret, BODY, t).split(",")[1]!;

    it("accepts the header when any of its v1 signatures matches, first or last", () => {
      expect(verifyWebhookSignature(SECRET, `t=${NOW},${v1(OLD)},${v1(SECRET)}`, BODY, 300, NOW)).toBe(true);
      expect(verifyWebhookSignature(SECRET, `t=${NOW},${v1(SECRET)},${v1(OLD)}`, BODY, 300, NOW)).toBe(true);
      expect(verifyWebhookSignature(OLD, `t=${NOW},${v1(OLD)},${v1(SECRET)}`, BODY, 300, NOW)).toBe(true);
    });

    it("refuses it when none matches, whatever else the header carries", () => {
      expect(verifyWebhookSignature(SECRET, `t=${NOW},${v1(OLD)},${v1("whsec_third")}`, BODY, 300, NOW)).toBe(false);
      expect(verifyWebhookSignature(SECRET, `t=${NOW},${v1(OLD)},v1=zz,v1=,v0=${v1(SECRET).slice(3)}`, BODY, 300, NOW)).toBe(false);
    });

    it("reads the header as the documented example does: spaces around parts, unknown schemes skipped", () => {
      expect(verifyWebhookSignature(SECRET, ` t=${NOW} , v0=abc, ${v1(OLD)} ,${v1(SECRET)} `, BODY, 300, NOW)).toBe(true);
    });

    it("keeps the tolerance: a match signed at a stale t is refused", () => {
      const stale = NOW - 301;
      expect(verifyWebhookSignature(SECRET, `t=${stale},${v1(OLD, stale)},${v1(SECRET, stale)}`, BODY, 300, NOW)).toBe(false);
    });

    it("refuses a header with two t: the signature covers one, the header must not leave which open", () => {
      expect(verifyWebhookSignature(SECRET, `t=${NOW},t=${NOW - 1},${v1(SECRET)}`, BODY, 300, NOW)).toBe(false);
    });
  });
});
