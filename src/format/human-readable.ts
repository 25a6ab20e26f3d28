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

/**
 * Characters a terminal acts on rather than shows: C0 controls (ESC starts colour and cursor
 * sequences, CR and LF forge lines, BEL, TAB), DEL, C1 controls (U+009B is a CSI by itself on
 * some terminals) and the bidi overrides and isolates, which reorder what follows them.
 */
const UNPRINTABLE = /[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/g;
const NAMED: Record<string, string> = { "\n": "\\n", "\r": "\\r", "\t": "\\t" };

/**
 * `text` with each character of UNPRINTABLE written as a visible escape (`\n`, `\u001b`), so that
 * a name or a URL from the API prints as text and cannot drive the operator's terminal or add a
 * row to a table. Backslashes are left as they are: this is for reading, not for parsing back.
 */
export function terminalSafe(text: string): string {
  return text.replace(UNPRINTABLE, (char) => NAMED[char] ?? `\\u${char.charCodeAt(0).toString(16).padStart(4, "0")}`);
}

/**
 * Columns aligned with two spaces between them, a header row, no trailing spaces. Every cell is
 * made terminalSafe (its width is then the escape's), so no caller has to remember to.
 */
export function table(headers: string[], rows: string[][]): string {
  const safeRows = rows.map((row) => row.map(terminalSafe));
  const safeHeaders = headers.map((header) => terminalSafe(header.toUpperCase()));
  const widths = safeHeaders.map((header, column) =>
    Math.max(displayWidth(header), ...safeRows.map((row) => displayWidth(row[column] ?? ""))),
  );
  const line = (cells: string[]): string =>
    cells
      .map((cell, column) => (column === cells.length - 1 ? cell : pad(cell, widths[column] ?? 0)))
      .join("  ")
      .trimEnd();
  return `${[line(safeHeaders), ...safeRows.map(line)].join("\n")}\n`;
}

/** `label: value` lines with the values aligned, both terminalSafe. */
export function keyValues(pairs: Array<[string, string]>): string {
  const safePairs = pairs.map(([label, value]) => [terminalSafe(label), terminalSafe(value)] as const);
  const width = Math.max(0, ...safePairs.map(([label]) => displayWidth(label) + 1));
  return safePairs.map(([label, value]) => `${pad(`${label}:`, width)}  ${value}`.trimEnd()).join("\n") + "\n";
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
