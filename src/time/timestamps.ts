let lastMillis = Number.NaN;
let lastText = "";

/**
 * The one timestamp format the application writes: ISO 8601, UTC, milliseconds, `Z`. Every
 * request formats several instants (now, its buckets' refills), many of them the same millisecond
 * as the last one: the text of the last is kept.
 */
export function toTimestamp(date: Date | number): string {
  const millis = typeof date === "number" ? date : date.getTime();
  if (millis !== lastMillis) {
    lastMillis = millis;
    lastText = new Date(millis).toISOString();
  }
  return lastText;
}

/** Now, in that format. */
export function nowTimestamp(): string {
  return toTimestamp(Date.now());
}
