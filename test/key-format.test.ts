import { createHmac } from "node:crypto";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { crc32OfAscii } from "../src/crypto/crc32.js";
import { KeyDigester } from "../src/crypto/key-digest.js";
import { displayPrefix, generateKey, isWellFormedKey, keyMode } from "../src/crypto/key-format.js";

// Everything below the imports is rebuilt from docs/api.md, independently of src/, so that a test
// that agrees with the implementation agrees with the spec too.
const MODE_PREFIX = "zpk_live_";
const BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const KEY_SHAPE = /^zpk_live_[0-9A-Za-z]{43}[0-9A-Za-z]{6}$/;

/** CRC-32 (IEEE 802.3, reflected polynomial 0xEDB88320), bit by bit: no table, no shared code. */
function referenceCrc32(text: string): number {
  let crc = 0xffffffff;
  for (const byte of Buffer.from(text, "ascii")) {
    crc ^= byte;
    for (let bit = 0; bit < 8; bit++) crc = crc & 1 ? (crc >>> 1) ^ 0xedb88320 : crc >>> 1;
  }
  return (crc ^ 0xffffffff) >>> 0;
}

function referenceBase62(value: bigint, width: number): string {
  const digits: string[] = [];
  for (let rest = value; rest > 0n; rest /= 62n) digits.unshift(BASE62[Number(rest % 62n)]!);
  return digits.join("").padStart(width, "0");
}

function referenceChecksum(head: string): string {
  return referenceBase62(BigInt(referenceCrc32(head)), 6);
}

/** A key of the spec's format around a chosen 43-character body. */
function keyWithBody(body: string, modePrefix = MODE_PREFIX): string {
  return modePrefix + body + referenceChecksum(modePrefix + body);
}

/** The same string with the character at `index` replaced by a different base62 character. */
function withCharacterChanged(key: string, index: number): string {
  const current = key[index]!;
  const replacement = current === "a" ? "b" : "a";
  return key.slice(0, index) + replacement + key.slice(index + 1);
}

const SAMPLE_KEYS = Array.from({ length: 200 }, () => generateKey());

describe("CRC-32", () => {
  it("gives the standard check value 0xCBF43926 for ASCII 123456789", () => {
    expect(crc32OfAscii("123456789")).toBe(0xcbf43926);
    expect(referenceCrc32("123456789")).toBe(0xcbf43926);
  });

  it("gives 0 for no input and known values for short inputs", () => {
    expect(crc32OfAscii("")).toBe(0);
    expect(crc32OfAscii("a")).toBe(0xe8b7be43);
    expect(crc32OfAscii("The quick brown fox jumps over the lazy dog")).toBe(0x414fa339);
    expect(crc32OfAscii("123456789 and more", 9)).toBe(0xcbf43926);
  });

  it("agrees with a bitwise reference implementation on the heads of generated keys", () => {
    for (const key of SAMPLE_KEYS.slice(0, 50)) {
      const head = key.slice(0, -6);
      expect(crc32OfAscii(head)).toBe(referenceCrc32(head));
      expect(crc32OfAscii(key, head.length)).toBe(referenceCrc32(head));
    }
  });
});

describe("generateKey", () => {
  it("makes 58-character keys: zpk_live_, 43 base62 characters, 6 base62 checksum characters", () => {
    for (const key of SAMPLE_KEYS) {
      expect(key).toHaveLength(58);
      expect(key).toMatch(KEY_SHAPE);
    }
  });

  it("ends every key with the base62 CRC-32 of zpk_live_ + body, left-padded to 6 characters", () => {
    for (const key of SAMPLE_KEYS) {
      const head = key.slice(0, MODE_PREFIX.length + 43);
      expect(key.slice(-6)).toBe(referenceChecksum(head));
    }
  });

  it("writes a body that reads as a base62 number of at most 256 bits (32 random bytes)", () => {
    const max = (1n << 256n) - 1n;
    for (const key of SAMPLE_KEYS) {
      const body = key.slice(MODE_PREFIX.length, MODE_PREFIX.length + 43);
      let value = 0n;
      for (const character of body) value = value * 62n + BigInt(BASE62.indexOf(character));
      expect(value <= max).toBe(true);
      expect(referenceBase62(value, 43)).toBe(body);
    }
  });

  it("makes a different key every time", () => {
    expect(new Set(SAMPLE_KEYS).size).toBe(SAMPLE_KEYS.length);
  });
});

