/**
 * Plain-text output of the API client commands: aligned tables, key: value lines, relative times.
 * The dashboard's page bundles `relativeTime` and `keyStatus` too, so that both say the same
 * thing: this file imports nothing, from Node or elsewhere.
 */

const UNITS: Array<{ name: string; plural: string; seconds: number; below: number }> = [
  { name: "sec", plural: "sec", seconds: 1, below: 60 },
  { name: "min", plural: "min", seconds: 60, below: 60 },
  { name: "hour", plural: "hours", seconds: 3_600, below: 24 },
  { name: "day", plural: "days", seconds: 86_400, below: 30 },
  { name: "month", plural: "months", seconds: 2_592_000, below: 12 },
  { name: "year", plural: "years", seconds: 31_536_000, below: Number.POSITIVE_INFINITY },
];

/**
 * "3 min ago", "in 2 days", "just now"; `whenNull` ("never" by default) for a missing time.
 * Each unit is rounded to the nearest whole one and used while it stays below the next unit.
 */
export function relativeTime(iso: string | null | undefined, now: Date = new Date(), whenNull = "never"): string {
  if (iso === null || iso === undefined) return whenNull;
  const at = Date.parse(iso);
  if (Number.isNaN(at)) return iso;
  const deltaSeconds = Math.round((at - now.getTime()) / 1000);
  const future = deltaSeconds > 0;
  const seconds = Math.abs(deltaSeconds);
  if (seconds < 10) return future ? "in a few sec" : "just now";
  for (const unit of UNITS) {
    const count = Math.round(seconds / unit.seconds);
    if (count < unit.below) {
      const text = `${count} ${count === 1 ? unit.name : unit.plural}`;
      return future ? `in ${text}` : `${text} ago`;
    }
  }
  return iso; // unreachable: the last unit has no upper bound
}

/** A time as "2026-06-30 00:00:00 UTC (in 2 days)", or `whenNull`. */
export function absoluteAndRelative(iso: string | null | undefined, now: Date = new Date(), whenNull = "never"): string {
  if (iso === null || iso === undefined) return whenNull;
  return `${iso} (${relativeTime(iso, now)})`;
}

/** Columns aligned with two spaces between them, a header row, no trailing spaces. */
export function table(headers: string[], rows: string[][]): string {
  const widths = headers.map((header, column) =>
    Math.max(displayWidth(header), ...rows.map((row) => displayWidth(row[column] ?? ""))),
  );
  const line = (cells: string[]): string =>
    cells
      .map((cell, column) => (column === cells.length - 1 ? cell : pad(cell, widths[column] ?? 0)))
      .join("  ")
      .trimEnd();
  return `${[line(headers.map((header) => header.toUpperCase())), ...rows.map(line)].join("\n")}\n`;
}

/** `label: value` lines with the values aligned. */
export function keyValues(pairs: Array<[string, string]>): string {
  const width = Math.max(0, ...pairs.map(([label]) => displayWidth(label) + 1));
  return pairs.map(([label, value]) => `${pad(`${label}:`, width)}  ${value}`.trimEnd()).join("\n") + "\n";
}

function pad(text: string, width: number): string {
  return text + " ".repeat(Math.max(0, width - displayWidth(text)));
}

/** Characters as a terminal shows them (code points: names are rarely wider scripts). */
function displayWidth(text: string): number {
  return [...text].length;
}

export type KeyStatus = "active" | "revoked" | "expired";

export function keyStatus(key: { revoked_at: string | null; expires_at: string | null }, now: Date = new Date()): KeyStatus {
  if (key.revoked_at !== null) return "revoked";
  if (key.expires_at !== null && Date.parse(key.expires_at) <= now.getTime()) return "expired";
  return "active";
}
