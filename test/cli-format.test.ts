import { describe, expect, it } from "vitest";
import { absoluteAndRelative, keyStatus, keyValues, relativeTime, table } from "../src/format/human-readable.js";

const NOW = new Date("2026-05-10T12:00:00.000Z");
const at = (offsetMs: number): string => new Date(NOW.getTime() + offsetMs).toISOString();
const SEC = 1000;
const MIN = 60 * SEC;
const HOUR = 60 * MIN;
const DAY = 24 * HOUR;

describe("relativeTime", () => {
  it("says never (or the given word) for a missing time", () => {
    expect(relativeTime(null, NOW)).toBe("never");
    expect(relativeTime(undefined, NOW)).toBe("never");
    expect(relativeTime(null, NOW, "-")).toBe("-");
  });

  it("past times: just now, sec, min, hours, days, months, years ago", () => {
    expect(relativeTime(at(0), NOW)).toBe("just now");
    expect(relativeTime(at(-5 * SEC), NOW)).toBe("just now");
    expect(relativeTime(at(-30 * SEC), NOW)).toBe("30 sec ago");
    expect(relativeTime(at(-3 * MIN), NOW)).toBe("3 min ago");
    expect(relativeTime(at(-1 * HOUR), NOW)).toBe("1 hour ago");
    expect(relativeTime(at(-5 * HOUR), NOW)).toBe("5 hours ago");
    expect(relativeTime(at(-1 * DAY), NOW)).toBe("1 day ago");
    expect(relativeTime(at(-12 * DAY), NOW)).toBe("12 days ago");
    expect(relativeTime(at(-90 * DAY), NOW)).toBe("3 months ago");
    expect(relativeTime(at(-800 * DAY), NOW)).toBe("2 years ago");
  });

  it("future times: in …", () => {
    expect(relativeTime(at(3 * SEC), NOW)).toBe("in a few sec");
    expect(relativeTime(at(10 * MIN), NOW)).toBe("in 10 min");
    expect(relativeTime(at(2 * DAY), NOW)).toBe("in 2 days");
    expect(relativeTime(at(2 * DAY - 2 * SEC), NOW)).toBe("in 2 days"); // rounded, not floored
    expect(relativeTime(at(400 * DAY), NOW)).toBe("in 1 year");
  });

  it("moves to the next unit at the boundary rather than saying 60 min", () => {
    expect(relativeTime(at(-59 * MIN - 50 * SEC), NOW)).toBe("1 hour ago");
    expect(relativeTime(at(-59 * SEC - 600), NOW)).toBe("1 min ago");
    expect(relativeTime(at(-23 * HOUR - 50 * MIN), NOW)).toBe("1 day ago");
  });

  it("leaves an unreadable time as it is", () => {
    expect(relativeTime("not a time", NOW)).toBe("not a time");
  });

  it("absoluteAndRelative shows both", () => {
    expect(absoluteAndRelative(at(2 * DAY), NOW)).toBe(`${at(2 * DAY)} (in 2 days)`);
    expect(absoluteAndRelative(null, NOW, "no")).toBe("no");
  });
});

describe("table", () => {
  it("aligns columns under upper-case headers, two spaces apart, no trailing spaces", () => {
    const text = table(
      ["prefix", "name", "status"],
      [
        ["zpk_live_abcd1234", "a", "active"],
        ["zpk_live_x", "a longer name", "revoked"],
      ],
    );
    expect(text).toBe(
      [
        "PREFIX             NAME           STATUS",
        "zpk_live_abcd1234  a              active",
        "zpk_live_x         a longer name  revoked",
        "",
      ].join("\n"),
    );
  });

  it("does not pad the last column, and counts characters rather than UTF-16 units", () => {
    const text = table(["name", "x"], [["🙂ok", ""], ["é", "y"]]);
    const lines = text.split("\n");
    expect(lines[0]).toBe("NAME  X");
    expect(lines[1]).toBe("🙂ok");
    expect(lines[2]).toBe("é     y");
  });

  it("a header alone when there are no rows", () => {
    expect(table(["id", "name"], [])).toBe("ID  NAME\n");
  });
});

describe("keyValues and keyStatus", () => {
  it("aligns the values after the labels", () => {
    expect(keyValues([["id", "1"], ["last used", "never"]])).toBe("id:         1\nlast used:  never\n");
  });

  it("revoked wins over expired; expired once the expiry has passed", () => {
    expect(keyStatus({ revoked_at: null, expires_at: null }, NOW)).toBe("active");
    expect(keyStatus({ revoked_at: null, expires_at: at(DAY) }, NOW)).toBe("active");
    expect(keyStatus({ revoked_at: null, expires_at: at(0) }, NOW)).toBe("expired");
    expect(keyStatus({ revoked_at: at(-MIN), expires_at: at(-DAY) }, NOW)).toBe("revoked");
  });
});
