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

const PRAGMA = /^\s*pragma\b/i;

/**
 * How long a write waits for the write lock another connection holds (the checkpoint thread's
 * RESTART, a CLI command) before it fails SQLITE_BUSY: SQLite's busy timeout, but waited for
 * without holding the event loop.
 */
const WRITE_LOCK_TIMEOUT_MS = 5_000;
/** The longest pause between two attempts at the write lock; the first pauses are 1, 2, 4… ms. */
const WRITE_LOCK_MAX_PAUSE_MS = 16;

/**
 * Kysely's SQLite dialect with a driver of our own, for the costs of the stock one that show under
 * write load (docs/performance.md, "Writes" and "Group commit"):
 * - it prepares every statement again on every query, which costs more than SQLite takes to run
 *   most of ours; here each statement is prepared once and kept;
 * - its lock on the one connection wakes every waiter at each release, each to look again and all
 *   but one to wait again, and a query that asks between the release and those wake-ups goes
 *   first. Here the connection passes straight to the longest waiter, and nobody else wakes;
 * - each transaction committed on its own, and a COMMIT (writing the log's pages) cost a third of a
 *   key issue. Here the writes of one turn of the event loop share one (group commit): each write is
 *   a savepoint within a transaction the driver opens, the connection passes on when the savepoint
 *   is released, and the transaction commits once nobody is in the middle of a write, after the
 *   turn's I/O. A write answers only when that commit is made, so an answered write is as durable
 *   as before. A write that fails rolls back to its savepoint alone; a commit that fails (the disk
 *   is full) fails every write of its group, none of which has answered yet. Nothing outside a
 *   write may see what might yet be rolled back: a read outside a write goes to a second,
 *   read-only connection, which sees the last commit, and any other statement commits the open
 *   group first;
 * - SQLite waits for another connection's write lock in its busy handler, which sleeps on the
 *   thread that runs the event loop: while the checkpoint thread's RESTART held the lock (34 to
 *   119 ms under sustained writes), no request of any kind was answered. Here the connection's
 *   busy timeout is 0, and a write that finds the lock taken tries again after a timer.
 */
export class CachingSqliteDialect extends SqliteDialect {
  constructor(
    private readonly database: BetterSqlite3.Database,
    private readonly options: SqliteDriverOptions = {},
  ) {
    super({ database });
  }

  override createDriver(): Driver {
    return new CachingSqliteDriver(this.database, this.options.reader ?? null, this.options.checkpointer ?? null);
  }
}

export type SqliteDriverOptions = {
  /**
   * A read-only connection to the same file, for the statements that only read outside a write:
   * they see what has been committed without waiting for, or cutting short, the open group.
   */
  reader?: BetterSqlite3.Database | null;
  /** Stopped before the database closes (see sqlite-checkpointer.ts). */
  checkpointer?: Checkpointer | null;
};

/**
 * Who holds the connections of one database file in this process, and who waits. Two connections
 * of one process to one file (two apps as two nodes, in the tests) take turns through it: each
 * waiting on the other inside SQLite would block, in SQLite's busy wait, the one thread that could
 * end the other's transaction.
 */
class FileTurns {
  held = false;
  /** Who waits, longest first. */
  readonly waiting: Array<() => void> = [];
  /** The drivers on this file holding a group open. */
  readonly openGroups = new Set<CachingSqliteDriver>();
  drivers = 0;

  private static readonly byFile = new Map<string, FileTurns>();

  /** An in-memory database is a database of its own, whatever its name. */
  static of(database: BetterSqlite3.Database): FileTurns {
    if (database.memory) return new FileTurns();
    let turns = FileTurns.byFile.get(database.name);
    if (turns === undefined) {
      turns = new FileTurns();
      FileTurns.byFile.set(database.name, turns);
    }
    turns.drivers += 1;
    return turns;
  }

  static leave(database: BetterSqlite3.Database, turns: FileTurns): void {
    turns.drivers -= 1;
    if (turns.drivers === 0 && FileTurns.byFile.get(database.name) === turns) FileTurns.byFile.delete(database.name);
  }
}

class CachingSqliteDriver implements Driver {
  private readonly connection: CachingSqliteConnection;
  private readonly reading: CachingSqliteConnection | null;
  private readonly turns: FileTurns;
  /**
   * The writes whose transactions have ended but whose group has not committed yet, each waiting
   * to be told how the commit went; `null` when no group transaction is open.
   */
  private group: Array<GroupMember> | null = null;
  /** A write's transaction is between its savepoint and its release. */
  private memberOpen = false;
  private commitScheduled = false;

