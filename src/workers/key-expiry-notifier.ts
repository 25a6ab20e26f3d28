import { notifyKeyExpiries } from "../use-cases/notify-key-expiries.js";
import type { Writer } from "../use-cases/write.js";
import type { Worker } from "./worker-loop.js";

/** Keys claimed per notice and round; the loop runs again at once while it finds some. */
export const NOTICE_BATCH_SIZE = 100;

/**
 * Tells customers of their keys' expiry by webhook: `api_key.expiring` once, `noticeDays` days
 * (KEY_EXPIRY_NOTICE_DAYS) before a key's `expires_at`, and `api_key.expired` once when it has
 * passed. Every node runs it; the notice columns of the key are the claim (see
 * `notifyKeyExpiries`), so each notice is sent once across nodes and restarts.
 */
export class KeyExpiryNotifier implements Worker {
  readonly name = "key-expiry-notifier";
  /** `clock` is the time in milliseconds: `Date.now`, or a test's. */
  constructor(private readonly deps: { write: Writer; noticeDays: number; clock: () => number }) {}

  runOnce(): Promise<number> {
    return this.deps.write(null, (write) =>
      notifyKeyExpiries(write, { now: this.deps.clock(), noticeDays: this.deps.noticeDays, limit: NOTICE_BATCH_SIZE }),
    );
  }
}
