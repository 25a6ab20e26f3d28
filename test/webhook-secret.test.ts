import { createHmac } from "node:crypto";
import { describe, expect, it } from "vitest";
import { SecretBox } from "../src/crypto/secret-box.js";
import { generateWebhookSecret, signatureHeader } from "../src/crypto/webhook-signature.js";
import { TEST_PEPPER } from "./helpers/test-app.js";

const box = new SecretBox(TEST_PEPPER);

/** The sealed value's bytes (iv, tag, ciphertext), changed by `edit`, written back in the same text form. */
function tampered(sealed: string, edit: (bytes: Buffer) => Buffer): string {
  const [version, body] = sealed.split(":");
  return `${version}:${edit(Buffer.from(body!, "base64url")).toString("base64url")}`;
}

describe("generateWebhookSecret", () => {
  it("makes whsec_ and 32 random bytes in base64url, different every time", () => {
    const secrets = new Set(Array.from({ length: 50 }, generateWebhookSecret));
    expect(secrets.size).toBe(50);
    for (const secret of secrets) {
      expect(secret).toMatch(/^whsec_[A-Za-z0-9_-]{43}$/);
      expect(Buffer.from(secret.slice("whsec_".length), "base64url")).toHaveLength(32);
    }
  });
});

describe("SecretBox", () => {
  it("opens what it sealed, and the sealed text does not contain the secret", () => {
    const secret = generateWebhookSecret();
    const sealed = box.seal(secret);
    expect(sealed).toMatch(/^v1:[A-Za-z0-9_-]+$/);
    expect(sealed).not.toContain(secret.slice("whsec_".length));
    expect(box.open(sealed)).toBe(secret);
    expect(new SecretBox(TEST_PEPPER).open(sealed)).toBe(secret);
  });

  it("seals the same secret differently every time (a fresh IV)", () => {
    const secret = generateWebhookSecret();
    const first = box.seal(secret);
    const second = box.seal(secret);
    expect(first).not.toBe(second);
    expect(box.open(first)).toBe(box.open(second));
  });

  it.each([
    ["a flipped ciphertext byte", (bytes: Buffer) => Buffer.concat([bytes.subarray(0, -1), Buffer.from([bytes.at(-1)! ^ 1])])],
    ["a flipped tag byte", (bytes: Buffer) => Buffer.concat([bytes.subarray(0, 12), Buffer.from([bytes[12]! ^ 1]), bytes.subarray(13)])],
    ["a flipped IV byte", (bytes: Buffer) => Buffer.concat([Buffer.from([bytes[0]! ^ 1]), bytes.subarray(1)])],
    ["a dropped last byte", (bytes: Buffer) => bytes.subarray(0, -1)],
  ])("refuses to open a sealed value with %s", (_label, edit) => {
    const sealed = box.seal(generateWebhookSecret());
    expect(() => box.open(tampered(sealed, edit))).toThrow();
  });

  it("refuses a tag cut short, even one that is a true prefix of the real tag", () => {
    // An empty secret seals to IV and tag only; cutting the tag to 4 bytes keeps a prefix that
    // GCM would accept unless the tag length is pinned.
    const sealed = box.seal("");
    expect(box.open(sealed)).toBe("");
    expect(() => box.open(tampered(sealed, (bytes) => bytes.subarray(0, 12 + 4)))).toThrow();
  });

  it("refuses a value in another format", () => {
    const sealed = box.seal(generateWebhookSecret());
    expect(() => box.open(sealed.replace(/^v1:/, "v2:"))).toThrow("unknown sealed secret format");
    expect(() => box.open("whsec_plaintext")).toThrow("unknown sealed secret format");
  });

  it("cannot be opened under another pepper", () => {
    const sealed = box.seal(generateWebhookSecret());
    expect(() => new SecretBox(`${TEST_PEPPER}-other`).open(sealed)).toThrow();
  });
});

describe("signatureHeader", () => {
  it("is t=<unix seconds>,v1=<64 hex>, the HMAC-SHA256 of `${t}.${body}` under the secret", () => {
    const secret = generateWebhookSecret();
    const body = JSON.stringify({ event: "message.sent", data: { text: "héllo ✓" } });
    const t = 1_780_000_000;
    const header = signatureHeader(secret, body, t);
    const match = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(header);
    expect(match, header).not.toBeNull();
    expect(Number(match![1])).toBe(t);
    const expected = createHmac("sha256", Buffer.from(secret, "utf8")).update(Buffer.from(`${t}.${body}`, "utf8")).digest("hex");
    expect(match![2]).toBe(expected);
  });

  it("changes with the body, the timestamp and the secret", () => {
    const secret = generateWebhookSecret();
    const header = signatureHeader(secret, "{}", 1_780_000_000);
    expect(signatureHeader(secret, "{ }", 1_780_000_000)).not.toBe(header);
    expect(signatureHeader(secret, "{}", 1_780_000_001).split(",")[1]).not.toBe(header.split(",")[1]);
    expect(signatureHeader(generateWebhookSecret(), "{}", 1_780_000_000)).not.toBe(header);
  });
});
