import { createHash } from "node:crypto";

/** What a request is, for telling a retry from another request sent with the same key. */
export type FingerprintedRequest = {
  method: string;
  /** The route's pattern (`/v1/instances/:id/messages`), not the URL: a query string does not count. */
  route: string;
  params: unknown;
  body: unknown;
};

/**
 * sha256 over the method, route pattern, path parameters and body in canonical JSON (object keys
 * sorted at every depth): the same request written with its fields in another order is the same
 * request. The body is the validated one, so whitespace and number spellings do not count either.
 */
export function requestFingerprint(request: FingerprintedRequest): string {
  const canonical = canonicalJson([request.method, request.route, request.params ?? null, request.body ?? null]);
  return createHash("sha256").update(canonical).digest("hex");
}

function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  if (typeof value === "object" && value !== null) {
    const entries = Object.entries(value)
      .filter(([, field]) => field !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([key, field]) => `${JSON.stringify(key)}:${canonicalJson(field)}`).join(",")}}`;
  }
  return JSON.stringify(value) ?? "null";
}
