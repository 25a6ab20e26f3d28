import type { KeyCredential } from "../api-keys/api-key-repository.js";

/**
 * Who makes a change, and from where: every write is given one, and every audit row records it.
 * An API key brings its credential (the authority that writes check) and its request's origin.
 */
export type Actor =
  | { type: "api_key"; key: KeyCredential; ip: string; userAgent: string | null; requestId: string }
  | { type: "cli" }
  /** Someone who found keys in the open and reported them (`POST /v1/leaked-keys`): anonymous. */
  | { type: "leak_report" };

/** The operator at the command line (`whatisup customers create`), acting on the database itself. */
export const CLI_ACTOR: Actor = { type: "cli" };

/** An API key acting through a request. */
export type KeyActor = Extract<Actor, { type: "api_key" }>;
