import { setImmediate as yieldToRequests } from "node:timers/promises";
import type { FastifyBaseLogger } from "fastify";
import { recordKeyUses } from "../api-keys/api-key-repository.js";
import { addKeyUsage, deleteKeyUsageBefore, PERIOD_MS, type UsageIncrement } from "../api-keys/api-key-usage-repository.js";
import { sortedBatches } from "../collections/sorted-batches.js";
import type { SqlDialect } from "../db/dialect.js";
import type { Db } from "../db/schema.js";
import { toTimestamp } from "../time/timestamps.js";
import type { UsageCounters } from "./usage-counters.js";

/**
 * Keys per statement. On SQLite a statement holds the event loop while it runs, so a large flush is
 * written in small statements, and the recorder yields to waiting requests between them: 200 keys
 * drawn at random from a million, in key order, took about 2 ms in `api_keys`, and take 0.3 to
 * 0.9 ms in the uses' own table. Batches of 100 cost no less in all and left the longest blocks as
 * long (`npm run bench:flush`: 2.6 and 3.0 s against 2.2 and 2.3 s). On PostgreSQL the statement
 * runs in the database, and each costs a round trip (100,000 uses in batches of 100 took 8.7 s),
 * but building a statement of 500 keys through Kysely held the event loop for 2 to 3 ms. The
 * statements are no longer built per batch (`valuesStatement`); larger batches there are untried.
 */
const BATCH_SIZE: Record<SqlDialect, number> = { sqlite: 200, postgres: 250 };

/** Old usage rows are deleted this many at a time, at most once an hour. */
const RETENTION_BATCH = 500;
const RETENTION_EVERY_MS = 3_600_000;

/** The per-key usage counts this recorder flushes too, and how long their rows are kept. */
export type UsageFlush = { counters: UsageCounters; retentionDays: number };

/**
 * The write-behind of `last_used_at`. Authentication only notes a use in memory; uses are
 * coalesced per key (the latest wins) and written in batched upserts every `flushMs` and at close,
 * so the request path never waits on a write. The same flush adds the usage counted since the last
 * one to `api_key_usage` and, once an hour, deletes the rows past retention.
 *
 * Both are written in key order, sorted a run at a time (src/collections/sorted-batches.ts). Keys
 * are used in no order, and 200 keys drawn at random from a million sit on about 200 pages of the
 * table, where 200 neighbours share a few. `npm run bench:flush` (100,000 of a million SQLite keys,
 * used in random order, with their usage counts) took 4.5 s in the order of use, with a block of
 * 221 ms to sort the usage counts at once, and 2.2 s in key order, the longest block 18 to 24 ms;
 * with the uses in a narrow table of their own instead of the key rows, 1.0 to 1.1 s once the
 * keys had been used before. Key order is also the order in which nodes writing the same rows
 * lock them.
 *
 * What the flush sorts is made of objects that already exist: the keys' text (each batch looks its
 * times up in the map) and the usage counts themselves, read from the counters as the runs are cut.
 * Sorted as `[key, time]` entries, 100,000 new arrays lived through the whole sort, and the garbage
 * collector's copying of them held the event loop 10 to 28 ms at a time (docs/performance.md,
 * fifteenth part).
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
    const uses = this.pending;
    this.pending = new Map();
    for await (const batch of sortedBatches(uses.keys(), byText, BATCH_SIZE[this.dialect])) {
      const chunk = new Map<string, string>();
      for (const keyId of batch) chunk.set(keyId, uses.get(keyId)!);
      try {
        await recordKeyUses(this.db, chunk);
      } catch (error) {
        this.log.error({ err: error, keys: chunk.size }, "could not record key uses; will retry");
        for (const [keyId, at] of chunk) this.noteUse(keyId, at);
      }
    }
  }

  /** In batches like the uses, in key and hour order: nodes adding to the same rows lock them in one order. */
  private async writeUsage(counters: UsageCounters): Promise<void> {
    for await (const batch of sortedBatches(counters.drain(), byKeyAndHour, BATCH_SIZE[this.dialect])) {
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

const byText = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

const byKeyAndHour = (a: UsageIncrement, b: UsageIncrement) => (a.keyId < b.keyId ? -1 : a.keyId > b.keyId ? 1 : a.hour - b.hour);
