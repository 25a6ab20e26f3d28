import { randomUUID } from "node:crypto";
import { describe, expect, it } from "vitest";
import { RUN_LENGTH, sortedBatches } from "../src/collections/sorted-batches.js";

const byValue = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

async function collect<T>(batches: AsyncGenerator<T[]>): Promise<T[][]> {
  const taken: T[][] = [];
  for await (const batch of batches) taken.push(batch);
  return taken;
}

describe("sortedBatches", () => {
  it.each([0, 1, RUN_LENGTH - 1, RUN_LENGTH, RUN_LENGTH + 1, 4 * RUN_LENGTH + 321])(
    "gives each of %i items once, in order, in full batches but the last",
    async (count) => {
      const items = Array.from({ length: count }, () => randomUUID());
      for (const size of [1, 7, 200]) {
        const batches = await collect(sortedBatches(items.values(), byValue, size));
        expect(batches.flat()).toEqual([...items].sort(byValue));
        expect(batches.slice(0, -1).every((batch) => batch.length === size)).toBe(true);
        expect(batches.every((batch) => batch.length > 0 && batch.length <= size)).toBe(true);
        expect(batches.length).toBe(Math.ceil(count / size));
      }
    },
  );

  it("orders by the comparison given, its ties broken as it breaks them", async () => {
    const rows = [
      { key: "b", hour: 2 },
      { key: "a", hour: 2 },
      { key: "b", hour: 1 },
      { key: "a", hour: 1 },
    ];
    const byKeyThenHour = (x: (typeof rows)[0], y: (typeof rows)[0]) => byValue(x.key, y.key) || x.hour - y.hour;
    const batches = await collect(sortedBatches(rows.values(), byKeyThenHour, 3));
    expect(batches).toEqual([
      [
        { key: "a", hour: 1 },
        { key: "a", hour: 2 },
        { key: "b", hour: 1 },
      ],
      [{ key: "b", hour: 2 }],
    ]);
  });

  it("never compares more than a run's sort or a batch's merge in one turn of the event loop", async () => {
    const items = Array.from({ length: 100 * RUN_LENGTH }, () => randomUUID());
    let turn = 0;
    let finished = false;
    const ticker = () => {
      turn += 1;
      if (!finished) setImmediate(ticker);
    };
    setImmediate(ticker);
    const comparisonsByTurn = new Map<number, number>();
    const counted = (a: string, b: string) => {
      comparisonsByTurn.set(turn, (comparisonsByTurn.get(turn) ?? 0) + 1);
      return byValue(a, b);
    };
    const batches = await collect(sortedBatches(items.values(), counted, 200));
    finished = true;
    expect(batches.flat()).toEqual([...items].sort(byValue));

    const counts = [...comparisonsByTurn.values()];
    const total = counts.reduce((sum, count) => sum + count, 0);
    // Sorting 100,000 items takes over a million comparisons; one run of 1,000 about 10,000, and a
    // batch of 200 from 100 runs about 2,800.
    expect(total).toBeGreaterThan(1_000_000);
    expect(Math.max(...counts)).toBeLessThan(20_000);
  });
});
