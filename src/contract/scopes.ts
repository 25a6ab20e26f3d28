/** The scopes (docs/api.md, "Scopes"). `*` holds every other one. */
export const SCOPES = [
  "*",
  "api_keys:read",
  "api_keys:write",
  "instances:read",
  "instances:write",
  "messages:send",
  "messages:read",
  "webhooks:read",
  "webhooks:write",
  "deliveries:read",
  "audit:read",
] as const;

export type Scope = (typeof SCOPES)[number];
export const ALL_SCOPES: Scope = "*";

export function holdsScope(held: readonly string[], wanted: string): boolean {
  return held.includes(ALL_SCOPES) || held.includes(wanted);
}

/** The requested scopes the holder could not grant: a key never mints a stronger key. */
export function scopesBeyond(held: readonly string[], requested: readonly string[]): string[] {
  if (held.includes(ALL_SCOPES)) return [];
  return requested.filter((scope) => !held.includes(scope));
}
