import type { Config } from "../config.js";
import { openDatabase } from "../db/database.js";
import { migrateToLatest } from "../db/migrate.js";

export async function runMigrate(config: Config): Promise<number> {
  const database = await openDatabase(config.database);
  const { db } = database;
  try {
    const applied = await migrateToLatest(database);
    process.stdout.write(applied.length === 0 ? "Already up to date.\n" : `Applied: ${applied.join(", ")}\n`);
    return 0;
  } finally {
    await db.destroy();
  }
}
