import { sql } from "kysely";
import type { UsageGranularity, UsagePeriod } from "../contract/api-key-usage.js";
import { valuesStatement } from "../db/prepared-query.js";
import type { Executor } from "../db/schema.js";
import { toTimestamp } from "../time/timestamps.js";

/** One key's answers in one hour, to be added to its row. */
export type UsageIncrement = {
  keyId: string;
  customerId: string;
  /** The hour's start, in milliseconds since the epoch. */
  hour: number;
  requests: number;
  rejected: number;
  rateLimited: number;
};

export const PERIOD_MS: Record<UsageGranularity, number> = { hour: 3_600_000, day: 86_400_000 };

/**
 * Adds counts to their (key, hour) rows in one statement, creating the rows that do not exist:
 * every node adds to the same rows. Like `recordKeyUses` it spans customers (the key ids come
 * from authentication). The caller passes them ordered by key and hour, so that two nodes
 * flushing together lock shared rows in the same order.
 */
export async function addKeyUsage(db: Executor, increments: readonly UsageIncrement[]): Promise<void> {
  if (increments.length === 0) return;
  const parameters: Array<string | number> = [];
  for (const count of increments) {
    parameters.push(count.keyId, count.customerId, toTimestamp(count.hour), count.requests, count.rejected, count.rateLimited);
  }
  await addKeyUsageStatement(db, parameters);
}

const addKeyUsageStatement = valuesStatement(
  6,
  (values) => `insert into api_key_usage (key_id, customer_id, period_start, requests, rejected, rate_limited)
    values ${values}
    on conflict (key_id, period_start) do update set
      requests = api_key_usage.requests + excluded.requests,
      rejected = api_key_usage.rejected + excluded.rejected,
      rate_limited = api_key_usage.rate_limited + excluded.rate_limited`,
);

/**
 * Deletes at most `limit` rows of hours before `before`, and says how many it deleted: the
 * caller repeats until a batch comes back short, so that no one statement holds the database (or
 * SQLite's event loop) for long.
 */
export async function deleteKeyUsageBefore(db: Executor, before: string, limit: number): Promise<number> {
  const result = await sql`delete from api_key_usage where (key_id, period_start) in (
      select key_id, period_start from api_key_usage where period_start < ${before} limit ${limit})`.execute(db);
  return Number(result.numAffectedRows ?? 0n);
}

/**
 * A key's answers per period from `from` (a period's start) to `to` (exclusive), every period
 * present, oldest first. Days are UTC days: the sums of their 24 hourly rows.
 */
export async function keyUsage(
  db: Executor,
  customerId: string,
  keyId: string,
  granularity: UsageGranularity,
  from: number,
  to: number,
): Promise<UsagePeriod[]> {
  const periodMs = PERIOD_MS[granularity];
  const periods: UsagePeriod[] = [];
  for (let start = from; start < to; start += periodMs) {
    periods.push({ start: toTimestamp(start), requests: 0, rejected: 0, rate_limited: 0 });
  }
  const rows = await db
    .selectFrom("api_key_usage")
    .select(["period_start", "requests", "rejected", "rate_limited"])
    .where("customer_id", "=", customerId)
    .where("key_id", "=", keyId)
    .where("period_start", ">=", toTimestamp(from))
    .where("period_start", "<", toTimestamp(to))
    .execute();
  for (const row of rows) {
    const period = periods[Math.floor((Date.parse(row.period_start) - from) / periodMs)]!;
    period.requests += Number(row.requests);
    period.rejected += Number(row.rejected);
    period.rate_limited += Number(row.rate_limited);
  }
  return periods;
}
