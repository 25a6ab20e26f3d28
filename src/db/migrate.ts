import { Migrator, type Kysely, type Migration, type MigrationResultSet } from "kysely";
import type { DatabaseHandle } from "./database.js";
import type { SqlDialect } from "./dialect.js";
import * as initialSchema from "./migrations/20261126130000_initial_schema.js";
import * as messagesAndWebhooks from "./migrations/20261126140000_messages_and_webhooks.js";
import * as keyCounts from "./migrations/20261201170000_key_counts.js";
import * as sentMessagesIndex from "./migrations/20261201180000_sent_messages_index.js";
import * as messageTransport from "./migrations/20261206020000_message_transport.js";
import * as keyLifecycle from "./migrations/20261206070000_key_lifecycle.js";
import * as deliveryAttempts from "./migrations/20261206090000_delivery_attempts.js";
import * as messagesBothWays from "./migrations/20261206120000_messages_both_ways.js";
import * as idempotencyKeys from "./migrations/20261206130000_idempotency_keys.js";
import * as oneIndexForKeyLists from "./migrations/20261207030000_one_index_for_key_lists.js";
import * as keyUsesApart from "./migrations/20261207160000_key_uses_apart.js";

type DialectMigration = {
  up(db: Kysely<any>, dialect: SqlDialect): Promise<void>;
  down(db: Kysely<any>, dialect: SqlDialect): Promise<void>;
};

/** Every migration, in order. Listed by hand so the build never depends on a directory scan. */
const MIGRATIONS: Record<string, DialectMigration> = {
  "20261126130000_initial_schema": initialSchema,
  "20261126140000_messages_and_webhooks": messagesAndWebhooks,
  "20261201170000_key_counts": keyCounts,
  "20261201180000_sent_messages_index": sentMessagesIndex,
  "20261206020000_message_transport": messageTransport,
  "20261206070000_key_lifecycle": keyLifecycle,
  "20261206090000_delivery_attempts": deliveryAttempts,
  "20261206120000_messages_both_ways": messagesBothWays,
  "20261206130000_idempotency_keys": idempotencyKeys,
  "20261207030000_one_index_for_key_lists": oneIndexForKeyLists,
  "20261207160000_key_uses_apart": keyUsesApart,
};

/** The names of every migration this build has, in the order they run. */
export const MIGRATION_NAMES = Object.keys(MIGRATIONS);

export class MigrationError extends Error {}

export async function migrateToLatest(database: DatabaseHandle): Promise<string[]> {
  const { error, results } = await migrator(database).migrateToLatest();
  if (error) {
    throw new MigrationError(`migration failed: ${describe(results)}`, { cause: error });
  }
  return (results ?? []).map((result) => result.migrationName);
}

/** The names of the migrations this build knows that the database has not applied. */
export async function pendingMigrations(database: DatabaseHandle): Promise<string[]> {
  const migrations = await migrator(database).getMigrations();
  return migrations.filter((migration) => migration.executedAt === undefined).map((migration) => migration.name);
}

function migrator({ db, dialect, schema }: DatabaseHandle): Migrator {
  return new Migrator({
    db,
    // Kysely finds its own tables by name in any schema; name ours, or another schema's count.
    ...(schema === null ? {} : { migrationTableSchema: schema }),
    provider: {
      async getMigrations() {
        const bound: Record<string, Migration> = {};
        for (const [name, migration] of Object.entries(MIGRATIONS)) {
          bound[name] = {
            up: (target) => migration.up(target, dialect),
            down: (target) => migration.down(target, dialect),
          };
        }
        return bound;
      },
    },
  });
}

function describe(results: MigrationResultSet["results"]): string {
  const failed = results?.find((result) => result.status === "Error");
  return failed ? failed.migrationName : "before any migration ran";
}
