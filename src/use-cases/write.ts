import { lockKeyStanding } from "../api-keys/api-key-repository.js";
import type { Actor, KeyActor } from "../audit/actor.js";
import type { RevocationChannel } from "../auth/revocation-channel.js";
import type { Config } from "../config.js";
import { KeyDigester } from "../crypto/key-digest.js";
import { SecretBox } from "../crypto/secret-box.js";
import type { SqlDialect } from "../db/dialect.js";
import { isConnectionLoss } from "../db/connection-loss.js";
import type { Db, Tx } from "../db/schema.js";
import { AppError } from "../errors/app-error.js";
import { nowTimestamp } from "../time/timestamps.js";
import { Outbox } from "../webhook-deliveries/outbox.js";

/** What writes need besides their transaction: made once per process (`createWriter`). */
export type WriteDependencies = {
  /** Row locks are taken on PostgreSQL only: SQLite runs one write at a time. */
  dialect: SqlDialect;
  /** Digests new keys under the pepper. */
  keyDigests: KeyDigester;
  /** Seals webhook endpoints' signing secrets. */
  secrets: SecretBox;
  /** Writes the webhook deliveries of each event. */
  outbox: Outbox;
  /** How many active keys a customer may hold when it issues one more (MAX_ACTIVE_KEYS). */
  maxActiveKeys: number;
  /**
   * Tells every node of a revocation, and after commit waits until none honours the keys. The
   * CLI has none: it never revokes.
   */
  revocations: Pick<RevocationChannel, "announce"> | null;
};

/**
 * One write in progress: the transaction that its change, audit events, outbox rows and
 * revocation notice all go into, and the dependencies of writes. Every use case takes one.
 */
export type Write = WriteDependencies & {
  tx: Tx;
  /** Runs once the transaction has committed, and the write returns only when it has finished. */
  afterCommit(action: () => void | Promise<void>): void;
};

/**
 * Runs one use case in one transaction: `write(actor, (w, actor) => issueApiKey(w, actor, input))`.
 * A key acting is checked first inside the transaction (see `checkActingKey`). `null` is a
 * transport moving messages, which acts for no one.
 */
export type Writer = <A extends Actor | null, T>(actor: A, work: (write: Write, actor: A) => Promise<T>) => Promise<T>;

/** PostgreSQL's deadlock_detected and serialization_failure. */
const RETRYABLE_SQLSTATES = new Set(["40P01", "40001"]);
const MAX_ATTEMPTS = 5;
/**
 * Before a deadlock's victim runs again it waits a random few milliseconds: run again at once, it
 * can meet the same locks held the same way (a node's last_used_at flush locks a batch of keys,
 * batch after batch) and lose every attempt, as the chaos test saw.
 */
const CONFLICT_PAUSE_MS = 25;

export function createWriter(db: Db, dependencies: WriteDependencies): Writer {
  return async (actor, work) => {
    for (let attempt = 1; ; attempt += 1) {
      const committed: Array<() => void | Promise<void>> = [];
      let reachedCommit = false;
      let result;
      try {
        result = await db.transaction().execute(async (tx) => {
          if (actor?.type === "api_key") await checkActingKey(tx, actor);
          const value = await work({ ...dependencies, tx, afterCommit: (action) => committed.push(action) }, actor);
          reachedCommit = true;
          return value;
        });
      } catch (error) {
        if (attempt < MAX_ATTEMPTS && mayRunAgain(error, reachedCommit)) {
          if (isLockConflict(error)) await new Promise((resolve) => setTimeout(resolve, Math.random() * CONFLICT_PAUSE_MS * attempt));
          continue;
        }
        if (isConnectionLoss(error)) throw databaseUnavailable(reachedCommit);
        throw error;
      }
      for (const action of committed) await action();
      return result;
    }
  };
}

/**
 * Whether a failed transaction is known to have changed nothing, so that running it again cannot
 * apply it twice. Two writes can each hold a lock the other needs (two keys revoking each other at
 * once): PostgreSQL aborts one, and its next attempt sees what the other committed. A connection
 * lost before COMMIT was sent took its transaction with it. Lost during COMMIT, the outcome is
 * unknown, and only the client can decide.
 */
function mayRunAgain(error: unknown, reachedCommit: boolean): boolean {
  return isLockConflict(error) || (!reachedCommit && isConnectionLoss(error));
}

function isLockConflict(error: unknown): boolean {
  return RETRYABLE_SQLSTATES.has((error as { code?: unknown }).code as string);
}

function databaseUnavailable(reachedCommit: boolean): AppError {
  const message = reachedCommit
    ? "The connection to the database was lost while this change was being committed: it may or may not have been made. Check before you repeat it."
    : "The database cannot be reached; nothing was changed. Try again shortly.";
  return new AppError("database_unavailable", message, undefined, { "retry-after": "1" });
}

/**
 * A key's authority, checked where the write commits rather than when its request began: a key
 * revoked (or expired, or whose instance was deleted) while its request was in flight changes
 * nothing. The row lock orders the check with any concurrent revocation of the key.
 */
async function checkActingKey(tx: Tx, actor: KeyActor): Promise<void> {
  const standing = await lockKeyStanding(tx, actor.key.customer_id, actor.key.id);
  if (!standing || standing.revoked_at !== null || standing.instance_deleted) {
    throw new AppError("auth_expired", "This API key has been revoked.");
  }
  if (standing.expires_at !== null && standing.expires_at <= nowTimestamp()) {
    throw new AppError("auth_expired", "This API key has expired.");
  }
}

/** The dependencies of writes as a process (the server, the CLI) sets them up from its settings. */
export function writeDependencies(
  config: Pick<Config, "webhooks" | "maxActiveKeys">,
  dialect: SqlDialect,
  pepper: string,
  revocations: Pick<RevocationChannel, "announce"> | null,
): WriteDependencies {
  return {
    dialect,
    keyDigests: new KeyDigester(pepper),
    secrets: new SecretBox(pepper),
    outbox: new Outbox(config.webhooks.retryDelaysMs[0] ?? 0),
    maxActiveKeys: config.maxActiveKeys,
    revocations,
  };
}
