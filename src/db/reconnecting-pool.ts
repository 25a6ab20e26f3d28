import type { PostgresCursor, PostgresPool, PostgresPoolClient, PostgresQueryResult } from "kysely";
import type pg from "pg";
import { isConnectionLoss } from "./connection-loss.js";
import { preparedStatementName } from "./prepared-query.js";

/**
 * The pool as Kysely sees it, with one repair. After PostgreSQL drops sessions (a restart,
 * pg_terminate_backend, a failover), the pool still holds their clients until each one hears the
 * news, so the next checkouts fail at once. A statement that runs on its own (autocommit), and
 * the `begin` that opens a transaction, are therefore run once more on a fresh connection when
 * theirs was lost. Statements inside a transaction are not: the transaction is gone, and the
 * writer decides whether to run it again (src/use-cases/write.ts).
 *
 * Running an autocommit statement twice is safe here because every one of ours is idempotent:
 * reads, the last_used_at flush (it keeps the later time), the dispatcher's claim (a lease that
 * lapses) and its attempt record (conditional on the lease).
 */
export function reconnectingPool(pool: pg.Pool): PostgresPool {
  return {
    connect: async () => new ReconnectingClient(pool, await pool.connect()),
    end: () => pool.end(),
  };
}

const OPENS_TRANSACTION = /^\s*(begin|start\s+transaction)\b/i;
const ENDS_TRANSACTION = /^\s*(commit|rollback|end)\s*$/i;

class ReconnectingClient implements PostgresPoolClient {
  private inTransaction = false;

  constructor(
    private readonly pool: pg.Pool,
    private client: pg.PoolClient,
  ) {}

  query<R>(sql: string, parameters: ReadonlyArray<unknown>): Promise<PostgresQueryResult<R>>;
  query<R>(cursor: PostgresCursor<R>): PostgresCursor<R>;
  query<R>(statement: string | PostgresCursor<R>, parameters?: ReadonlyArray<unknown>): Promise<PostgresQueryResult<R>> | PostgresCursor<R> {
    if (typeof statement !== "string") return this.client.query(statement as never) as PostgresCursor<R>;
    return this.run<R>(statement, parameters ?? []);
  }

  release(destroy?: boolean): void {
    this.client.release(destroy);
  }

  private async run<R>(sql: string, parameters: ReadonlyArray<unknown>): Promise<PostgresQueryResult<R>> {
    const opensTransaction = OPENS_TRANSACTION.test(sql);
    const retryable = !this.inTransaction || opensTransaction;
    let result;
    // Every idle client may be one of the dropped sessions: at most all of them, then a new one.
    for (let attempt = 0; ; attempt += 1) {
      try {
        result = await this.send(sql, parameters);
        break;
      } catch (error) {
        if (!retryable || !isConnectionLoss(error) || attempt >= (this.pool.options.max ?? 10)) throw error;
        this.client.release(error as Error);
        this.client = await this.pool.connect();
      }
    }
    if (opensTransaction) this.inTransaction = true;
    else if (ENDS_TRANSACTION.test(sql)) this.inTransaction = false;
    return result as unknown as PostgresQueryResult<R>;
  }

  private send(sql: string, parameters: ReadonlyArray<unknown>) {
    const name = preparedStatementName(sql);
    if (name !== undefined) return this.client.query({ name, text: sql, values: [...parameters] });
    return this.client.query(sql, [...parameters]);
  }
}
