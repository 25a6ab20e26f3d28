/** The SQL dialects the migrations and repositories are written for. */
export type SqlDialect = "sqlite" | "postgres";
