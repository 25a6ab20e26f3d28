import { spawn } from "node:child_process";
import { resolve } from "node:path";

/** The compiled command, as users run it (`npm test` builds dist/ first). */
export const CLI = resolve(import.meta.dirname, "../../dist/cli/main.js");

export type CliResult = { code: number | null; stdout: string; stderr: string };

/** Runs `whatisup ARGS` to its end and collects what it printed. */
export function runCli(args: string[], env: NodeJS.ProcessEnv): Promise<CliResult> {
  const child = spawn(process.execPath, [CLI, ...args], { env, stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (chunk) => (stdout += chunk));
  child.stderr.on("data", (chunk) => (stderr += chunk));
  return new Promise((resolvePromise) => child.on("exit", (code) => resolvePromise({ code, stdout, stderr })));
}
