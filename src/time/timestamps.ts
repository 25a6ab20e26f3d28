/** The one timestamp format the application writes: ISO 8601, UTC, milliseconds, `Z`. */
export function toTimestamp(date: Date | number): string {
  return new Date(date).toISOString();
}

let lastMillis = Number.NaN;
let lastText = "";

/**
 * Now, in that format. Every request asks at least twice, and many requests share a
 * millisecond: the text is made once per millisecond.
 */
export function nowTimestamp(): string {
  const millis = Date.now();
  if (millis !== lastMillis) {
    lastMillis = millis;
    lastText = new Date(millis).toISOString();
  }
  return lastText;
}
