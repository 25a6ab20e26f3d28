import type BetterSqlite3 from "better-sqlite3";
import {
  CompiledQuery,
  SqliteDialect,
  type DatabaseConnection,
  type Driver,
  type QueryResult,
} from "kysely";
import { SecondChanceMap } from "../collections/second-chance-map.js";
import type { Checkpointer } from "./sqlite-checkpointer.js";

/**
 * How many distinct statements stay prepared. Our queries come in a few hundred shapes (a list
 * of N values is a shape per N), so a cache of this size holds all of them.
 */
const PREPARED_STATEMENTS = 1_000;

/**
 * Kysely's SQLite dialect with a driver of our own, for two costs of the stock one that show
 * under write load (docs/performance.md, "Writes"):
 * - it prepares every statement again on every query, which costs more than SQLite takes to run
 *   most of ours; here each statement is prepared once and kept;
 * - its lock on the one connection wakes every waiter at each release, each to look again and all
 *   but one to wait again, and a query that asks between the release and those wake-ups goes
 *   first. Here the connection passes straight to the longest waiter, and nobody else wakes.
 */
export class CachingSqliteDialect extends SqliteDialect {
  constructor(
    private readonly database: BetterSqlite3.Database,
    /** Stopped before the database closes (see sqlite-checkpointer.ts). */
    private readonly checkpointer: Checkpointer | null,
  ) {
    super({ database });
  }

  override createDriver(): Driver {
    return new CachingSqliteDriver(this.database, this.checkpointer);
  }
}

class CachingSqliteDriver implements Driver {
  private readonly connection: CachingSqliteConnection;
  private readonly waiting: Array<() => void> = [];
  private held = false;

  constructor(
    private readonly database: BetterSqlite3.Database,
    private readonly checkpointer: Checkpointer | null,
  ) {
    this.connection = new CachingSqliteConnection(database);
  }

  async init(): Promise<void> {}

  acquireConnection(): Promise<DatabaseConnection> {
    if (!this.held) {
      this.held = true;
      return Promise.resolve(this.connection);
    }
    return new Promise((resolve) => this.waiting.push(() => resolve(this.connection)));
  }

  async releaseConnection(): Promise<void> {
    const next = this.waiting.shift();
    // The connection passes straight to the next in line, so that nobody can take it between.
    if (next === undefined) this.held = false;
    else next();
  }

  async beginTransaction(connection: DatabaseConnection): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw("begin"));
  }

  async commitTransaction(connection: DatabaseConnection): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw("commit"));
  }

  async rollbackTransaction(connection: DatabaseConnection): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw("rollback"));
  }

  async destroy(): Promise<void> {
    await this.checkpointer?.stop();
    this.database.close();
  }
}

class CachingSqliteConnection implements DatabaseConnection {
  private readonly statements = new SecondChanceMap<string, BetterSqlite3.Statement>(PREPARED_STATEMENTS);

  constructor(private readonly database: BetterSqlite3.Database) {}

  executeQuery<R>(compiledQuery: CompiledQuery): Promise<QueryResult<R>> {
    const statement = this.prepared(compiledQuery.sql);
    const parameters = compiledQuery.parameters as unknown[];
    if (statement.reader) return Promise.resolve({ rows: statement.all(parameters) as R[] });
    const { changes } = statement.run(parameters);
    return Promise.resolve({ numAffectedRows: BigInt(changes), rows: [] });
  }

  /** Kysely's `stream()`. A statement being iterated cannot run anything else: it gets its own. */
  async *streamQuery<R>(compiledQuery: CompiledQuery): AsyncIterableIterator<QueryResult<R>> {
    const statement = this.database.prepare(compiledQuery.sql);
    for (const row of statement.iterate(compiledQuery.parameters as unknown[])) yield { rows: [row as R] };
  }

  private prepared(sql: string): BetterSqlite3.Statement {
    let statement = this.statements.get(sql);
    if (statement === undefined) {
      statement = this.database.prepare(sql);
      this.statements.set(sql, statement);
    }
    return statement;
  }
}