describe("isWellFormedKey", () => {
  it("accepts every generated key", () => {
    for (const key of SAMPLE_KEYS) expect(isWellFormedKey(key)).toBe(true);
  });

  it("accepts a key built by the spec's recipe, including a zero-padded body and checksum", () => {
    expect(isWellFormedKey(keyWithBody("0".repeat(43)))).toBe(true);
    expect(isWellFormedKey(keyWithBody("zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz"))).toBe(true);
    expect(isWellFormedKey(keyWithBody("abcd1234" + "0".repeat(35)))).toBe(true);
  });

  it("refuses a key with any one character of its tail changed", () => {
    const key = SAMPLE_KEYS[0]!;
    for (let index = MODE_PREFIX.length; index < key.length; index++) {
      expect(isWellFormedKey(withCharacterChanged(key, index)), `changed at ${index}`).toBe(false);
    }
  });

  it("refuses a key with a one-character change in its prefix", () => {
    const key = SAMPLE_KEYS[1]!;
    expect(isWellFormedKey("Zpk_live_" + key.slice(9))).toBe(false);
    expect(isWellFormedKey("zpk-live_" + key.slice(9))).toBe(false);
    expect(isWellFormedKey("zpk_livf_" + key.slice(9))).toBe(false);
  });

  it("takes a zpk_test_ key whose checksum covers zpk_test_, and refuses one that carries a live key's checksum", () => {
    const live = SAMPLE_KEYS[2]!;
    const body = live.slice(MODE_PREFIX.length, MODE_PREFIX.length + 43);
    const testModeKey = keyWithBody(body, "zpk_test_");
    expect(testModeKey).toHaveLength(58);
    expect(isWellFormedKey(testModeKey)).toBe(true);
    expect(isWellFormedKey(`zpk_test_${live.slice(MODE_PREFIX.length)}`)).toBe(false);
  });

  it("generates test keys: zpk_test_, the same length, well formed, their mode read back from the prefix", () => {
    const key = generateKey("test");
    expect(key).toMatch(/^zpk_test_[0-9A-Za-z]{49}$/);
    expect(isWellFormedKey(key)).toBe(true);
    expect(displayPrefix(key)).toBe(key.slice(0, 17));
    expect(keyMode(displayPrefix(key))).toBe("test");
    expect(keyMode(generateKey())).toBe("live");
  });

  it("refuses keys of the wrong length", () => {
    const key = SAMPLE_KEYS[3]!;
    expect(isWellFormedKey(key.slice(0, -1))).toBe(false);
    expect(isWellFormedKey(key + "a")).toBe(false);
    expect(isWellFormedKey(MODE_PREFIX)).toBe(false);
    expect(isWellFormedKey("")).toBe(false);
    // A 42-character body with a checksum that is right for it: still not a key.
    expect(isWellFormedKey(keyWithBody("1".repeat(42)))).toBe(false);
    expect(isWellFormedKey(keyWithBody("1".repeat(44)))).toBe(false);
  });

  it("refuses characters outside base62 and surrounding whitespace", () => {
    const key = SAMPLE_KEYS[4]!;
    expect(isWellFormedKey(key.slice(0, 20) + "-" + key.slice(21))).toBe(false);
    expect(isWellFormedKey(key.slice(0, 20) + "_" + key.slice(21))).toBe(false);
    expect(isWellFormedKey(` ${key}`)).toBe(false);
    expect(isWellFormedKey(`${key}\n`)).toBe(false);
  });

  it("refuses a character outside base62 in the body even when the checksum is right for it", () => {
    for (const odd of ["-", "_", " ", "\n", "é", "\u0100", "\uffff"]) {
      expect(isWellFormedKey(keyWithBody(`${odd}${"a".repeat(42)}`)), JSON.stringify(odd)).toBe(false);
      expect(isWellFormedKey(keyWithBody(`${"a".repeat(42)}${odd}`)), JSON.stringify(odd)).toBe(false);
    }
  });

  it("refuses a checksum written with another base62 alphabet order (0-9a-zA-Z)", () => {
    const swapped = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
    const translate = (text: string) => [...text].map((c) => swapped[BASE62.indexOf(c)]).join("");
    let checked = 0;
    for (const key of SAMPLE_KEYS) {
      const head = key.slice(0, -6);
      const otherChecksum = translate(referenceChecksum(head));
      if (otherChecksum === key.slice(-6)) continue;
      expect(isWellFormedKey(head + otherChecksum)).toBe(false);
      checked++;
    }
    expect(checked).toBeGreaterThan(100);
  });
});

