import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { buildApp } from "../src/app.js";
import { testConfig } from "./helpers/test-app.js";

/**
 * The live document, linted as a generator's user would lint it: Redocly's recommended rules and
 * Spectral's `spectral:oas`, each with the repository's own configuration (redocly.yaml,
 * .spectral.yaml), where every rule turned off says why. Zero errors and zero warnings.
 */

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const BIN = join(ROOT, "node_modules", ".bin");
// Each CLI starts a fresh Node.js and reads the whole document: slow on a busy machine.
const LINT_TIMEOUT_MS = 180_000;

// Every optional route exists: metrics on, and the Cloud API callbacks configured.
const app = await buildApp(
  testConfig({
    metricsEnabled: true,
    cloudApi: { baseUrl: "http://127.0.0.1:9", version: "v21.0", accessToken: "t", appSecret: "s", verifyToken: "v" },
  }),
  { logger: false },
);
const directory = mkdtempSync(join(tmpdir(), "whatisup-openapi-"));
afterAll(async () => {
  await app.close();
  rmSync(directory, { recursive: true, force: true });
});

const response = await app.inject({ method: "GET", url: "/openapi.json" });
const documentPath = join(directory, "openapi.json");
writeFileSync(documentPath, response.body);

type Run = { code: number; stdout: string; stderr: string };

function run(command: string, args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      join(BIN, command),
      args,
      {
        cwd: ROOT,
        timeout: LINT_TIMEOUT_MS,
        maxBuffer: 64 * 1024 * 1024,
        // No telemetry, no update check: the test reaches no network.
        env: { ...process.env, REDOCLY_TELEMETRY: "off", REDOCLY_SUPPRESS_UPDATE_NOTICE: "true", NO_COLOR: "1" },
      },
      (error, stdout, stderr) => {
        const code = error === null ? 0 : typeof error.code === "number" ? error.code : -1;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

/** What a problem says, for a failure message that names the rule and the place. */
type Problem = { rule: string; severity: string; message: string; where: string };

describe("the live OpenAPI document, linted", () => {
  it("is served", () => {
    expect(response.statusCode).toBe(200);
    expect(JSON.parse(response.body).openapi).toBe("3.1.0");
  });

  it(
    "passes Redocly's recommended rules (redocly.yaml) with no error and no warning",
    async () => {
      const result = await run("redocly", ["lint", documentPath, "--config", join(ROOT, "redocly.yaml"), "--format=json"]);
      const report = JSON.parse(result.stdout) as {
        totals: { errors: number; warnings: number };
        problems: { ruleId: string; severity: string; message: string; location: { pointer?: string }[] }[];
      };
      const problems: Problem[] = report.problems.map((problem) => ({
        rule: problem.ruleId,
        severity: problem.severity,
        message: problem.message,
        where: problem.location[0]?.pointer ?? "",
      }));
      expect(problems).toEqual([]);
      expect(report.totals).toMatchObject({ errors: 0, warnings: 0 });
      expect(result.code, result.stderr).toBe(0);
    },
    LINT_TIMEOUT_MS,
  );

  it(
    "passes Spectral's spectral:oas (.spectral.yaml) with no error and no warning",
    async () => {
      // --fail-severity=warn: a warning alone makes the exit code non-zero. The JSON goes to a
      // file: Spectral follows it on stdout with a sentence of its own.
      const output = join(directory, "spectral.json");
      const result = await run("spectral", [
        "lint",
        documentPath,
        "--ruleset",
        join(ROOT, ".spectral.yaml"),
        "--format",
        "json",
        "--output",
        output,
        "--fail-severity",
        "warn",
      ]);
      const results = JSON.parse(readFileSync(output, "utf8")) as { code: string; severity: number; message: string; path: string[] }[];
      const problems: Problem[] = results.map((problem) => ({
        rule: problem.code,
        // Spectral's severities: 0 error, 1 warning, 2 information, 3 hint.
        severity: ["error", "warning", "information", "hint"][problem.severity] ?? String(problem.severity),
        message: problem.message,
        where: problem.path.join("."),
      }));
      expect(problems).toEqual([]);
      expect(result.code, result.stderr).toBe(0);
    },
    LINT_TIMEOUT_MS,
  );
});
