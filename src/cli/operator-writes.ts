import { CLI_ACTOR, type Actor } from "../audit/actor.js";
import type { Config } from "../config.js";
import { resolvePepper } from "../crypto/pepper.js";
import { openDatabase } from "../db/database.js";
import { migrateToLatest } from "../db/migrate.js";
import { createWriter, writeDependencies, type Write } from "../use-cases/write.js";

/**
 * The operator's writes (`customers create`, `customers add-key`) work on the database directly,
 * with the server's settings, whether or not the server runs, and are audited as the CLI.
 */
export async function writeAsOperator<T>(config: Config, work: (write: Write, actor: Actor) => Promise<T>): Promise<T> {
  const database = await openDatabase(config.database);
  try {
    await migrateToLatest(database);
    const write = createWriter(database.db, writeDependencies(config, database.dialect, resolvePepper(config), null));
    return await write(CLI_ACTOR, work);
  } finally {
    await database.db.destroy();
  }
}

/** A new key's secret as the operator sees it: once, with what that means. */
export function secretShownOnce(secret: string): string[] {
  return ["", `  ${secret}`, "", "Save it now: this secret will not be shown again. It can be revoked, not recovered.", ""];
}
