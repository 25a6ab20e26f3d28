import { DEFAULT_PAGE_SIZE } from "../contract/page.js";
import type { Cursor, PageRequest } from "../db/pagination.js";
import { validationFailed } from "../errors/app-error.js";

export function encodeCursor(row: Cursor): string {
  return Buffer.from(JSON.stringify([row.created_at, row.id]), "utf8").toString("base64url");
}

export function decodeCursor(text: string): Cursor {
  try {
    const decoded: unknown = JSON.parse(Buffer.from(text, "base64url").toString("utf8"));
    if (Array.isArray(decoded) && decoded.length === 2) {
      const [createdAt, id] = decoded as unknown[];
      if (typeof createdAt === "string" && typeof id === "string") return { created_at: createdAt, id };
    }
  } catch {
    // fall through to the refusal below
  }
  throw validationFailed([{ field: "querystring.cursor", message: "is not a cursor this API returned" }]);
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
