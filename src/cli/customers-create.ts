import { CLI_ACTOR } from "../audit/actor.js";
import type { Config } from "../config.js";
import { resolvePepper } from "../crypto/pepper.js";
import { openDatabase } from "../db/database.js";
import { migrateToLatest } from "../db/migrate.js";
import { createCustomer } from "../use-cases/create-customer.js";
import { createWriter, writeDependencies } from "../use-cases/write.js";

/** Works on the database directly, with the server's settings, whether or not the server runs. */
export async function runCustomersCreate(config: Config, name: string, json: boolean): Promise<number> {
  const database = await openDatabase(config.database);
  const { db, dialect } = database;
  try {
    await migrateToLatest(database);
    const write = createWriter(db, writeDependencies(config, dialect, resolvePepper(config), null));
    const created = await write(CLI_ACTOR, (w, actor) => createCustomer(w, actor, { name }));
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
