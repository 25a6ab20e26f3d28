import { CompiledQuery, PostgresAdapter, type Compilable, type DialectAdapter, type QueryResult } from "kysely";
import type { SqlDialect } from "./dialect.js";
import type { Database, Executor } from "./schema.js";

/** Stands in for a parameter while the query is compiled; no value of ours starts with a NUL. */
const PLACEHOLDER = "\u0000parameter:";

type Slot = { name: string } | { value: unknown };

type Compiled<R> = { query: CompiledQuery<R>; slots: Slot[] };

/**
 * The statement names of the prepared queries' SQL on PostgreSQL. node-postgres parses a named
 * statement once per connection and then only binds it, where an unnamed one is parsed and
 * planned again every time (src/db/reconnecting-pool.ts sends them).
 */
const statementNames = new Map<string, string>();

export function preparedStatementName(sql: string): string | undefined {
  return statementNames.get(sql);
}

export type PreparedQuery<P extends string, R> = (db: Executor, values: Readonly<Record<P, unknown>>) => Promise<QueryResult<R>>;

/**
 * A query of a fixed shape, built and compiled by Kysely once per database and then run with new
 * values. Building and compiling cost more than SQLite takes to run most of our statements (about
 * 30 µs a query); the writes on the hot paths run several each. `build` names each value with
 * `parameter(name)`; every other value it uses is fixed at the first compile, as is its choice of
 * SQL by `dialect`. A shape that varies (a list of N values) is not for this.
 */
export function preparedQuery<P extends string, R>(
  build: (db: Executor, parameter: (name: P) => never, dialect: SqlDialect) => Compilable<R>,
): PreparedQuery<P, R> {
  // A transaction shares its database's adapter, so this finds the compile of either.
  const compiled = new WeakMap<DialectAdapter, Compiled<R>>();
  return async (db, values) => {
    const adapter = db.getExecutor().adapter;
    let prepared = compiled.get(adapter);
    if (prepared === undefined) {
      const dialect = dialectOf(adapter);
      prepared = compile(build(db, (name) => `${PLACEHOLDER}${name}` as never, dialect));
      compiled.set(adapter, prepared);
      const { sql } = prepared.query;
      if (dialect === "postgres" && !statementNames.has(sql)) statementNames.set(sql, `whatisup_${statementNames.size + 1}`);
    }
    const parameters = prepared.slots.map((slot) => ("name" in slot ? valueOf(values, slot.name as P) : slot.value));
    return db.executeQuery<R>({ ...prepared.query, parameters });
  };
}

/**
 * An insert of one whole row into `table`, prepared as above: its columns are those of the first
 * row it inserts, and every later row must have the same ones.
 */
export function preparedInsert<T extends keyof Database & string>(
  table: T,
): (db: Executor, row: Readonly<Record<keyof Database[T] & string, unknown>>) => Promise<void> {
  let columns: string[] | undefined;
  const insert = preparedQuery<string, unknown>((db, value) =>
    db.insertInto(table).values(Object.fromEntries(columns!.map((column) => [column, value(column)])) as never),
  );
  return async (db, row) => {
    columns ??= Object.keys(row);
    if (Object.keys(row).length !== columns.length) {
      throw new TypeError(`a row of ${table} with other columns than the first one inserted: ${Object.keys(row).join(", ")}`);
    }
    await insert(db, row);
  };
}

/**
 * A statement that writes many rows given as a VALUES list, `(…), (…)`, of `columns` values each:
 * `write` makes its SQL around the list, once per dialect and number of rows, and it then runs
 * with the rows' values, row after row, as its parameters. The write-behind's flush runs hundreds
 * of such statements of the same few sizes back to back; built with Kysely's `sql` each cost an
 * object per value, frozen, and a compile: a fifth of the flush's time, and most of what the
 * garbage collector then had to sweep (docs/performance.md, fifteenth part).
 */
export function valuesStatement(
  columns: number,
  write: (values: string, dialect: SqlDialect) => string,
): (db: Executor, parameters: unknown[]) => Promise<QueryResult<unknown>> {
  // The batches' sizes bound it: at most a batch's rows, per dialect.
  const texts = new Map<string, string>();
  return (db, parameters) => {
    if (parameters.length === 0 || parameters.length % columns !== 0) {
      throw new TypeError(`${parameters.length} values cannot be rows of ${columns}`);
    }
    const dialect = dialectOf(db.getExecutor().adapter);
    const rows = parameters.length / columns;
    const shape = `${dialect} ${rows}`;
    let text = texts.get(shape);
    if (text === undefined) {
      text = write(valuesList(dialect, rows, columns), dialect);
      texts.set(shape, text);
    }
    return db.executeQuery(CompiledQuery.raw(text, parameters));
  };
}

function valuesList(dialect: SqlDialect, rows: number, columns: number): string {
  const tuples: string[] = [];
  for (let row = 0; row < rows; row += 1) {
    const placeholders: string[] = [];
    for (let column = 1; column <= columns; column += 1) placeholders.push(dialect === "postgres" ? `$${row * columns + column}` : "?");
    tuples.push(`(${placeholders.join(", ")})`);
  }
  return tuples.join(", ");
}

const dialectOf = (adapter: DialectAdapter): SqlDialect => (adapter instanceof PostgresAdapter ? "postgres" : "sqlite");

/** Kysely leaves a column out of an insert when its value is undefined; a fixed shape cannot. */
function valueOf<P extends string>(values: Readonly<Record<P, unknown>>, name: P): unknown {
  const value = values[name];
  if (value === undefined) throw new TypeError(`no value for the query parameter ${name}`);
  return value;
}

function compile<R>(builder: Compilable<R>): Compiled<R> {
  const query = builder.compile();
  const slots = query.parameters.map((value): Slot =>
    typeof value === "string" && value.startsWith(PLACEHOLDER) ? { name: value.slice(PLACEHOLDER.length) } : { value },
  );
  return { query, slots };
}
