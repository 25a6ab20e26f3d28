import type { Db } from "../db/schema.js";
import { IDEMPOTENCY_RETENTION_MS, purgeIdempotencyKeys } from "../idempotency/idempotency-repository.js";
import { toTimestamp } from "../time/timestamps.js";
import type { Worker } from "./worker-loop.js";

/** Records deleted per round; the loop runs again at once while it finds some. */
export const PURGE_BATCH_SIZE = 500;
/** Records expire by the day: looking once a minute is plenty, whatever WORKER_POLL_MS is. */
export const PURGE_POLL_MS = 60_000;

/**
 * Deletes `Idempotency-Key` records past their 24 hours. A claim treats such a record as absent
 * anyway (it replaces it), so the purge only bounds the table; every node may run it, since a
 * record deleted twice is deleted once. `clock` is the time in milliseconds: `Date.now`, or a test's.
 */
export class IdempotencyPurge implements Worker {
  readonly name = "idempotency-purge";
  constructor(private readonly deps: { db: Db; clock: () => number }) {}

  runOnce(): Promise<number> {
    return purgeIdempotencyKeys(this.deps.db, toTimestamp(this.deps.clock() - IDEMPOTENCY_RETENTION_MS), PURGE_BATCH_SIZE);
  }
}
