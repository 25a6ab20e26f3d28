import { sql, type RawBuilder, type SelectQueryBuilder } from "kysely";

/** A position in a newest-first listing: the last row's `created_at` and `id`. */
export type Cursor = { created_at: string; id: string };

/** One page of a newest-first listing: how many rows, and after which one. */
export type PageRequest = { limit: number; after: Cursor | null };

/** Rows strictly after the cursor in `created_at desc, id desc` order (a row-value comparison). */
function olderThan(cursor: Cursor): RawBuilder<boolean> {
  return sql<boolean>`(created_at, id) < (${cursor.created_at}, ${cursor.id})`;
}

/**
 * Orders a listing newest first (`created_at desc, id desc`, the order of the tables' indexes),
 * starts it after the cursor, and takes one row more than the page: that row only tells whether
 * there is a next page (see `toPage`).
 */
export function newestFirstPage<DB, TB extends keyof DB, O>(
  query: SelectQueryBuilder<DB, TB, O>,
  page: PageRequest,
): SelectQueryBuilder<DB, TB, O> {
  const ordered = query
    .orderBy(sql`created_at`, "desc")
    .orderBy(sql`id`, "desc")
    .limit(page.limit + 1);
  return page.after ? ordered.where(olderThan(page.after)) : ordered;
}
