import type { SqlDialect } from "../db/dialect.js";
import type { Db, Executor } from "../db/schema.js";
import { newId } from "../ids/uuid-v7.js";

/**
 * The dispatcher's side of `webhook_deliveries`: claiming due rows with a lease and recording
 * what became of them. Unlike the API's repository these functions span customers (the
 * dispatcher works for all of them); they never leave this module's callers in a route.
 */

/** A node's hold on the rows it claimed: its id and the instant the hold lapses. */
export type Lease = { nodeId: string; until: string };

export type ClaimedDelivery = {
  id: string;
  customer_id: string;
  endpoint_id: string;
  event: string;
  event_id: string;
  /** The exact JSON text to send and sign. */
  payload: string;
  attempt_count: number;
};

export const SENDABLE_STATUSES = ["pending", "retrying"] as const;

/**
 * Claims up to `limit` due deliveries (pending or retrying, `next_attempt_at` reached, no live
 * lease) for `lease.nodeId` until `lease.until`, in ONE statement, so that two nodes never claim
 * the same row: on SQLite the UPDATE takes the write lock before it reads; on PostgreSQL the
 * selection locks the rows it picks and skips those another node is claiming at that moment
 * (`FOR UPDATE SKIP LOCKED`). The outer condition re-checks the lease on the locked row.
 *
 * The selection is a MATERIALIZED CTE, evaluated once. As an `IN (sub-select)` PostgreSQL may
 * re-run it for every row it updates, each run skipping the rows this very statement has just
 * locked, so that the LIMIT slides and one node takes every due row.
 */
export async function claimDueDeliveries(
  db: Executor,
  dialect: SqlDialect,
  lease: Lease,
  now: string,
  limit: number,
): Promise<ClaimedDelivery[]> {
  const claimed = await claimStatement(db, dialect, lease, now, limit).execute();
  return claimed.map((row) => ({ ...row, attempt_count: Number(row.attempt_count) }));
}

/** The claiming statement itself (exported so a test can read the SQL of either dialect). */
export function claimStatement(db: Executor, dialect: SqlDialect, lease: Lease, now: string, limit: number) {
  return db
    .with(
      (cte) => cte("due").materialized(),
      (query) => {
        const due = query
          .selectFrom("webhook_deliveries")
          .select("id")
          .where("status", "in", [...SENDABLE_STATUSES])
          .where("next_attempt_at", "<=", now)
          .where((eb) => eb.or([eb("claimed_until", "is", null), eb("claimed_until", "<", now)]))
          .orderBy("next_attempt_at")
          .orderBy("id")
          .limit(limit);
        return dialect === "postgres" ? due.forUpdate().skipLocked() : due;
      },
    )
    .updateTable("webhook_deliveries")
    .set({ claimed_by: lease.nodeId, claimed_until: lease.until, updated_at: now })
    .where("id", "in", (eb) => eb.selectFrom("due").select("due.id"))
    .where("status", "in", [...SENDABLE_STATUSES])
    .where((eb) => eb.or([eb("claimed_until", "is", null), eb("claimed_until", "<", now)]))
    .returning(["id", "customer_id", "endpoint_id", "event", "event_id", "payload", "attempt_count"]);
}

export type SendingEndpoint = {
  id: string;
  customer_id: string;
  url: string;
  sealed_secret: string;
  deleted_at: string | null;
};

/** The endpoints of a batch, deleted ones included (the dispatcher fails their deliveries). */
export async function findEndpointsForSending(db: Executor, ids: string[]): Promise<Map<string, SendingEndpoint>> {
  if (ids.length === 0) return new Map();
  const rows = await db
    .selectFrom("webhook_endpoints")
    .select(["id", "customer_id", "url", "sealed_secret", "deleted_at"])
    .where("id", "in", [...new Set(ids)])
    .execute();
  return new Map(rows.map((row) => [row.id, row]));
}

/** The columns an attempt's result writes, besides clearing the lease. */
export type AttemptRecord = {
  status: "success" | "retrying" | "failed";
  attempt_count: number;
  last_error: string | null;
  last_response_status: number | null;
  next_attempt_at: string | null;
  delivered_at: string | null;
  updated_at: string;
};

/** An attempt that was made (a result without one, such as a deleted endpoint's, has none). */
export type AttemptMade = { startedAt: string };

/**
 * Writes the result and releases the lease, only while this node still holds the very lease it
 * claimed with: a node whose lease lapsed and was taken over by another node (or renewed by a
 * later claim) changes nothing. True when the row was written.
 *
 * The attempt log's row is written in the same transaction, from the same record (its number is
 * the new `attempt_count`), so the log and the delivery never disagree: a crash leaves neither.
 */
export async function recordAttempt(
  db: Db,
  lease: Lease,
  deliveryId: string,
  record: AttemptRecord,
  attempt?: AttemptMade,
): Promise<boolean> {
  return db.transaction().execute(async (tx) => {
    const written = await tx
      .updateTable("webhook_deliveries")
      .set({ ...record, claimed_by: null, claimed_until: null })
      .where("id", "=", deliveryId)
      .where("claimed_by", "=", lease.nodeId)
      .where("claimed_until", "=", lease.until)
      .returning("customer_id")
      .executeTakeFirst();
    if (!written) return false;
    if (attempt) {
      await tx
        .insertInto("webhook_delivery_attempts")
        .values({
          id: newId(),
          delivery_id: deliveryId,
          customer_id: written.customer_id,
          number: record.attempt_count,
          started_at: attempt.startedAt,
          finished_at: record.updated_at,
          response_status: record.last_response_status,
          error: record.last_error,
          outcome: record.status === "success" ? "success" : "failure",
        })
        .execute();
    }
    return true;
  });
}
