import type { WebhookEvent } from "./index.js";

// WebCrypto only (globalThis.crypto.subtle): the same code runs in Node.js 20+, Deno, Bun,
// browsers and edge runtimes, so nothing here may import node: modules.

/** Why a webhook request was refused; `error.reason` of a {@link WebhookSignatureError}. */
export type WebhookSignatureFailure =
  /** No `X-WhatIsUp-Signature` header, or an empty one. */
  | "missing_header"
  /**
   * A header the server never sends: no `t`, two `t` (a header value doubled on the way, which
   * leaves open which time was signed), or no well-formed `v1`.
   */
  | "malformed_header"
  /** `rawBody` is empty: most often a framework read and parsed the body before the check. */
  | "empty_body"
  /** No `v1` matches: another body, another secret, or a signature moved to another `t`. */
  | "signature_mismatch"
  /** Signed by this secret, but `t` is further from this clock than the tolerance: a replay, or a skewed clock. */
  | "timestamp_outside_tolerance"
  /** Signed by this secret, but not a JSON object: no delivery of the server is. */
  | "invalid_body";

/** Thrown (the promise rejects) when a request is not a genuine, recent webhook of this endpoint. */
export class WebhookSignatureError extends Error {
  override readonly name = "WebhookSignatureError";

  constructor(
    readonly reason: WebhookSignatureFailure,
    message: string,
  ) {
    super(message);
  }
}

export type VerifyWebhookSignatureOptions = {
  /**
   * How far, in seconds, `t` may be from this clock, either way (default 300). Each attempt is
   * signed anew, so a retry never needs more.
   */
  toleranceSeconds?: number;
};

const DEFAULT_TOLERANCE_SECONDS = 300;
const V1_SIGNATURE = /^[0-9a-f]{64}$/;
const encoder = new TextEncoder();

/**
 * Checks an `X-WhatIsUp-Signature` header (`t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<raw body>">`,
 * docs/webhooks.md) against the endpoint's secret (the whole `whsec_…` string), and resolves to
 * the event, parsed from the very bytes that were checked. Any `v1` may match (a secret rotation
 * sends one per secret); signatures are compared by WebCrypto, in constant time.
 *
 * `rawBody` is the body as received, before any JSON parsing: a string or bytes (a Node.js Buffer
 * is a Uint8Array). `header` may be taken straight from Node's `req.headers` or from
 * `request.headers.get(…)`.
 *
 * @throws {WebhookSignatureError} with its `reason`, when the request must be refused (answer it 400).
 */
export async function verifyWebhookSignature(
  secret: string,
  header: string | readonly string[] | null | undefined,
  rawBody: string | Uint8Array,
  { toleranceSeconds = DEFAULT_TOLERANCE_SECONDS }: VerifyWebhookSignatureOptions = {},
): Promise<WebhookEvent> {
  // The caller's mistakes, not the request's: an unset secret must not read as a forged request.
  if (typeof secret !== "string" || secret === "") throw new TypeError("secret must be the endpoint's whsec_ signing secret");
  if (!(toleranceSeconds >= 0)) throw new RangeError("toleranceSeconds must be a number of seconds, 0 or more");
  const { timestamp, signatures } = parseHeader(header);
  const body = typeof rawBody === "string" ? encoder.encode(rawBody) : rawBody;
  if (body.length === 0) {
    throw new WebhookSignatureError("empty_body", "The body is empty: pass the raw request body, read before any JSON parsing");
  }

  const key = await globalThis.crypto.subtle.importKey("raw", encoder.encode(secret), { name: "HMAC", hash: "SHA-256" }, false, [
    "verify",
  ]);
  const signed = concat(encoder.encode(`${timestamp}.`), body);
  // Every v1 is checked, even after a match, so that the time taken tells nothing about which one did.
  const verdicts = await Promise.all(signatures.map((signature) => globalThis.crypto.subtle.verify("HMAC", key, signature, signed)));
  if (!verdicts.includes(true)) {
    throw new WebhookSignatureError("signature_mismatch", "No v1 signature of the header matches this body under this secret");
  }

  // Whole seconds, as the server signs and judges them.
  const ageSeconds = Math.abs(Math.floor(Date.now() / 1000) - Number(timestamp));
  if (ageSeconds > toleranceSeconds) {
    throw new WebhookSignatureError(
      "timestamp_outside_tolerance",
      `The signature's timestamp is ${ageSeconds} s from this clock, more than the tolerance of ${toleranceSeconds} s`,
    );
  }

  return parseEvent(body);
}

// Read as the server's own verifier reads it: parts split on commas, spaces around them ignored,
// unknown schemes and ill-formed v1 values skipped, exactly one numeric t.
function parseHeader(header: string | readonly string[] | null | undefined): { timestamp: string; signatures: Uint8Array<ArrayBuffer>[] } {
  if (Array.isArray(header) && header.length > 1) {
    throw new WebhookSignatureError("malformed_header", "The signature header was sent more than once");
  }
  const value: unknown = Array.isArray(header) ? header[0] : header;
  if (typeof value !== "string" || value.trim() === "") {
    throw new WebhookSignatureError("missing_header", "No X-WhatIsUp-Signature header");
  }
  const timestamps: string[] = [];
  const signatures: Uint8Array<ArrayBuffer>[] = [];
  for (const part of value.split(",")) {
    const at = part.indexOf("=");
    if (at < 0) continue;
    const key = part.slice(0, at).trim();
    const partValue = part.slice(at + 1).trim();
    if (key === "t" && /^\d+$/.test(partValue)) timestamps.push(partValue);
    if (key === "v1" && V1_SIGNATURE.test(partValue)) signatures.push(hexToBytes(partValue));
  }
  const [timestamp] = timestamps;
  if (timestamp === undefined || timestamps.length !== 1) {
    throw new WebhookSignatureError("malformed_header", "The signature header must carry exactly one t=<unix seconds>");
  }
  if (signatures.length === 0) {
    throw new WebhookSignatureError("malformed_header", "The signature header carries no v1=<64 hex digits>");
  }
  return { timestamp, signatures };
}

// The signature vouches for the bytes, and the server signs only envelopes: what parses is one.
function parseEvent(body: Uint8Array): WebhookEvent {
  let event: unknown;
  try {
    event = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(body));
  } catch {
    throw new WebhookSignatureError("invalid_body", "The signed body is not JSON");
  }
  if (typeof event !== "object" || event === null || Array.isArray(event)) {
    throw new WebhookSignatureError("invalid_body", "The signed body is not a JSON object");
  }
  return event as WebhookEvent;
}

function hexToBytes(hex: string): Uint8Array<ArrayBuffer> {
  const bytes = new Uint8Array(hex.length / 2);
  for (let i = 0; i < bytes.length; i++) bytes[i] = Number.parseInt(hex.slice(i * 2, i * 2 + 2), 16);
  return bytes;
}

function concat(head: Uint8Array, tail: Uint8Array): Uint8Array<ArrayBuffer> {
  const joined = new Uint8Array(head.length + tail.length);
  joined.set(head);
  joined.set(tail, head.length);
  return joined;
}
