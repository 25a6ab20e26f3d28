import { describe, expect, it } from "vitest";
import { SecondChanceMap } from "../src/collections/second-chance-map.js";

describe("SecondChanceMap", () => {
  it("keeps at most maxEntries, dropping the oldest entry nobody read since it was inserted", () => {
    const evicted: string[] = [];
    const map = new SecondChanceMap<string, number>(3, (key) => evicted.push(key));
    map.set("a", 1);
    map.set("b", 2);
    map.set("c", 3);
    expect(map.get("a")).toBe(1);
    map.set("d", 4);
    // "a" was read, so "b" goes; "a" moved to the back with its mark cleared.
    expect(evicted).toEqual(["b"]);
    expect([map.get("a"), map.get("b"), map.get("c"), map.get("d")]).toEqual([1, undefined, 3, 4]);
    expect(map.size).toBe(3);
  });

  it("never drops the entry being inserted, even when every other one was read", () => {
    const evicted: string[] = [];
    const map = new SecondChanceMap<string, number>(2, (key) => evicted.push(key));
    map.set("a", 1);
    map.set("b", 2);
    map.get("a");
    map.get("b");
    map.set("c", 3);
    expect(evicted).toEqual(["a"]);
    expect(map.get("c")).toBe(3);
    expect(map.size).toBe(2);
  });

  it("keeps a hot entry through a flood of entries read once", () => {
    const map = new SecondChanceMap<string, number>(100);
    map.set("hot", 0);
    for (let index = 0; index < 10_000; index += 1) {
      expect(map.get("hot")).toBe(0);
      map.set(`cold ${index}`, index);
    }
    expect(map.size).toBe(100);
    expect(map.get("cold 9999")).toBe(9999);
    expect(map.get("cold 0")).toBeUndefined();
  });

  it("updates in place, deletes without telling onEvict, and refuses a bound that is not a positive integer", () => {
    const evicted: string[] = [];
    const map = new SecondChanceMap<string, number>(2, (key) => evicted.push(key));
    map.set("a", 1);
    map.set("a", 2);
    expect(map.size).toBe(1);
    expect(map.get("a")).toBe(2);
    expect(map.delete("a")).toBe(true);
    expect(map.delete("a")).toBe(false);
    map.set("b", 1);
    map.clear();
    expect(map.size).toBe(0);
    expect(evicted).toEqual([]);
    expect(() => new SecondChanceMap(0)).toThrow(RangeError);
    expect(() => new SecondChanceMap(1.5)).toThrow(RangeError);
  });
});
