import type { VerifiedKeyCache } from "../auth/verified-key-cache.js";
import type { Config } from "../config.js";
import { SecretBox } from "../crypto/secret-box.js";
import type { SqlDialect } from "../db/dialect.js";
import type { Db, Tx } from "../db/schema.js";
import { Outbox } from "../webhook-deliveries/outbox.js";

/** What writes need besides their transaction: made once per process (`createWriter`). */
export type WriteDependencies = {
  /** Where the revocation notice goes differs: pg_notify on PostgreSQL, nothing on SQLite. */
  dialect: SqlDialect;
  /** Digests new keys. */
  pepper: string;
  /** Seals webhook endpoints' signing secrets. */
  secrets: SecretBox;
  /** Writes the webhook deliveries of each event. */
  outbox: Outbox;
  /** This node's cache of verified keys, evicted once a revocation commits; the CLI has none. */
  cache: VerifiedKeyCache | null;
};

/**
 * One write in progress: the transaction that its change, audit events, outbox rows and
 * revocation notice all go into, and the dependencies of writes. Every use case takes one.
 */
export type Write = WriteDependencies & {
  tx: Tx;
  /** Runs once the transaction has committed, before the write returns. */
  afterCommit(action: () => void): void;
};

/** Runs one use case in one transaction: `writer((write) => issueApiKey(write, actor, input))`. */
export type Writer = <T>(work: (write: Write) => Promise<T>) => Promise<T>;

export function createWriter(db: Db, dependencies: WriteDependencies): Writer {
  return async (work) => {
    const committed: Array<() => void> = [];
    const result = await db
      .transaction()
      .execute((tx) => work({ ...dependencies, tx, afterCommit: (action) => committed.push(action) }));
    for (const action of committed) action();
    return result;
  };
}

/** The dependencies of writes as a process (the server, the CLI) sets them up from its settings. */
export function writeDependencies(
  config: Pick<Config, "webhooks">,
  dialect: SqlDialect,
  pepper: string,
  cache: VerifiedKeyCache | null,
): WriteDependencies {
  return {
    dialect,
    pepper,
    secrets: new SecretBox(pepper),
    outbox: new Outbox(config.webhooks.retryDelaysMs[0] ?? 0),
    cache,
  };
}
