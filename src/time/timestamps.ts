/** The one timestamp format the application writes: ISO 8601, UTC, milliseconds, `Z`. */
export function toTimestamp(date: Date | number): string {
  return new Date(date).toISOString();
}

export function nowTimestamp(): string {
  return new Date().toISOString();
}
