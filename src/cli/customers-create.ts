import { resolvePepper } from "../crypto/pepper.js";
import { CLI_ORIGIN } from "../http/request-actor.js";
import type { Config } from "../config.js";
import { createCustomer } from "../use-cases/create-customer.js";
import { openDatabase } from "../db/database.js";
import { migrateToLatest } from "../db/migrate.js";

/** Works on the database directly, with the server's settings, whether or not the server runs. */
export async function runCustomersCreate(config: Config, name: string, json: boolean): Promise<number> {
  const database = await openDatabase(config.database);
  const { db } = database;
  try {
    await migrateToLatest(database);
    const created = await createCustomer(db, resolvePepper(config), name, CLI_ORIGIN);
    if (json) {
      process.stdout.write(`${JSON.stringify(created, null, 2)}\n`);
      return 0;
    }
    const key = created.api_key;
    process.stdout.write(
      [
        `Created customer "${created.customer.name}" (${created.customer.id}).`,
        "",
        `Its first API key, ${key.prefix} (scopes: ${key.scopes.join(", ")}):`,
        "",
        `  ${key.secret}`,
        "",
        "Save it now: this secret will not be shown again. It can be revoked, not recovered.",
        "",
      ].join("\n"),
    );
    return 0;
  } finally {
    await db.destroy();
  }
}
