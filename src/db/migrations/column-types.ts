import type { SqlDialect } from "../dialect.js";

/** Column types that differ between the dialects; every migration uses these. */
export function columnTypes(dialect: SqlDialect) {
  return dialect === "postgres"
    ? { id: "uuid", timestamp: "timestamptz(3)", json: "jsonb" }
    : { id: "text", timestamp: "text", json: "text" };
}
