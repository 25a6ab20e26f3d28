import { validationFailed } from "../errors/app-error.js";

/** A position in a newest-first listing: the last row's `created_at` and `id`. */
export type Cursor = { created_at: string; id: string };

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

/** A page of rows fetched with one extra row, which only tells whether there is a next page. */
export function toPage<Row extends Cursor, Item>(rows: Row[], limit: number, present: (row: Row) => Item) {
  const pageRows = rows.slice(0, limit);
  const last = pageRows[pageRows.length - 1];
  return {
    data: pageRows.map(present),
    next_cursor: rows.length > limit && last ? encodeCursor(last) : null,
  };
}
