import { sql, type RawBuilder } from "kysely";
import type { Cursor } from "../http/cursor.js";

/** Rows strictly after the cursor in `created_at desc, id desc` order (a row-value comparison). */
export function olderThan(cursor: Cursor): RawBuilder<boolean> {
  return sql<boolean>`(created_at, id) < (${cursor.created_at}, ${cursor.id})`;
}
