/**
 * The better-auth comparison of `npm run bench:http` (issue 12): better-auth's API-key plugin is
 * what a TypeScript developer would pick instead of our server, so the bench measures a server
 * built on it side by side with ours. The repository must not depend on better-auth, so
 * prepareBetterAuth installs it into a temporary folder the bench makes, copies server.mjs (and
 * the auth.mjs and setup.mjs it shares its options with) there, and runs setup.mjs with node in
 * that folder: better-auth's migrations, one user, and `keys` API keys made through
 * `auth.api.createApiKey`, whose plaintexts it writes one a line to the keys file.
 * betterAuthServer then gives the command and environment that start the server; the bench
 * spawns it (under taskset) and stops it itself.
 *
 * This file imports only node: builtins: vite-node runs it from the repository, where better-auth
 * is not installed.
 */
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { promisify } from "node:util";

const run = promisify(execFile);
const HERE = import.meta.dirname;
const ROOT = resolve(HERE, "../../..");

/**
 * Exact versions. The API-key plugin left better-auth/plugins for a package of its own,
 * @better-auth/api-key, whose newest (1.7.5) peer-requires the exact
 * @better-auth/utils and better-call of better-auth 1.7.5, and npm refuses (ERESOLVE) the newest
 * better-auth (1.7.29) and @better-auth/core beside it. All three run on Node 20, as does
 * Fastify 5 (only light-my-request's cookie 2, used by inject(), asks for Node 22, with a warning).
 */
const BETTER_AUTH_VERSION = "1.7.5";

export type PreparedBetterAuth = {
  /** server.mjs inside the folder, to run with node. */
  serverPath: string;
  /** The keys' plaintexts, one a line, as many as asked for. */
  keysFile: string;
  /** What server.mjs needs besides PORT and LOG_LEVEL; merge it into process.env. */
  env: Record<string, string>;
  /** What npm installed, by package name, for the report. */
  versions: Record<string, string>;
};

function versionIn(modules: string, name: string): string {
  return (JSON.parse(readFileSync(join(modules, name, "package.json"), "utf8")) as { version: string }).version;
}

export async function prepareBetterAuth(options: { folder: string; keys: number }): Promise<PreparedBetterAuth> {
  const { folder, keys } = options;
  mkdirSync(folder, { recursive: true });
  writeFileSync(join(folder, "package.json"), `${JSON.stringify({ private: true, allowScripts: { "better-sqlite3": true } }, null, 2)}\n`);
  // Fastify, pino and better-sqlite3 at the repository's own versions, so that both servers run the
  // same ones (better-sqlite3 12.x: 13 crashes on Node 20). better-sqlite3 without its install script,
  // whose build from source (no prebuilt binary is reachable here) costs over a minute of CPU: the
  // repository's binary is that same build.
  const ours = join(ROOT, "node_modules");
  const packages = [
    `better-auth@${BETTER_AUTH_VERSION}`,
    `@better-auth/core@${BETTER_AUTH_VERSION}`,
    `@better-auth/api-key@${BETTER_AUTH_VERSION}`,
    `better-sqlite3@${versionIn(ours, "better-sqlite3")}`,
    `fastify@${versionIn(ours, "fastify")}`,
    `pino@${versionIn(ours, "pino")}`,
  ];
  // --prefer-offline: every version is exact, so npm's cache answers a second run (9 s, not 25).
  await run("npm", ["install", "--prefer-offline", "--no-audit", "--no-fund", "--ignore-scripts", "--loglevel=error", ...packages], { cwd: folder });
  const binary = "node_modules/better-sqlite3/build/Release/better_sqlite3.node";
  if (existsSync(join(ROOT, binary))) {
    mkdirSync(join(folder, "node_modules/better-sqlite3/build/Release"), { recursive: true });
    copyFileSync(join(ROOT, binary), join(folder, binary));
  } else {
    await run("npm", ["rebuild", "better-sqlite3"], { cwd: folder });
  }

  for (const file of ["auth.mjs", "server.mjs", "setup.mjs"]) copyFileSync(join(HERE, file), join(folder, file));
  copyFileSync(join(HERE, "../logged-fastify.mjs"), join(folder, "logged-fastify.mjs"));
  // Our compiled log output (npm run bench:http builds first): the same logger settings as ours.
  copyFileSync(join(ROOT, "dist/http/log-output.js"), join(folder, "log-output.js"));
  const keysFile = join(folder, "better-auth-keys.txt");
  const env = {
    BETTER_AUTH_DB: join(folder, "better-auth.db"),
    BETTER_AUTH_SECRET: randomBytes(32).toString("base64"),
  };
  await run(process.execPath, [join(folder, "setup.mjs")], {
    cwd: folder,
    env: { ...process.env, ...env, BETTER_AUTH_KEYS_FILE: keysFile, BETTER_AUTH_KEY_COUNT: String(keys) },
  });

  const modules = join(folder, "node_modules");
  const versions = Object.fromEntries(
    ["better-auth", "@better-auth/api-key", "better-sqlite3", "fastify"].map((name) => [name, versionIn(modules, name)]),
  );
  return { serverPath: join(folder, "server.mjs"), keysFile, env, versions };
}

/** The command and environment that start the server on `port`; prefix the command with taskset. */
export function betterAuthServer(prepared: PreparedBetterAuth, port: number): { command: string[]; env: Record<string, string> } {
  return { command: [process.execPath, prepared.serverPath], env: { ...prepared.env, PORT: String(port), LOG_LEVEL: "info" } };
}
