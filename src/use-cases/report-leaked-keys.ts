import { findUnrevokedKeysByDigests, type ReportedKey } from "../api-keys/api-key-repository.js";
import type { Actor } from "../audit/actor.js";
import type { KeyDigester } from "../crypto/key-digest.js";
import { displayPrefix, isWellFormedKey } from "../crypto/key-format.js";
import type { Executor } from "../db/schema.js";
import { revokeApiKeys } from "./revoke-api-keys.js";
import type { Writer } from "./write.js";

/** The anonymous reporter: whoever holds a key's text may revoke it, and no one else is named. */
export const LEAK_REPORT_ACTOR: Actor = { type: "leak_report" };
export const MAX_REPORTED_KEYS = 1000;
export const MAX_SOURCE_LENGTH = 2000;
/** Digests per read: one statement each, well under SQLite's and PostgreSQL's parameter limits. */
const DIGESTS_PER_READ = 200;
/**
 * Customers per transaction. Each transaction waits once for every node to evict its keys (up to
 * the distrust window when a node is silent), so one per customer would make a report of many
 * customers' keys slow; one for all of them would hold every customer's rows at once.
 */
const CUSTOMERS_PER_WRITE = 50;

/** Key-shaped text in a source (a URL can quote the key it points at): only its prefix is kept. */
const KEY_LIKE = /zpk_(live|test)_[0-9A-Za-z]+/g;

export type LeakReport = { keys: readonly string[]; source: string | null };

/**
 * `POST /v1/leaked-keys`: revokes every key of the report that exists and is not revoked yet,
 * whatever its customer, through `revokeApiKeys` (audited with reason "leaked", announced as a
 * webhook event, evicted on every node before this returns). Entries that are not well-formed keys
 * cost nothing: they are dropped before any digest or read. Returns nothing, so that no caller
 * can tell a matched key from an unmatched one.
 */
export async function reportLeakedKeys(
  dependencies: { db: Executor; write: Writer; keyDigests: KeyDigester },
  report: LeakReport,
): Promise<void> {
  const { db, write, keyDigests } = dependencies;
  const digests = [...new Set(report.keys.filter(isWellFormedKey))].map((key) => keyDigests.digest(key));
  const found: ReportedKey[] = [];
  for (let start = 0; start < digests.length; start += DIGESTS_PER_READ) {
    found.push(...(await findUnrevokedKeysByDigests(db, digests.slice(start, start + DIGESTS_PER_READ))));
  }
  if (found.length === 0) return;
  const source = report.source === null ? null : withoutKeys(report.source);
  // In one order everywhere: two reports naming the same customers lock their rows alike.
  const customers = [...groupByCustomer(found)].sort(([a], [b]) => (a < b ? -1 : 1));
  for (let start = 0; start < customers.length; start += CUSTOMERS_PER_WRITE) {
    await write(LEAK_REPORT_ACTOR, async (w, actor) => {
      for (const [customerId, ids] of customers.slice(start, start + CUSTOMERS_PER_WRITE)) {
        await revokeApiKeys(w, actor, { customerId, keys: { ids }, reason: "leaked", source });
      }
    });
  }
}

function groupByCustomer(keys: readonly ReportedKey[]): Map<string, string[]> {
  const byCustomer = new Map<string, string[]>();
  for (const key of keys) {
    const ids = byCustomer.get(key.customer_id);
    if (ids) ids.push(key.id);
    else byCustomer.set(key.customer_id, [key.id]);
  }
  return byCustomer;
}

function withoutKeys(text: string): string {
  return text.replace(KEY_LIKE, (key) => `${displayPrefix(key)}[redacted]`);
}