  constructor(
    private readonly database: BetterSqlite3.Database,
    private readonly reader: BetterSqlite3.Database | null,
    private readonly checkpointer: Checkpointer | null,
  ) {
    // The driver waits for the write lock itself (withWriteLock), off the event loop.
    database.pragma("busy_timeout = 0");
    this.connection = new CachingSqliteConnection(database);
    this.reading = reader === null ? null : new CachingSqliteConnection(reader);
    this.turns = FileTurns.of(database);
  }

  async init(): Promise<void> {}

  acquireConnection(): Promise<DatabaseConnection> {
    const lease = new Lease(this);
    if (!this.turns.held) {
      this.turns.held = true;
      return Promise.resolve(lease);
    }
    return new Promise((resolve) => this.turns.waiting.push(() => resolve(lease)));
  }

  async releaseConnection(connection: DatabaseConnection): Promise<void> {
    this.handOver(connection as Lease);
  }

  async beginTransaction(connection: DatabaseConnection): Promise<void> {
    if (this.group === null) {
      this.commitGroups(this);
      // IMMEDIATE: the write lock is taken now, or waited for if another connection holds it. A
      // deferred transaction that read first would be refused SQLITE_BUSY at its first write, and
      // could not wait: its read would have to start over.
      await this.withWriteLock(() => {
        // Another write may have opened the group while this one waited: it joins that.
        if (this.group !== null) return;
        this.run("begin immediate");
        this.group = [];
        this.turns.openGroups.add(this);
      });
    }
    this.run("savepoint member");
    this.memberOpen = true;
    (connection as Lease).inTransaction = true;
  }

  /**
   * Ends the write's part of the group and passes the connection on at once, so that the writes
   * waiting for it join the same commit; answers only when that commit has been made.
   */
  commitTransaction(connection: DatabaseConnection): Promise<void> {
    const lease = connection as Lease;
    this.run("release member");
    this.memberOpen = false;
    lease.inTransaction = false;
    const group = this.group!;
    const committed = new Promise<void>((resolve, reject) => group.push({ resolve, reject }));
    this.handOver(lease);
    return committed;
  }

  async rollbackTransaction(connection: DatabaseConnection): Promise<void> {
    const lease = connection as Lease;
    // A write whose group failed to commit has already passed the connection on: nothing of it is left.
    if (lease.released) return;
    lease.inTransaction = false;
    this.memberOpen = false;
    try {
      this.run("rollback to member");
      this.run("release member");
    } catch (error) {
      // SQLite ends the whole transaction on some errors (a full disk, an I/O error): what the
      // group's earlier writes did went with it.
      this.abandonGroup(error);
    }
  }

  async destroy(): Promise<void> {
    if (this.group !== null && !this.memberOpen) this.commitGroup();
    FileTurns.leave(this.database, this.turns);
    await this.checkpointer?.stop();
    this.reader?.close();
    this.database.close();
  }

  /**
   * Where a lease's statement runs. Outside a write it must see only what has been committed: a
   * read goes to the reading connection, which sees the last commit (so a request that reads
   * before it writes, as most do, neither waits for the group nor ends it); anything else, or any
   * statement when there is no reading connection (an in-memory database), commits the open
   * groups first.
   */
  private connectionFor(lease: Lease, sql: string): CachingSqliteConnection {
    if (lease.inTransaction) return this.connection;
    if (this.reading?.onlyReads(sql)) return this.reading;
    if (this.turns.openGroups.size > 0) this.commitGroups();
    return this.connection;
  }

  executeQuery<R>(lease: Lease, compiledQuery: CompiledQuery): Promise<QueryResult<R>> {
    const connection = this.connectionFor(lease, compiledQuery.sql);
    // A statement outside a write is a transaction of its own: one that writes takes the lock.
    if (connection !== this.connection || lease.inTransaction) return connection.executeQuery(compiledQuery);
    return this.withWriteLock(() => {
      // A group another write opened while this one waited commits first, as connectionFor does.
      this.commitGroups();
      return connection.executeQuery<R>(compiledQuery);
    });
  }