describe("displayPrefix", () => {
  it("is zpk_live_ followed by the first 8 characters of the tail", () => {
    for (const key of SAMPLE_KEYS.slice(0, 20)) {
      const prefix = displayPrefix(key);
      expect(prefix).toHaveLength(17);
      expect(prefix).toBe(key.slice(0, 17));
      expect(prefix).toMatch(/^zpk_live_[0-9A-Za-z]{8}$/);
    }
    expect(displayPrefix(keyWithBody("abcd1234" + "0".repeat(35)))).toBe("zpk_live_abcd1234");
  });
});

describe("KeyDigester", () => {
  const keyDigest = (pepperText: string, text: string) => new KeyDigester(pepperText).digest(text);
  const pepper = "a-pepper-of-at-least-thirty-two-characters";
  const key = SAMPLE_KEYS[5]!;

  it("is the hex HMAC-SHA256 of the whole key under the pepper", () => {
    const digest = keyDigest(pepper, key);
    expect(digest).toMatch(/^[0-9a-f]{64}$/);
    expect(digest).toBe(createHmac("sha256", pepper).update(key, "utf8").digest("hex"));
  });

  it("matches the RFC 4231 HMAC-SHA256 test case 2", () => {
    expect(keyDigest("Jefe", "what do ya want for nothing?")).toBe(
      "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
    );
  });

  it("matches the RFC 4231 HMAC-SHA256 test case 1", () => {
    expect(keyDigest("\x0b".repeat(20), "Hi There")).toBe("b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
  });

  it("is Node's HMAC-SHA256 for any pepper and any text, ASCII or not, of any length", () => {
    fc.assert(
      fc.property(
        // size "max": lengths spread up to the maximum, past the 64-byte block, not fast-check's small default.
        fc.string({ unit: "binary", maxLength: 150, size: "max" }),
        fc.array(fc.oneof(fc.string({ maxLength: 300, size: "max" }), fc.string({ unit: "binary", maxLength: 80, size: "max" })), { maxLength: 6 }),
        (pepperText, texts) => {
          // One digester for several texts in turn: what one text leaves behind must not reach the next.
          const digester = new KeyDigester(pepperText);
          for (const text of texts) {
            expect(digester.digest(text)).toBe(createHmac("sha256", Buffer.from(pepperText, "utf8")).update(text, "utf8").digest("hex"));
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  it("is the same for every length around the block boundaries, once a longer text has been digested, under a pepper shorter and one longer than a block", () => {
    for (const pepperText of [pepper, "p".repeat(100)]) {
      const digester = new KeyDigester(pepperText);
      digester.digest("k".repeat(500));
      for (let length = 0; length <= 200; length += 1) {
        const text = "abcdefghij".repeat(20).slice(0, length);
        expect(digester.digest(text), `length ${length}`).toBe(createHmac("sha256", pepperText).update(text).digest("hex"));
      }
    }
  });

  it("depends on the pepper", () => {
    expect(keyDigest(pepper, key)).not.toBe(keyDigest(`${pepper}!`, key));
    expect(keyDigest(pepper, key)).not.toBe(keyDigest("another-pepper-of-thirty-two-characters", key));
  });

  it("depends on the whole key, not only its prefix", () => {
    const sibling = keyWithBody(key.slice(MODE_PREFIX.length, MODE_PREFIX.length + 42) + (key[51] === "a" ? "b" : "a"));
    expect(displayPrefix(sibling)).toBe(displayPrefix(key));
    expect(keyDigest(pepper, sibling)).not.toBe(keyDigest(pepper, key));
  });

  it("is deterministic and is not a plain hash of the key", () => {
    expect(keyDigest(pepper, key)).toBe(keyDigest(pepper, key));
    expect(keyDigest(pepper, key)).not.toContain(key);
  });
});
