import { claimExpiredNotices, claimExpiringNotices } from "../api-keys/api-key-repository.js";
import type { ApiKey } from "../contract/api-key.js";
import type { EventType } from "../contract/webhook-event.js";
import { toTimestamp } from "../time/timestamps.js";
import type { Write } from "./write.js";

const DAY_MS = 86_400_000;

/**
 * How late an `api_key.expired` is still worth sending (every node down for days). A key that
 * expired longer ago, such as any key that expired before this notice existed, is marked as told
 * without an event: an upgrade must not flood customers with news of keys long dead.
 */
export const LATE_EXPIRED_NOTICE_MS = 7 * DAY_MS;

/**
 * One round of key expiry notices, for every customer, in the write's transaction: claims up to
 * `limit` keys that have expired (`api_key.expired`) and up to `limit` that expire within
 * `noticeDays` days (`api_key.expiring`; 0: never), and writes each event to the outbox. A claim
 * and its events commit together, so a crash sends neither, and the next round claims again.
 * Returns how many keys were claimed.
 */
export async function notifyKeyExpiries(write: Write, input: { now: number; noticeDays: number; limit: number }): Promise<number> {
  const now = toTimestamp(input.now);
  const expired = await claimExpiredNotices(write.tx, write.dialect, now, input.limit);
  const lateCutoff = toTimestamp(input.now - LATE_EXPIRED_NOTICE_MS);
  for (const key of expired) {
    if (key.expires_at! >= lateCutoff) await emit(write, "api_key.expired", key);
  }
  if (input.noticeDays === 0) return expired.length;
  const horizon = toTimestamp(input.now + input.noticeDays * DAY_MS);
  const expiring = await claimExpiringNotices(write.tx, write.dialect, now, horizon, input.limit);
  for (const key of expiring) await emit(write, "api_key.expiring", key);
  return expired.length + expiring.length;
}

/** The key as the API shows it, never its digest or secret (the claims never read them). */
function emit(write: Write, event: EventType, key: ApiKey): Promise<unknown> {
  return write.outbox.emit(write.tx, key.customer_id, { event, instanceId: key.instance_id, data: { api_key: key } });
}
