import { sql } from "kysely";
import Type from "typebox";
import type { DatabaseHandle } from "../../db/database.js";
import { pendingMigrations } from "../../db/migrate.js";
import type { App } from "../../http/app-types.js";
import { AppError } from "../../errors/app-error.js";
import { errorResponses } from "../../http/schemas.js";

/** A database that does not answer within this is as good as down, for a load balancer. */
export const READINESS_TIMEOUT_MS = 2_000;

/**
 * Readiness: the database answers a trivial query and has applied every migration this build
 * knows. Public, registered at the root beside `/healthz`. Not ready is 503 `not_ready`, with
 * `details` naming what is missing.
 */
export function registerReadiness(app: App, database: DatabaseHandle): void {
  app.get(
    "/readyz",
    {
      schema: {
        operationId: "getReadiness",
        summary: "Readiness: the database is reachable and every migration is applied",
        tags: ["operations"],
        response: {
          200: Type.Object({ status: Type.Literal("ready") }, { additionalProperties: false, description: "Ready to serve" }),
          ...errorResponses("not_ready", "internal_error"),
        },
      },
    },
    async () => {
      let pending: string[];
      try {
        pending = await withTimeout(
          (async () => {
            await sql`select 1`.execute(database.db);
            return pendingMigrations(database);
          })(),
          READINESS_TIMEOUT_MS,
        );
      } catch (error) {
        app.log.warn({ err: error }, "readiness: database unreachable");
        throw new AppError("not_ready", "The database does not answer.", { database: "unreachable" });
      }
      if (pending.length > 0) {
        throw new AppError("not_ready", "The database lacks migrations this build needs.", {
          pending_migrations: pending,
        });
      }
      return { status: "ready" as const };
    },
  );
}

function withTimeout<T>(work: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
  });
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}
