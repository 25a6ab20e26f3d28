import { randomBytes } from "node:crypto";
import { readJson, writeJson } from "../db/json.js";
import type { Db, Tx } from "../db/schema.js";
import { AppError } from "../errors/app-error.js";
import { toTimestamp } from "../time/timestamps.js";

/** How long a customer's key is remembered from its first use (docs/idempotency.md). */
export const IDEMPOTENCY_RETENTION_MS = 24 * 60 * 60 * 1000;

/**
 * How long the node running the first request holds its key. Past it, the node is taken for
 * crashed and a retry runs instead: a handler that is merely that slow finds its key taken at
 * commit, and its change rolls back (`completeIdempotencyKey`). Far above any handler's own
 * bounds (a Cloud API lookup, a DNS check, a transaction).
 */
export const IDEMPOTENCY_LEASE_MS = 60_000;

/** A key this request holds: it runs, and its write completes or its failure releases the key. */
export type IdempotencyClaim = {
  customerId: string;
  key: string;
  token: string;
  /** Set once the change committed with its answer: nothing is left to release. */
  completed: boolean;
};

export type ClaimOutcome =
  | { outcome: "claimed"; claim: IdempotencyClaim }
  /** The first request finished: its answer, given again. */
  | { outcome: "replay"; status: number; body: unknown }
  /** The key was first used for another request. */
  | { outcome: "reused" }
  /** The first request is still running. */
  | { outcome: "in_use" };

/** Inserted, taken over, re-read: a record that moves under us this many times is reported busy. */
const CLAIM_ATTEMPTS = 3;

/**
 * Claims `key` for a request, or says why not. Each statement commits on its own (no transaction
 * is held while the request runs): the insert claims a new key; a record found instead is
 * answered from, or taken over when it is past its 24 hours or its holder's lease has run out.
 * A takeover is a compare-and-set on the token and status read, so of two nodes taking over the
 * same record one wins, and a holder that completed meanwhile is replayed rather than overwritten.
 */
export async function claimIdempotencyKey(
  db: Db,
  customerId: string,
  key: string,
  fingerprint: string,
  now: number,
): Promise<ClaimOutcome> {
  const token = randomBytes(16).toString("hex");
  const record = {
    fingerprint,
    status: "running" as const,
    token,
    lease_until: toTimestamp(now + IDEMPOTENCY_LEASE_MS),
    response_status: null,
    response_body: null,
    created_at: toTimestamp(now),
  };
  const claimed: ClaimOutcome = { outcome: "claimed", claim: { customerId, key, token, completed: false } };
  for (let attempt = 0; attempt < CLAIM_ATTEMPTS; attempt += 1) {
    const inserted = await db
      .insertInto("idempotency_keys")
      .values({ customer_id: customerId, key, ...record })
      .onConflict((conflict) => conflict.columns(["customer_id", "key"]).doNothing())
      .returning("token")
      .executeTakeFirst();
    if (inserted) return claimed;

    const existing = await db
      .selectFrom("idempotency_keys")
      .select(["fingerprint", "status", "token", "lease_until", "response_status", "response_body", "created_at"])
      .where("customer_id", "=", customerId)
      .where("key", "=", key)
      .executeTakeFirst();
    // Released or purged since the insert: insert again.
    if (!existing) continue;

    const expired = existing.created_at <= toTimestamp(now - IDEMPOTENCY_RETENTION_MS);
    const abandoned = existing.status === "running" && existing.lease_until !== null && existing.lease_until <= toTimestamp(now);
    if (expired || abandoned) {
      const taken = await db
        .updateTable("idempotency_keys")
        .set(record)
        .where("customer_id", "=", customerId)
        .where("key", "=", key)
        .where("token", "=", existing.token)
        .where("status", "=", existing.status)
        .executeTakeFirst();
      if (taken.numUpdatedRows > 0n) return claimed;
      continue;
    }
    if (existing.fingerprint !== fingerprint) return { outcome: "reused" };
    if (existing.status === "running") return { outcome: "in_use" };
    return { outcome: "replay", status: existing.response_status!, body: readJson(existing.response_body) };
  }
  return { outcome: "in_use" };
}

/**
 * Marks the claim `done` with the answer, in the transaction of the change itself: the change and
 * its record commit together on any node, or neither does. A claim taken over meanwhile (this
 * request outlived its lease) matches no row: the change is refused and rolls back, since the
 * request now running in its place will make it.
 */
export async function completeIdempotencyKey(tx: Tx, claim: IdempotencyClaim, status: number, body: unknown): Promise<void> {
  const result = await tx
    .updateTable("idempotency_keys")
    .set({ status: "done", lease_until: null, response_status: status, response_body: writeJson(body) })
    .where("customer_id", "=", claim.customerId)
    .where("key", "=", claim.key)
    .where("token", "=", claim.token)
    .where("status", "=", "running")
    .executeTakeFirst();
  if (result.numUpdatedRows === 0n) {
    throw new AppError(
      "idempotency_key_in_use",
      "This request took so long that a retry with the same Idempotency-Key took its place; this one changed nothing.",
      undefined,
      { "retry-after": "1" },
    );
  }
}

/** Forgets a claim whose request failed: it changed nothing, and a retry may run. */
export async function releaseIdempotencyKey(db: Db, claim: IdempotencyClaim): Promise<void> {
  await db
    .deleteFrom("idempotency_keys")
    .where("customer_id", "=", claim.customerId)
    .where("key", "=", claim.key)
    .where("token", "=", claim.token)
    .where("status", "=", "running")
    .execute();
}

/** Deletes up to `limit` records created before `before`; returns how many. */
export async function purgeIdempotencyKeys(db: Db, before: string, limit: number): Promise<number> {
  const result = await db
    .deleteFrom("idempotency_keys")
    .where(({ eb, refTuple, selectFrom }) =>
      eb(
        refTuple("customer_id", "key"),
        "in",
        selectFrom("idempotency_keys").select(["customer_id", "key"]).where("created_at", "<", before).limit(limit).$asTuple("customer_id", "key"),
      ),
    )
    .executeTakeFirst();
  return Number(result.numDeletedRows);
}
