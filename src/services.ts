import type { AuthenticatedContext } from "./auth/authenticated-context.js";
import type { SqlDialect } from "./db/dialect.js";

/** What route handlers need beyond the request: built once per app in `app.ts`. */
export type Services = AuthenticatedContext & {
  dialect: SqlDialect;
};
