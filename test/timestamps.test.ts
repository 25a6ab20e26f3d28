import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { toTimestamp } from "../src/time/timestamps.js";

// The largest instant a Date holds, either side of 1970.
const DATE_LIMIT = 8.64e15;

describe("toTimestamp", () => {
  it("writes exactly what toISOString writes, for any instant a Date holds", () => {
    fc.assert(
      fc.property(fc.integer({ min: -DATE_LIMIT, max: DATE_LIMIT }), (millis) => {
        expect(toTimestamp(millis)).toBe(new Date(millis).toISOString());
      }),
      { numRuns: 20_000 },
    );
  });

  it("crosses days, years and leap days forwards and backwards, as consecutive calls do", () => {
    const edges = ["1969-12-31T23:59:59.999Z", "1970-01-01T00:00:00.000Z", "2024-02-29T23:59:59.999Z", "2026-12-31T23:59:59.999Z", "9999-12-31T23:59:59.999Z", "0000-01-01T00:00:00.000Z"];
    for (const edge of edges) {
      const at = Date.parse(edge);
      for (const step of [0, 1, -1, 2, -2, 1000, -1000, 3_600_000, -86_400_000, 86_400_000]) {
        expect(toTimestamp(at + step)).toBe(new Date(at + step).toISOString());
      }
    }
  });

  it("answers the same for a Date, its time, and a time with a fraction of a millisecond", () => {
    const at = Date.parse("2026-12-06T21:15:30.123Z");
    expect(toTimestamp(new Date(at))).toBe("2026-12-06T21:15:30.123Z");
    expect(toTimestamp(at + 0.9)).toBe("2026-12-06T21:15:30.123Z");
    expect(toTimestamp(-0.5)).toBe("1970-01-01T00:00:00.000Z");
    expect(toTimestamp(-1.5)).toBe("1969-12-31T23:59:59.999Z");
    expect(toTimestamp(DATE_LIMIT)).toBe("+275760-09-13T00:00:00.000Z");
    expect(toTimestamp(-DATE_LIMIT)).toBe("-271821-04-20T00:00:00.000Z");
  });

  it("refuses what toISOString refuses, and keeps working after", () => {
    for (const bad of [Number.NaN, Number.POSITIVE_INFINITY, DATE_LIMIT + 1, -DATE_LIMIT - 1]) {
      expect(() => toTimestamp(bad)).toThrow(RangeError);
    }
    expect(() => toTimestamp(new Date(Number.NaN))).toThrow(RangeError);
    expect(toTimestamp(1_000)).toBe("1970-01-01T00:00:01.000Z");
  });
});
