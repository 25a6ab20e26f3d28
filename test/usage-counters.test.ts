import { describe, expect, it } from "vitest";
import type { UsageIncrement } from "../src/api-keys/api-key-usage-repository.js";
import { UsageCounters } from "../src/auth/usage-counters.js";

const HOUR = 3_600_000;
const TEN = Date.parse("2030-01-01T10:00:00.000Z");
const ELEVEN = TEN + HOUR;

function all(counts: Iterator<UsageIncrement>): UsageIncrement[] {
  const taken: UsageIncrement[] = [];
  for (let next = counts.next(); next.done !== true; next = counts.next()) taken.push({ ...next.value });
  return taken;
}

const byKeyAndHour = (a: UsageIncrement, b: UsageIncrement) => (a.keyId < b.keyId ? -1 : a.keyId > b.keyId ? 1 : a.hour - b.hour);

describe("UsageCounters", () => {
  it("counts each key's answers per hour, refusals and rate limits apart, and a drain takes each (key, hour) once", () => {
    const counters = new UsageCounters();
    counters.count("key-b", "acme", 200, TEN + 5);
    counters.count("key-a", "acme", 401, TEN + 10);
    counters.count("key-a", "acme", 429, TEN + 20);
    counters.count("key-a", "acme", 201, ELEVEN + 1);
    counters.count("key-b", "acme", 500, ELEVEN + 2);

    expect(all(counters.drain()).sort(byKeyAndHour)).toEqual([
      { keyId: "key-a", customerId: "acme", hour: TEN, requests: 2, rejected: 2, rateLimited: 1 },
      { keyId: "key-a", customerId: "acme", hour: ELEVEN, requests: 1, rejected: 0, rateLimited: 0 },
      { keyId: "key-b", customerId: "acme", hour: TEN, requests: 1, rejected: 0, rateLimited: 0 },
      { keyId: "key-b", customerId: "acme", hour: ELEVEN, requests: 1, rejected: 1, rateLimited: 0 },
    ]);
    expect(all(counters.drain())).toEqual([]);
  });

  it("counts made while a drain is still being read belong to the next drain, not to it", () => {
    const counters = new UsageCounters();
    for (let key = 0; key < 1_000; key += 1) counters.count(`key-${key}`, "acme", 200, TEN);
    const drained = counters.drain();
    const first = drained.next();
    expect(first.done).toBe(false);
    // The flush reads a drain a batch at a time, while requests go on counting.
    counters.count("key-0", "acme", 200, TEN + 1);
    counters.count("key-new", "acme", 200, ELEVEN);
    const rest = all(drained);

    expect(rest).toHaveLength(999);
    expect([first.value, ...rest].every((count) => count.requests === 1 && count.hour === TEN)).toBe(true);
    expect(new Set([first.value.keyId, ...rest.map((count) => count.keyId)]).size).toBe(1_000);
    expect(rest.some((count) => count.keyId === "key-new")).toBe(false);
    expect(all(counters.drain()).sort(byKeyAndHour)).toEqual([
      { keyId: "key-0", customerId: "acme", hour: TEN, requests: 1, rejected: 0, rateLimited: 0 },
      { keyId: "key-new", customerId: "acme", hour: ELEVEN, requests: 1, rejected: 0, rateLimited: 0 },
    ]);
  });

  it("puts back counts a flush could not write, adding them to those counted since", () => {
    const counters = new UsageCounters();
    counters.count("key-a", "acme", 200, TEN);
    counters.count("key-a", "acme", 429, TEN);
    const failed = all(counters.drain());
    counters.count("key-a", "acme", 403, TEN + 30);
    counters.restore(failed);

    expect(all(counters.drain())).toEqual([{ keyId: "key-a", customerId: "acme", hour: TEN, requests: 3, rejected: 2, rateLimited: 1 }]);
  });
});