  streamQuery<R>(lease: Lease, compiledQuery: CompiledQuery): AsyncIterableIterator<QueryResult<R>> {
    return this.connectionFor(lease, compiledQuery.sql).streamQuery(compiledQuery);
  }

  /**
   * Runs `attempt`, and again after a pause each time it finds the write lock taken, until
   * WRITE_LOCK_TIMEOUT_MS have passed; a statement refused SQLITE_BUSY as it began did nothing.
   * During each pause the turn passes on, so that reads (on the reading connection) are not held
   * up behind a write that waits: held up, a burst of new keys' reads from one address would
   * count as in flight long enough to be throttled. The write takes its turn back first in line.
   */
  private async withWriteLock<T>(attempt: () => T): Promise<Awaited<T>> {
    const deadline = Date.now() + WRITE_LOCK_TIMEOUT_MS;
    for (let pause = 1; ; pause = Math.min(pause * 2, WRITE_LOCK_MAX_PAUSE_MS)) {
      try {
        return await attempt();
      } catch (error) {
        if ((error as { code?: string }).code !== "SQLITE_BUSY" || Date.now() + pause > deadline) throw error;
      }
      this.passTurn();
      await new Promise((resolve) => setTimeout(resolve, pause));
      if (this.turns.held) await new Promise<void>((resolve) => this.turns.waiting.unshift(resolve));
      else this.turns.held = true;
    }
  }

  private handOver(lease: Lease): void {
    if (lease.released) return;
    lease.released = true;
    if (this.group !== null && !this.commitScheduled) {
      this.commitScheduled = true;
      // After the I/O phase of this turn of the event loop: every request read in it has begun
      // its write, and the writes that found the connection taken are in the group too.
      setImmediate(() => {
        this.commitScheduled = false;
        // A write still open commits the group when it ends (its own hand-over schedules it).
        if (this.group !== null && !this.memberOpen) this.commitGroup();
      });
    }
    this.passTurn();
  }

  /** The connection passes straight to the next in line, so that nobody can take it between. */
  private passTurn(): void {
    const next = this.turns.waiting.shift();
    if (next === undefined) this.turns.held = false;
    else next();
  }

  /**
   * Commits the groups open on this file, but `except`'s: whoever asks holds the connection, so
   * none of them has a write under way.
   */
  private commitGroups(except?: CachingSqliteDriver): void {
    for (const driver of this.turns.openGroups) if (driver !== except) driver.commitGroup();
  }

  private commitGroup(): void {
    try {
      this.run("commit");
    } catch (error) {
      this.abandonGroup(error);
      return;
    }
    for (const member of this.closeGroup()) member.resolve();
  }

  /** Rolls back what is left of the group and fails each of its writes with `error`. */
  private abandonGroup(error: unknown): void {
    if (this.database.inTransaction) this.run("rollback");
    for (const member of this.closeGroup()) member.reject(error);
  }

  private closeGroup(): Array<GroupMember> {
    const members = this.group ?? [];
    this.group = null;
    this.turns.openGroups.delete(this);
    return members;
  }

  private run(sql: string): void {
    this.connection.run(sql);
  }
}

type GroupMember = { resolve: () => void; reject: (error: unknown) => void };

/** One holder's use of the one connection, from acquireConnection to releaseConnection. */
class Lease implements DatabaseConnection {
  inTransaction = false;
  /** The connection has passed on (at release, or earlier at the commit of its write). */
  released = false;

  constructor(private readonly driver: CachingSqliteDriver) {}

  executeQuery<R>(compiledQuery: CompiledQuery): Promise<QueryResult<R>> {
    return this.driver.executeQuery(this, compiledQuery);
  }

  streamQuery<R>(compiledQuery: CompiledQuery): AsyncIterableIterator<QueryResult<R>> {
    return this.driver.streamQuery(this, compiledQuery);
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

  /**
   * Whether a statement changes nothing (on the reading connection, which cannot run one that
   * does). A PRAGMA reads or sets its own connection's settings, so it is never one; nor is a
   * statement this connection cannot even prepare: both are left to the writing connection.
   */
  onlyReads(sql: string): boolean {
    if (PRAGMA.test(sql)) return false;
    try {
      return this.prepared(sql).readonly;
    } catch {
      return false;
    }
  }

  /** Statements of the driver's own (begin, savepoints, commit), prepared once like the rest. */
  run(sql: string): void {
    this.prepared(sql).run();
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
