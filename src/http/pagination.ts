import { DEFAULT_PAGE_SIZE } from "../contract/page.js";
import type { Cursor, PageRequest } from "../db/pagination.js";
import { validationFailed } from "../errors/app-error.js";
import { isUuid } from "../ids/uuid-v7.js";

export function encodeCursor(row: Cursor): string {
  return Buffer.from(JSON.stringify([row.created_at, row.id]), "utf8").toString("base64url");
}

/**
 * Only a cursor this API could have returned is read: canonical base64url of `[created_at, id]`,
 * a timestamp in the one format the API writes (a real date, hence the round trip through Date)
 * and a lower-case UUID. PostgreSQL would otherwise be handed text it cannot compare with its
 * timestamp and uuid columns, and fail, while SQLite would quietly compare it as text.
 */
export function decodeCursor(text: string): Cursor {
  try {
    const decoded: unknown = JSON.parse(Buffer.from(text, "base64url").toString("utf8"));
    if (Array.isArray(decoded) && decoded.length === 2) {
      const [createdAt, id] = decoded as unknown[];
      if (typeof createdAt === "string" && typeof id === "string" && isTimestamp(createdAt) && isLowerCaseUuid(id)) {
        const cursor = { created_at: createdAt, id };
        // Buffer.from skips characters that are not base64url, so text around a real cursor would pass.
        if (encodeCursor(cursor) === text) return cursor;
      }
    }
  } catch {
    // fall through to the refusal below
  }
  throw validationFailed([{ field: "querystring.cursor", message: "is not a cursor this API returned" }]);
}

// PostgreSQL has no year 0 and refuses it; no row can be that old, so no cursor can either.
const TIMESTAMP_PATTERN = /^(?!0000)\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;

function isTimestamp(text: string): boolean {
  const millis = Date.parse(text);
  return TIMESTAMP_PATTERN.test(text) && !Number.isNaN(millis) && new Date(millis).toISOString() === text;
}

function isLowerCaseUuid(text: string): boolean {
  return isUuid(text) && text === text.toLowerCase();
}

/**
 * Every paginated list: the page the query asks for (`cursor`, `limit`) is read with one row
 * more than the page (`newestFirstPage`), and that extra row only tells whether there is a next
 * page. Answers `{"data": [...], "next_cursor": "…" | null}`.
 */
export async function listPage<Row extends Cursor>(
  query: { cursor?: string | undefined; limit?: number | undefined },
  list: (page: PageRequest) => Promise<Row[]>,
): Promise<{ data: Row[]; next_cursor: string | null }> {
  const limit = query.limit ?? DEFAULT_PAGE_SIZE;
  const rows = await list({ limit, after: query.cursor === undefined ? null : decodeCursor(query.cursor) });
  const data = rows.slice(0, limit);
  const last = data[data.length - 1];
  return { data, next_cursor: rows.length > limit && last ? encodeCursor(last) : null };
}
