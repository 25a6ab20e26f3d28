import { setImmediate as yieldToRequests } from "node:timers/promises";
import type { FastifyBaseLogger } from "fastify";
import { recordKeyUses } from "../api-keys/api-key-repository.js";
import { addKeyUsage, deleteKeyUsageBefore, PERIOD_MS } from "../api-keys/api-key-usage-repository.js";
import type { SqlDialect } from "../db/dialect.js";
import type { Db } from "../db/schema.js";
import { toTimestamp } from "../time/timestamps.js";
import type { UsageCounters } from "./usage-counters.js";

/**
 * Keys per UPDATE. On SQLite a statement holds the event loop while it runs, so a large flush is
 * written in small statements, and the recorder yields to waiting requests between them: 200 keys
 * among a million take about 1 ms, and fewer statements cost less in all (`npm run bench:flush`,
 * 100,000 uses: 369 and 416 ms with a million keys stored, 503 ms in batches of 50). On PostgreSQL
 * the statement runs in the database, and each costs a round trip (100,000 uses in batches of 100
 * took 8.7 s), but building a statement of 500 keys held the event loop for 2 to 3 ms.
 */
const BATCH_SIZE: Record<SqlDialect, number> = { sqlite: 200, postgres: 250 };

/** Old usage rows are deleted this many at a time, at most once an hour. */
const RETENTION_BATCH = 500;
const RETENTION_EVERY_MS = 3_600_000;

/** The per-key usage counts this recorder flushes too, and how long their rows are kept. */
export type UsageFlush = { counters: UsageCounters; retentionDays: number };

/**
 * The write-behind of `last_used_at`. Authentication only notes a use in memory; uses are
 * coalesced per key (the latest wins) and written in batched UPDATEs every `flushMs` and at close,
 * so the request path never waits on a write. The same flush adds the usage counted since the last
 * one to `api_key_usage` and, once an hour, deletes the rows past retention.
 */
export class LastUsedRecorder {
  private pending = new Map<string, string>();
  private timer: NodeJS.Timeout | null = null;
  private flushing: Promise<void> = Promise.resolve();
  private nextRetentionAt = 0;

  constructor(
    private readonly db: Db,
    private readonly dialect: SqlDialect,
    private readonly flushMs: number,
    private readonly log: FastifyBaseLogger,
    private readonly usage?: UsageFlush,
  ) {}

  noteUse(keyId: string, at: string): void {
    const known = this.pending.get(keyId);
    if (known === undefined || known < at) this.pending.set(keyId, at);
  }

  start(): void {
    this.timer ??= setInterval(() => void this.flush(), this.flushMs);
    this.timer.unref();
  }

  /** Stops the clock and writes what is pending: called at graceful shutdown. */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.flush();
  }

  /** One flush at a time; a flush asked for during another runs right after it. */
  flush(): Promise<void> {
    this.flushing = this.flushing.then(() => this.writePending());
    return this.flushing;
  }

  private async writePending(): Promise<void> {
    await this.writeUses();
    if (this.usage) {
      await this.writeUsage(this.usage.counters);
      await this.deleteExpiredUsage(this.usage.retentionDays);
    }
  }

  private async writeUses(): Promise<void> {
    if (this.pending.size === 0) return;
    const uses = this.pending.entries();
    this.pending = new Map();
    // A batch at a time from the iterator, so that no step copies the whole of a large flush.
    const size = BATCH_SIZE[this.dialect];
    for (let chunk = nextBatch(uses, size), first = true; chunk.size > 0; chunk = nextBatch(uses, size), first = false) {
      if (!first) await yieldToRequests();
      try {
        await recordKeyUses(this.db, this.dialect, chunk);
      } catch (error) {
        this.log.error({ err: error, keys: chunk.size }, "could not record key uses; will retry");
        for (const [keyId, at] of chunk) this.noteUse(keyId, at);
      }
    }
  }

  /** In batches like the uses, in key order: nodes adding to the same rows lock them in one order. */
  private async writeUsage(counters: UsageCounters): Promise<void> {
    const counts = counters.drain();
    const size = BATCH_SIZE[this.dialect];
    for (let start = 0; start < counts.length; start += size) {
      if (start > 0) await yieldToRequests();
      const batch = counts.slice(start, start + size);
      try {
        await addKeyUsage(this.db, batch);
      } catch (error) {
        this.log.error({ err: error, rows: batch.length }, "could not record key usage; will retry");
        counters.restore(batch);
      }
    }
  }

  private async deleteExpiredUsage(retentionDays: number): Promise<void> {
    const now = Date.now();
    if (now < this.nextRetentionAt) return;
    this.nextRetentionAt = now + RETENTION_EVERY_MS;
    const before = toTimestamp(now - retentionDays * PERIOD_MS.day);
    try {
      while ((await deleteKeyUsageBefore(this.db, before, RETENTION_BATCH)) === RETENTION_BATCH) await yieldToRequests();
    } catch (error) {
      this.log.error({ err: error }, "could not delete expired key usage; will retry in an hour");
    }
  }
}

function nextBatch(uses: Iterator<[string, string]>, size: number): Map<string, string> {
  const batch = new Map<string, string>();
  while (batch.size < size) {
    const next = uses.next();
    if (next.done) break;
    batch.set(next.value[0], next.value[1]);
  }
  return batch;
}
