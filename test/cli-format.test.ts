import { describe, expect, it } from "vitest";
import { absoluteAndRelative, keyStatus, keyValues, relativeTime, table, terminalSafe } from "../src/format/human-readable.js";

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

describe("terminalSafe, and the tables and lines that use it", () => {
  it("writes C0 controls, DEL, C1 controls and the bidi overrides and isolates as visible escapes", () => {
    expect(terminalSafe("\u001b[31mred\u0007")).toBe("\\u001b[31mred\\u0007");
    expect(terminalSafe("a\nb\rc\td")).toBe("a\\nb\\rc\\td");
    expect(terminalSafe("\u0000\u001f\u007f\u0080\u009b\u009f")).toBe("\\u0000\\u001f\\u007f\\u0080\\u009b\\u009f");
    expect(terminalSafe("\u202a\u202e\u2066\u2069")).toBe("\\u202a\\u202e\\u2066\\u2069");
  });

  it("leaves everything else as it is: text in any script, emoji, backslashes, the characters next to the ranges", () => {
    for (const text of ["plain", "é 日本 🙂", "C:\\keys\\n", " ~\u00a0\u2029\u202f\u2065\u206a"]) {
      expect(terminalSafe(text)).toBe(text);
    }
  });

  it("a table escapes every cell, aligns on the escapes, and a newline in a name adds no row", () => {
    const text = table(["id", "name", "status"], [["1", "\u001b[2Jx\nforged", "active"], ["2", "ok", "revoked"]]);
    expect(text).toBe(
      ["ID  NAME                STATUS", "1   \\u001b[2Jx\\nforged  active", "2   ok                  revoked", ""].join("\n"),
    );
  });

  it("key: value lines escape labels and values", () => {
    expect(keyValues([["name", "a\u0007\r\nb"], ["id", "1"]])).toBe("name:  a\\u0007\\r\\nb\nid:    1\n");
  });
});
