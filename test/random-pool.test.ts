import { describe, expect, it } from "vitest";
import { pooledRandomBytes } from "../src/crypto/random-pool.js";

describe("pooledRandomBytes", () => {
  it("hands out each byte of the pool once, as a copy, across refills", () => {
    const seen = new Set<string>();
    // 3,000 draws of 16 bytes go through the 4 KiB pool about a dozen times.
    for (let draw = 0; draw < 3_000; draw += 1) {
      const bytes = pooledRandomBytes(16);
      expect(bytes).toHaveLength(16);
      seen.add(bytes.toString("hex"));
    }
    expect(seen.size).toBe(3_000);
    const first = pooledRandomBytes(32);
    const copy = Buffer.from(first);
    first.fill(0);
    // Writing into what it handed out changes nothing it hands out next.
    expect(pooledRandomBytes(32).equals(Buffer.alloc(32))).toBe(false);
    expect(copy.equals(Buffer.alloc(32))).toBe(false);
  });

  it("refuses more than the pool holds at once", () => {
    expect(() => pooledRandomBytes(4097)).toThrow(RangeError);
    expect(pooledRandomBytes(4096)).toHaveLength(4096);
  });
});
