import { spawnSync } from "node:child_process";
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { DatabaseConfig } from "../../src/config.js";
import { verifyWebhookSignature } from "../../src/crypto/webhook-signature.js";
import { CLI, runCli, runProcess, serverProcessEnv, startServer, stopServer, type CliResult, type StartedServer } from "../helpers/cli-process.js";
import { persistentDatabase, removeDatabase } from "../helpers/test-database.js";
import { WebhookReceiver } from "../helpers/webhook-receiver.js";

/**
 * The README's walk-throughs, run as written: every ```bash block of README.md, in order, as one
 * `bash -euo pipefail` script (one shell, as a reader pastes them into one terminal), against a
 * real server process on a fresh database. The README's Development section states the rule.
 * What the reader does in other terminals (`npm start`, `whatisup webhooks listen`) is in ```sh
 * blocks, and this test does it itself: the server, and a receiver that checks every signature.
 */

const REPOSITORY = resolve(import.meta.dirname, "../..");
const README = join(REPOSITORY, "README.md");

/** The variables the walk-through reads with a default (`${NAME:-…}`): where this test's server and receiver are. */
const SET_BY_THE_TEST = ["WHATISUP_API", "HOOK_URL"];

/** The body of every fenced block whose info string is exactly `bash`, in document order. */
function walkthroughBlocks(markdown: string): string[] {
  const blocks: string[] = [];
  let current: string[] | null = null;
  let fence = "";
  for (const line of markdown.split("\n")) {
    if (current === null) {
      const opening = /^(`{3,})bash\s*$/.exec(line);
      if (opening) {
        fence = opening[1]!;
        current = [];
      }
    } else if (line.trim() === fence) {
      blocks.push(current.join("\n"));
      current = null;
    } else {
      current.push(line);
    }
  }
  if (current !== null) throw new Error("README.md has a ```bash block that is never closed");
  return blocks;
}

/** Names the blocks assign (`NAME=…` or `export NAME=…` at the start of a line). */
function assignedNames(blocks: string[]): Set<string> {
  const names = new Set<string>();
  for (const block of blocks) {
    for (const match of block.matchAll(/^\s*(?:export\s+)?([A-Z_][A-Z0-9_]*)=/gm)) names.add(match[1]!);
  }
  return names;
}

/**
 * A folder with an `npx` that runs `npx whatisup …` as the compiled command directly and passes
 * anything else to the real npx. It is the program npx resolves to (the first test proves it),
 * without npm's start-up on each of the walk-through's two dozen commands.
 */
function npxShortcut(): { folder: string; realNpx: string } {
  const realNpx = spawnSync("bash", ["-c", "command -v npx"], { encoding: "utf8" }).stdout.trim();
  const folder = mkdtempSync(join(tmpdir(), "whatisup-npx-"));
  writeFileSync(
    join(folder, "npx"),
    `#!/usr/bin/env bash\nif [ "\${1:-}" = whatisup ]; then shift; exec ${JSON.stringify(process.execPath)} ${JSON.stringify(CLI)} "$@"; fi\nexec ${JSON.stringify(realNpx)} "$@"\n`,
  );
  chmodSync(join(folder, "npx"), 0o755);
  return { folder, realNpx };
}

/** Runs `script` with `bash -euo pipefail` in the repository's folder, as the reader's shell. */
async function runBash(script: string, env: NodeJS.ProcessEnv): Promise<CliResult> {
  const folder = mkdtempSync(join(tmpdir(), "whatisup-readme-"));
  const file = join(folder, "walkthrough.sh");
  writeFileSync(file, script);
  try {
    return await runProcess("bash", ["-euo", "pipefail", file], { cwd: REPOSITORY, env });
  } finally {
    rmSync(folder, { recursive: true, force: true });
  }
}

const hasJq = spawnSync("jq", ["--version"]).status === 0;
if (!hasJq && process.env.CI !== "true") console.log("README walk-through test skipped: jq is not installed (.ci/run installs it).");

describe.skipIf(!hasJq && process.env.CI !== "true")("the README's walk-throughs, run as written", () => {
  const blocks = walkthroughBlocks(readFileSync(README, "utf8"));
  let database: DatabaseConfig;
  let server: StartedServer;
  let receiver: WebhookReceiver;
  let env: NodeJS.ProcessEnv;
  const npx = npxShortcut();

  beforeAll(async () => {
    database = persistentDatabase();
    const serverEnv = { ...serverProcessEnv(database), WEBHOOK_ALLOW_LOOPBACK: "true", SANDBOX_STEP_MS: "200" };
    server = await startServer(serverEnv);
    receiver = await WebhookReceiver.start([200]);
    // The reader's shell: the server's settings (the CLI opens the same database), none of the
    // walk-through's own variables (so `set -u` proves each is set by a block before its use),
    // and where this test's server and receiver listen.
    env = { ...serverEnv };
    for (const name of assignedNames(blocks)) delete env[name];
    env.WHATISUP_API = server.baseUrl;
    env.HOOK_URL = receiver.url();
    env.PATH = `${npx.folder}:${env.PATH ?? ""}`;
  }, 30_000);

  afterAll(async () => {
    await stopServer(server);
    await receiver?.close();
    if (database) await removeDatabase(database);
    rmSync(npx.folder, { recursive: true, force: true });
  });

  it("finds the walk-through: bash blocks from the first (which sets the base URL) to the command-line client's", () => {
    expect(blocks.length).toBeGreaterThanOrEqual(6);
    expect(blocks[0]).toMatch(/^export WHATISUP_API=\$\{WHATISUP_API:-http:\/\/127\.0\.0\.1:8080\}$/m);
    for (const name of SET_BY_THE_TEST) expect(blocks.join("\n")).toContain(`\${${name}:-`);
    expect(blocks.join("\n")).not.toMatch(/\|\s*show ID/);
  });

  it("runs, for npx whatisup in this folder, the very program the shortcut runs", async () => {
    const direct = await runCli(["--help"], env);
    expect(direct.code).toBe(0);
    const throughNpx = spawnSync(npx.realNpx, ["whatisup", "--help"], { cwd: REPOSITORY, env, encoding: "utf8" });
    expect(throughNpx.status, throughNpx.stderr).toBe(0);
    expect(throughNpx.stdout).toBe(direct.stdout);
  }, 60_000);

  it("runs every block in order with bash -euo pipefail on a fresh database, and the webhooks arrive signed", async () => {
    const result = await runBash(blocks.join("\n"), env);
    expect(result.code, `stdout:\n${result.stdout}\nstderr:\n${result.stderr}`).toBe(0);

    // The refusals the walk-through shows are checked by its own `jq -e`, which print true.
    expect(result.stdout.match(/^true$/gm)).toHaveLength(3);
    const secret = /^whsec_\S+$/m.exec(result.stdout)?.[0];
    expect(secret).toBeDefined();
    const messageId = /^queued ([0-9a-f-]{36})$/m.exec(result.stdout)?.[1];
    expect(messageId).toBeDefined();
    // The send retried with its Idempotency-Key: replayed, not sent again.
    expect(result.stdout).toMatch(/^idempotent-replayed: true\r?$/im);
    // Read back after the sandbox played it to the end, then the reply that quotes it, received.
    expect(result.stdout).toMatch(/^\{"status":"read","sent_at":"[^"]+","delivered_at":"[^"]+","read_at":"[^"]+"\}$/m);
    expect(result.stdout).toMatch(/^received [0-9a-f-]{36}$/m);
    expect(result.stdout).toContain(`{"from":"+15557654321","text":"Thanks! When will it arrive?","reply_to":"${messageId}"}`);

    // The message's three events and the reply's message.received reached the receiver, each
    // signed with the endpoint's secret.
    await expect
      .poll(() => receiver.requests.map((request) => JSON.parse(request.rawBody).event as string).sort(), { timeout: 30_000 })
      .toEqual(expect.arrayContaining(["message.delivered", "message.read", "message.received", "message.sent"]));
    for (const request of receiver.requests) {
      expect(verifyWebhookSignature(secret!, String(request.headers["x-whatisup-signature"]), request.rawBody, 300)).toBe(true);
    }
  }, 600_000);

  it("stops at the first failed call, saying so, instead of going on with an empty value", async () => {
    const keysBlock = blocks.find((block) => block.includes("NEW_KEY=$("));
    expect(keysBlock).toBeDefined();
    const script = [blocks[0], "export WHATISUP_API_KEY=zpk_live_not-a-key", keysBlock, "echo reached the end"].join("\n");
    const result = await runBash(script, env);
    expect(result.code).not.toBe(0);
    expect(result.stdout).not.toContain("reached the end");
    expect(result.stderr).toContain("curl: (22) The requested URL returned error: 401");
    expect(result.stdout).not.toContain("zpk_");
  }, 120_000);
});
