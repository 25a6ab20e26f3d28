import { spawn, type ChildProcess } from "node:child_process";
import { resolve } from "node:path";
import { createInterface } from "node:readline";
import type { DatabaseConfig } from "../../src/config.js";
import { TEST_PEPPER } from "./test-app.js";
import { databaseEnv } from "./test-database.js";

/** The compiled command, as users run it (`npm test` builds dist/ first). */
export const CLI = resolve(import.meta.dirname, "../../dist/cli/main.js");

export type CliResult = { code: number | null; stdout: string; stderr: string };

/**
 * Runs a program to its end and collects what it printed. The answer waits for "close", not
 * "exit": a child's stdio can still hold output when it has exited, and on a loaded machine a
 * usage error printed just before exit 2 was read as an empty stderr.
 */
export function runProcess(command: string, args: string[], options: { env: NodeJS.ProcessEnv; cwd?: string }): Promise<CliResult> {
  const child = spawn(command, args, { env: options.env, cwd: options.cwd, stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (chunk) => (stdout += chunk));
  child.stderr.on("data", (chunk) => (stderr += chunk));
  return new Promise((resolvePromise, reject) => {
    child.once("error", reject);
    child.once("close", (code) => resolvePromise({ code, stdout, stderr }));
  });
}

/** Runs `whatisup ARGS` to its end and collects what it printed. */
export function runCli(args: string[], env: NodeJS.ProcessEnv): Promise<CliResult> {
  return runProcess(process.execPath, [CLI, ...args], { env });
}

/**
 * The environment of a server or CLI process on `database`, without the developer's own
 * database, pepper or API settings. Embedded SQLite generates its pepper; PostgreSQL refuses to
 * start without one, so every process on it is given the same.
 */
export function serverProcessEnv(database: DatabaseConfig): NodeJS.ProcessEnv {
  const {
    WHATISUP_KEY_PEPPER: _pepper,
    DATABASE_URL: _url,
    DATABASE_SCHEMA: _schema,
    WHATISUP_API: _api,
    WHATISUP_API_KEY: _key,
    ...inherited
  } = process.env;
  return {
    ...inherited,
    ...databaseEnv(database),
    ...(database.dialect === "postgres" ? { WHATISUP_KEY_PEPPER: TEST_PEPPER } : {}),
    PORT: "0",
    LAST_USED_FLUSH_MS: "600000",
    // The per-customer bucket is test/customer-limits.test.ts's: here it stays out of the way.
    CUSTOMER_RATE_LIMIT_BURST: "1000000000",
    CUSTOMER_RATE_LIMIT_REFILL_PER_SEC: "1000000000",
    LOG_LEVEL: "info",
  };
}

export type StartedServer = { process: ChildProcess; baseUrl: string };

/** Starts `whatisup serve` (PORT=0 in `env` picks a free port) and waits for its listening line. */
export function startServer(env: NodeJS.ProcessEnv): Promise<StartedServer> {
  const child = spawn(process.execPath, [CLI, "serve"], { env, stdio: ["ignore", "pipe", "pipe"] });
  return new Promise((resolvePromise, reject) => {
    const timer = setTimeout(() => reject(new Error("server did not start in time")), 15_000);
    child.once("exit", (code) => reject(new Error(`server exited early with ${code}`)));
    createInterface({ input: child.stdout! }).on("line", (line) => {
      const match = /Server listening at (http:\/\/127\.0\.0\.1:\d+)/.exec(line);
      if (match) {
        clearTimeout(timer);
        resolvePromise({ process: child, baseUrl: match[1]! });
      }
    });
  });
}

export function exitOf(child: ChildProcess): Promise<number | null> {
  return new Promise((resolvePromise) => child.once("exit", (code) => resolvePromise(code)));
}

/** Kills a started server, if it still runs, and waits for it to be gone. */
export async function stopServer(server: StartedServer | undefined): Promise<void> {
  if (!server || server.process.exitCode !== null || server.process.signalCode !== null) return;
  const exited = exitOf(server.process);
  server.process.kill("SIGKILL");
  await exited;
}
