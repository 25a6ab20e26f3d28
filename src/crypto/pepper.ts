import { randomBytes } from "node:crypto";
import { linkSync, readFileSync, unlinkSync, writeFileSync, mkdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { IN_MEMORY_SQLITE, type Config } from "../config.js";

export const PEPPER_FILE_NAME = "whatisup.pepper";

/**
 * The pepper from WHATISUP_KEY_PEPPER or, in embedded mode, from a file beside the SQLite
 * database, created once with mode 0600. The server and the CLI both resolve it this way, so a
 * key created by one verifies in the other.
 */
export function resolvePepper(config: Config): string {
  if (config.keyPepper !== null) return config.keyPepper;
  // loadConfig refuses PostgreSQL without a configured pepper: only embedded mode gets here.
  if (config.database.dialect !== "sqlite") throw new Error("a PostgreSQL database needs WHATISUP_KEY_PEPPER");
  if (config.database.path === IN_MEMORY_SQLITE) return randomBytes(32).toString("base64url");
  return readOrCreatePepperFile(join(dirname(config.database.path), PEPPER_FILE_NAME));
}

function readOrCreatePepperFile(path: string): string {
  try {
    return readPepperFile(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
  }
  mkdirSync(dirname(path), { recursive: true });
  // Written whole under a temporary name, then linked into place: link() fails if another
  // process (the CLI and the server starting together) won the race, and then its pepper is used.
  const temporary = `${path}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`;
  writeFileSync(temporary, `${randomBytes(32).toString("base64url")}\n`, { mode: 0o600 });
  try {
    linkSync(temporary, path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
  } finally {
    unlinkSync(temporary);
  }
  return readPepperFile(path);
}

function readPepperFile(path: string): string {
  const pepper = readFileSync(path, "utf8").trim();
  if (pepper.length < 32) throw new Error(`the pepper file ${path} is damaged: it holds under 32 characters`);
  return pepper;
}
