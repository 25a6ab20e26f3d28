/**
 * Keys drawn at random from those a bench writes, used in random order, as a server's keys in use
 * are: the first keys written, in the order written, are neighbours in the table and already
 * sorted (docs/performance.md, eleventh part).
 */

/**
 * Reservoir sampling: called with every item in turn, `seen` counting the items so far, it keeps
 * `size` of them in `sample`, each as likely as the others.
 */
export function keepInSample<T>(sample: T[], size: number, item: T, seen: number): void {
  if (sample.length < size) {
    sample.push(item);
    return;
  }
  const slot = Math.floor(Math.random() * seen);
  if (slot < size) sample[slot] = item;
}

/** Fisher–Yates, in place. */
export function shuffle<T>(items: T[]): void {
  for (let index = items.length - 1; index > 0; index -= 1) {
    const other = Math.floor(Math.random() * (index + 1));
    [items[index], items[other]] = [items[other]!, items[index]!];
  }
}
