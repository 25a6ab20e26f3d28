import { spawn, type ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { createInterface } from "node:readline";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { DatabaseConfig } from "../../src/config.js";
import { signatureHeader } from "../../src/crypto/webhook-signature.js";
import { persistentDatabase, removeDatabase } from "../helpers/test-database.js";
import { CLI, runCli, runProcess, serverProcessEnv, startServer, stopServer, type CliResult, type StartedServer } from "../helpers/cli-process.js";

/**
 * The CLI's commands of issue 14 (`--version`, `messages send`, `webhooks endpoints`,
 * `deliveries show|retry`, `audit list`, `limits`, `webhooks listen --register`, `--help`
 * everywhere, a closed stdout), compiled, against a real server process. `npm test` builds dist/.
 */

const UNKNOWN_ID = "0198c0de-0000-7000-8000-0000000000ff";
const SECRET_LINE = /^whsec_[0-9A-Za-z_-]{43}$/;

// Each test starts many processes, one after the other: on a busy machine that takes a while.
describe("whatisup: the commands of the whole API, against a running server", { timeout: 120_000 }, () => {
  let database: DatabaseConfig;
  let serverEnv: NodeJS.ProcessEnv;
  let server: StartedServer;
  let env: NodeJS.ProcessEnv; // the client's: WHATISUP_API and WHATISUP_API_KEY set
  let firstKey: { id: string; secret: string; prefix: string };
  let instanceId: string;
  /** A receiver that answers 200 to every delivery: its deliveries succeed. */
  let receiver: Server;
  let receiverUrl: string;

  async function api(method: string, path: string, key = firstKey.secret): Promise<{ status: number; text: string; body: any }> {
    const response = await fetch(`${server.baseUrl}${path}`, { method, headers: { authorization: `Bearer ${key}` } });
    const text = await response.text();
    return { status: response.status, text, body: text === "" ? null : JSON.parse(text) };
  }

  /** A key of the first customer with only these scopes, as an environment for the CLI. */
  async function envWithScopes(...scopes: string[]): Promise<NodeJS.ProcessEnv> {
    const issued = await runCli(["keys", "issue", "--name", `only ${scopes.join(" ")}`, ...scopes.flatMap((scope) => ["--scope", scope]), "--json"], env);
    expect(issued.code, issued.stderr).toBe(0);
    return { ...env, WHATISUP_API_KEY: JSON.parse(issued.stdout).secret };
  }

  async function createEndpoint(url: string, events: string): Promise<string> {
    const created = await runCli(["webhooks", "endpoints", "create", "--url", url, "--events", events, "--json"], env);
    expect(created.code, created.stderr).toBe(0);
    return JSON.parse(created.stdout).id;
  }

  async function sendMessage(): Promise<string> {
    const sent = await runCli(["messages", "send", "--instance", instanceId, "--to", "+15551234567", "--text", "hello", "--json"], env);
    expect(sent.code, sent.stderr).toBe(0);
    return JSON.parse(sent.stdout).id;
  }

  /** The delivery of `event` for `messageId` to `endpointId`, once it has reached `status`. */
  async function deliveryOnceIt(status: string, endpointId: string, messageId: string): Promise<any> {
    let found: any;
    await expect
      .poll(
        async () => {
          const page = (await api("GET", `/v1/webhook-deliveries?status=${status}&limit=100`)).body;
          found = page.data.find((delivery: any) => delivery.endpoint_id === endpointId && delivery.payload.data.message?.id === messageId);
          return found !== undefined;
        },
        { timeout: 15_000, interval: 100 },
      )
      .toBe(true);
    return found;
  }

  beforeAll(async () => {
    database = persistentDatabase();
    serverEnv = {
      ...serverProcessEnv(database),
      WEBHOOK_ALLOW_LOOPBACK: "true",
      WEBHOOK_RETRY_DELAYS_MS: "0,20",
      WEBHOOK_TIMEOUT_MS: "5000",
      WORKER_POLL_MS: "20",
      SANDBOX_STEP_MS: "20",
      RATE_LIMIT_BURST: "1000000",
      RATE_LIMIT_REFILL_PER_SEC: "1000000",
    };
    server = await startServer(serverEnv);
    const created = await runCli(["customers", "create", "--name", "Acme", "--json"], serverEnv);
    expect(created.code, created.stderr).toBe(0);
    firstKey = JSON.parse(created.stdout).api_key;
    env = { ...serverEnv, WHATISUP_API: server.baseUrl, WHATISUP_API_KEY: firstKey.secret };
    const instance = await runCli(["instances", "create", "--name", "sandbox", "--json"], env);
    expect(instance.code, instance.stderr).toBe(0);
    instanceId = JSON.parse(instance.stdout).id;
    receiver = createServer((request, response) => {
      request.resume();
      request.on("end", () => response.end());
    });
    await new Promise<void>((resolve) => receiver.listen(0, "127.0.0.1", resolve));
    receiverUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hooks`;
  }, 120_000);

  afterAll(async () => {
    await stopServer(server);
    if (receiver) await new Promise<void>((resolve) => receiver.close(() => resolve()));
    if (database) await removeDatabase(database);
  });

  it("--version and -V print the package's version; an argument after them is a usage error", async () => {
    const { version } = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8"));
    const [long, short, extra] = await Promise.all([
      runCli(["--version"], serverEnv),
      runCli(["-V"], serverEnv),
      runCli(["--version", "now"], serverEnv),
    ]);
    expect(long).toEqual({ code: 0, stdout: `${version}\n`, stderr: "" });
    expect(short).toEqual(long);
    expect(extra.code).toBe(2);
    expect(extra.stdout).toBe("");
  });

  it("--help on every group and command: exit 0, on stdout, without the API settings", async () => {
    const bare = { ...serverEnv };
    const cases: Array<[string[], string[]]> = [
      [["--help"], ["whatisup --version", "messages send", "webhooks endpoints create", "deliveries retry ID", "audit list", "limits"]],
      [["serve", "--help"], ["Usage: whatisup serve"]],
      [["migrate", "--help"], ["Usage: whatisup migrate"]],
      [["customers", "--help"], ["customers create", "customers add-key"]],
      [["customers", "create", "--help"], ["--name", "--json"]],
      [["webhooks", "--help"], ["webhooks listen", "--register", "webhooks endpoints"]],
      [["webhooks", "listen", "--help"], ["--port", "--secret", "--register", "--events", "--instance", "WEBHOOK_ALLOW_LOOPBACK"]],
      [["webhooks", "endpoints", "--help"], ["endpoints list", "endpoints show ID", "endpoints create", "endpoints delete ID"]],
      [["webhooks", "endpoints", "list", "--help"], ["--limit", "--cursor", "--json"]],
      [["webhooks", "endpoints", "show", "--help"], ["--json"]],
      [["webhooks", "endpoints", "create", "--help"], ["--url", "--events", "--instance", "--json"]],
      [["webhooks", "endpoints", "delete", "--help"], ["without asking"]],
      [["messages", "--help"], ["messages send"]],
      [["messages", "send", "--help"], ["--instance", "--to", "--text", "--client-ref", "--json"]],
      [["deliveries", "--help"], ["deliveries list", "deliveries show ID", "deliveries retry ID"]],
      [["deliveries", "show", "--help"], ["--json"]],
      [["deliveries", "retry", "--help"], ["delivery_not_retryable", "--json"]],
      [["audit", "--help"], ["audit list"]],
      [["audit", "list", "--help"], ["--limit", "--cursor", "--json"]],
      [["limits", "--help"], ["--json"]],
    ];
    const results = await Promise.all(cases.map(([args]) => runCli(args, bare)));
    cases.forEach(([args, expected], index) => {
      const result = results[index]!;
      expect(result.code, `${args.join(" ")}: ${result.stderr}`).toBe(0);
      expect(result.stderr, args.join(" ")).toBe("");
      for (const text of expected) expect(result.stdout, args.join(" ")).toContain(text);
    });
  });

  it("no command, an unknown command or subcommand, a group without its subcommand: exit 2, the usage on stderr", async () => {
    const cases: Array<[string[], string, string]> = [
      [[], "a command is needed", "whatisup keys list"],
      [["rotate-everything"], 'unknown command "rotate-everything"', "whatisup keys list"],
      [["webhooks"], '"whatisup webhooks" needs a subcommand', "Usage: whatisup webhooks <subcommand>"],
      [["webhooks", "endpoints", "rotate"], 'unknown subcommand "webhooks endpoints rotate"', "Usage: whatisup webhooks endpoints <subcommand>"],
      [["audit", "tail"], 'unknown subcommand "audit tail"', "Usage: whatisup audit <subcommand>"],
      [["limits", "--colour"], "--colour", "Usage: whatisup limits [--json]"],
      [["customers"], '"whatisup customers" needs a subcommand', "customers add-key"],
    ];
    const results = await Promise.all(cases.map(([args]) => runCli(args, serverEnv)));
    cases.forEach(([args, message, usage], index) => {
      const result = results[index]!;
      expect(result.code, args.join(" ")).toBe(2);
      expect(result.stdout, args.join(" ")).toBe("");
      expect(result.stderr, args.join(" ")).toContain(message);
      expect(result.stderr, args.join(" ")).toContain(usage);
    });
  });

  it("messages send: the accepted message, readable or exactly the API's 202 body; the refusals", async () => {
    const readable = await runCli(["messages", "send", "--instance", instanceId, "--to", "+15551234567", "--text", "hi there", "--client-ref", "order-42"], env);
    expect(readable.code, readable.stderr).toBe(0);
    expect(readable.stdout).toMatch(/^Accepted message [0-9a-f-]{36}: queued\.$/m);
    expect(readable.stdout).toMatch(new RegExp(`^instance:\\s+${instanceId}$`, "m"));
    expect(readable.stdout).toMatch(/^to:\s+\+15551234567$/m);
    expect(readable.stdout).toMatch(/^client ref:\s+order-42$/m);

    const json = await runCli(["messages", "send", "--instance", instanceId, "--to", "+15551234567", "--text", "hello", "--json"], env);
    expect(json.code, json.stderr).toBe(0);
    const message = JSON.parse(json.stdout);
    expect(Object.keys(message).sort()).toEqual(["client_ref", "created_at", "direction", "id", "instance_id", "status", "to", "type"]);
    expect(message).toMatchObject({ instance_id: instanceId, to: "+15551234567", type: "text", status: "queued", client_ref: null });

    const noText = await runCli(["messages", "send", "--instance", instanceId, "--to", "+15551234567"], env);
    expect(noText.code).toBe(2);
    expect(noText.stderr).toContain("one of --text, --image, --document, --audio, --video or --template is required");
    expect(noText.stderr).toContain("Usage: whatisup messages send INSTANCE_ID");
    const noInstance = await runCli(["messages", "send", "--to", "+15551234567", "--text", "x"], env);
    expect(noInstance.code).toBe(2);
    expect(noInstance.stderr).toContain("missing INSTANCE_ID");

    const unknown = await runCli(["messages", "send", "--instance", UNKNOWN_ID, "--to", "+15551234567", "--text", "x"], env);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain("instance_not_found");
    expect(unknown.stdout).toBe("");
    const badNumber = await runCli(["messages", "send", "--instance", instanceId, "--to", "15551234567", "--text", "x"], env);
    expect(badNumber.code).toBe(1);
    expect(badNumber.stderr).toContain("validation_failed");
    const reader = await envWithScopes("instances:read");
    const refused = await runCli(["messages", "send", "--instance", instanceId, "--to", "+15551234567", "--text", "x"], reader);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain("insufficient_scope");
    expect(refused.stdout).toBe("");
  });

  it("webhooks endpoints create prints the whsec_ secret once; list, show (never the secret), delete; the refusals", async () => {
    const created = await runCli(["webhooks", "endpoints", "create", "--url", `${receiverUrl}/a`, "--events", "message.sent, message.failed"], env);
    expect(created.code, created.stderr).toBe(0);
    const secretLines = created.stdout.split("\n").filter((line) => SECRET_LINE.test(line));
    expect(secretLines).toHaveLength(1); // on its own line, once
    const secret = secretLines[0]!;
    expect(created.stdout.split(secret)).toHaveLength(2);
    expect(created.stdout).toMatch(/will not be shown again/);
    expect(created.stdout).toContain("events:   message.sent, message.failed");
    expect(created.stdout).toContain("instance: all instances");
    const id = /^Created webhook endpoint ([0-9a-f-]{36}) for /.exec(created.stdout)![1]!;

    const all = await runCli(["webhooks", "endpoints", "create", "--url", `${receiverUrl}/b`, "--instance", instanceId, "--json"], env);
    expect(all.code, all.stderr).toBe(0);
    const second = JSON.parse(all.stdout);
    expect(second).toMatchObject({ url: `${receiverUrl}/b`, events: ["*"], instance_id: instanceId });
    expect(second.secret).toMatch(SECRET_LINE);

    const listed = await runCli(["webhooks", "endpoints", "list"], env);
    expect(listed.code, listed.stderr).toBe(0);
    expect(listed.stdout).toMatch(/^ID\s+URL\s+EVENTS\s+INSTANCE\s+CREATED$/m);
    expect(listed.stdout).toMatch(new RegExp(`^${id}\\s+\\S+/a\\s+message\\.sent,message\\.failed\\s+all\\s+`, "m"));
    expect(listed.stdout).toMatch(new RegExp(`^${second.id}\\s+\\S+/b\\s+\\*\\s+${instanceId}\\s+`, "m"));
    expect(listed.stdout).not.toContain("whsec_");
    const page = await runCli(["webhooks", "endpoints", "list", "--limit", "1", "--json"], env);
    expect(page.stdout.trimEnd()).toBe((await api("GET", "/v1/webhook-endpoints?limit=1")).text);
    const { next_cursor } = JSON.parse(page.stdout);
    const rest = await runCli(["webhooks", "endpoints", "list", "--cursor", next_cursor, "--json"], env);
    expect(rest.stdout.trimEnd()).toBe((await api("GET", `/v1/webhook-endpoints?cursor=${next_cursor}`)).text);

    const shown = await runCli(["webhooks", "endpoints", "show", id], env);
    expect(shown.code, shown.stderr).toBe(0);
    expect(shown.stdout).toMatch(new RegExp(`^url:\\s+${receiverUrl}/a$`, "m"));
    expect(shown.stdout).not.toContain("whsec_");
    const shownJson = await runCli(["webhooks", "endpoints", "show", id, "--json"], env);
    expect(shownJson.stdout.trimEnd()).toBe((await api("GET", `/v1/webhook-endpoints/${id}`)).text);

    const noUrl = await runCli(["webhooks", "endpoints", "create"], env);
    expect(noUrl.code).toBe(2);
    expect(noUrl.stderr).toContain("--url is required");
    expect(noUrl.stderr).toContain("Usage: whatisup webhooks endpoints create");
    const emptyEvent = await runCli(["webhooks", "endpoints", "create", "--url", receiverUrl, "--events", "message.sent,,"], env);
    expect(emptyEvent.code).toBe(2);
    const badEvent = await runCli(["webhooks", "endpoints", "create", "--url", receiverUrl, "--events", "message.exploded"], env);
    expect(badEvent.code).toBe(1);
    expect(badEvent.stderr).toContain("validation_failed");
    const readOnly = await envWithScopes("webhooks:read");
    expect((await runCli(["webhooks", "endpoints", "list"], readOnly)).code).toBe(0);
    const refused = await runCli(["webhooks", "endpoints", "create", "--url", receiverUrl], readOnly);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain("insufficient_scope");
    expect(refused.stdout).toBe("");
    expect((await runCli(["webhooks", "endpoints", "delete", id], readOnly)).stderr).toContain("insufficient_scope");

    const deleted = await runCli(["webhooks", "endpoints", "delete", id], env);
    expect(deleted.code, deleted.stderr).toBe(0);
    expect(deleted.stdout).toBe(`Deleted webhook endpoint ${id}: it receives no more deliveries.\n`);
    const gone = await runCli(["webhooks", "endpoints", "show", id], env);
    expect(gone.code).toBe(1);
    expect(gone.stderr).toContain("webhook_endpoint_not_found");
    const again = await runCli(["webhooks", "endpoints", "delete", UNKNOWN_ID], env);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain("webhook_endpoint_not_found");
    expect((await runCli(["webhooks", "endpoints", "delete", second.id, "--json"], env)).stdout).toBe("");
  });

  it("audit list: a table of who did what, --json exactly the API's page, paging with --cursor; audit:read needed", async () => {
    const readable = await runCli(["audit", "list", "--limit", "3"], env);
    expect(readable.code, readable.stderr).toBe(0);
    const lines = readable.stdout.trimEnd().split("\n");
    expect(lines[0]).toMatch(/^TIME\s+ACTION\s+ACTOR\s+TARGET\s+IP\s+REQUEST ID$/);
    expect(lines.slice(1, 4)).toHaveLength(3);
    for (const line of lines.slice(1, 4)) expect(line).toMatch(/^\d{4}-\d\d-\d\dT\S+Z\s+[a-z_]+\.[a-z]+\s+(key zpk_live_\S+|cli)\s+[a-z_]+ \S+\s+/);
    expect(readable.stdout).toMatch(/\nMore: repeat with --cursor \S+\n$/);

    const first = await runCli(["audit", "list", "--limit", "2", "--json"], env);
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout.trimEnd()).toBe((await api("GET", "/v1/audit-events?limit=2")).text);
    const page = JSON.parse(first.stdout);
    expect(page.data).toHaveLength(2);
    const next = await runCli(["audit", "list", "--limit", "2", "--cursor", page.next_cursor, "--json"], env);
    const nextPage = JSON.parse(next.stdout);
    expect(nextPage.data[0].id).not.toBe(page.data[1].id);
    expect(Date.parse(nextPage.data[0].created_at)).toBeLessThanOrEqual(Date.parse(page.data[1].created_at));
    // The oldest event is the customer's creation, by the CLI.
    const all = JSON.parse((await runCli(["audit", "list", "--limit", "100", "--json"], env)).stdout).data;
    expect(all.at(-1)).toMatchObject({ action: "customer.created", actor: { type: "cli" } });

    const badLimit = await runCli(["audit", "list", "--limit", "0"], env);
    expect(badLimit.code).toBe(2);
    expect(badLimit.stderr).toContain("--limit");
    const refused = await runCli(["audit", "list"], await envWithScopes("api_keys:read"));
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain("insufficient_scope");
  });

  it("limits: both buckets, for any key; --json exactly the API's body", async () => {
    const narrow = await envWithScopes("deliveries:read");
    const readable = await runCli(["limits"], narrow);
    expect(readable.code, readable.stderr).toBe(0);
    expect(readable.stdout.trimEnd().split("\n")).toEqual([
      expect.stringMatching(/^BUCKET\s+LIMIT\s+REMAINING\s+FULL AGAIN$/),
      expect.stringMatching(/^this key\s+1000000\s+\d+\s+\S.*$/),
      expect.stringMatching(/^customer\s+1000000000\s+\d+\s+\S.*$/),
    ]);
    const json = await runCli(["limits", "--json"], env);
    expect(json.code, json.stderr).toBe(0);
    const limits = JSON.parse(json.stdout);
    expect(Object.keys(limits).sort()).toEqual(["per_customer", "per_key"]);
    expect(Object.keys(limits.per_key).sort()).toEqual(["limit", "remaining", "reset_at"]);
    const { WHATISUP_API_KEY: _key, ...withoutKey } = env;
    expect((await runCli(["limits"], withoutKey)).code).toBe(2);
    const wrongKey = await runCli(["limits"], { ...env, WHATISUP_API_KEY: "zpk_live_nope" });
    expect(wrongKey.code).toBe(1);
    expect(wrongKey.stderr).toMatch(/the API refused the request: auth_\w+/);
  });

  it("deliveries show: where a delivery stands and its payload; deliveries retry re-queues a failed one, refuses a successful one", async () => {
    const closed = await closedPortUrl();
    const failingEndpoint = await createEndpoint(closed, "message.sent");
    const succeedingEndpoint = await createEndpoint(receiverUrl, "message.sent");
    const messageId = await sendMessage();
    const failed = await deliveryOnceIt("failed", failingEndpoint, messageId);
    const succeeded = await deliveryOnceIt("success", succeedingEndpoint, messageId);

    const shown = await runCli(["deliveries", "show", failed.id], env);
    expect(shown.code, shown.stderr).toBe(0);
    expect(shown.stdout).toMatch(new RegExp(`^id:\\s+${failed.id}$`, "m"));
    expect(shown.stdout).toMatch(/^event:\s+message\.sent$/m);
    expect(shown.stdout).toMatch(/^status:\s+failed$/m);
    expect(shown.stdout).toMatch(/^attempts:\s+2$/m);
    expect(shown.stdout).toMatch(/^attempt log:\nATTEMPT +STARTED +ANSWER +RESULT +TOOK +ERROR\n#1 .* no response {2}failure {2}\d+ ms {2}\S.*\n#2 .* no response {2}failure /m);
    expect(shown.stdout).toMatch(/^last answer:\s+-$/m);
    expect(shown.stdout).toMatch(/^last error:\s+\S+/m);
    expect(shown.stdout).toMatch(/^payload:$/m);
    const payloadText = shown.stdout.slice(shown.stdout.indexOf("payload:\n") + "payload:\n".length);
    expect(JSON.parse(payloadText)).toEqual(failed.payload);
    const shownJson = await runCli(["deliveries", "show", succeeded.id, "--json"], env);
    expect(shownJson.stdout.trimEnd()).toBe((await api("GET", `/v1/webhook-deliveries/${succeeded.id}`)).text);
    const unknown = await runCli(["deliveries", "show", UNKNOWN_ID], env);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain("delivery_not_found");
    expect((await runCli(["deliveries", "show"], env)).code).toBe(2);

    const retried = await runCli(["deliveries", "retry", failed.id], env);
    expect(retried.code, retried.stderr).toBe(0);
    expect(retried.stdout).toMatch(new RegExp(`^Queued delivery ${failed.id} for an attempt now\\.$`, "m"));
    expect(retried.stdout).toMatch(/^status:\s+retrying$/m);
    // The one attempt more fails too (nothing listens there): failed again, after a third attempt.
    await expect
      .poll(async () => (await api("GET", `/v1/webhook-deliveries/${failed.id}`)).body, { timeout: 15_000, interval: 100 })
      .toMatchObject({ status: "failed", attempt_count: 3 });
    const retriedJson = await runCli(["deliveries", "retry", failed.id, "--json"], env);
    expect(retriedJson.code, retriedJson.stderr).toBe(0);
    expect(JSON.parse(retriedJson.stdout)).toMatchObject({ id: failed.id, status: "retrying", payload: failed.payload });

    const notRetryable = await runCli(["deliveries", "retry", succeeded.id], env);
    expect(notRetryable.code).toBe(1);
    expect(notRetryable.stderr).toContain("delivery_not_retryable");
    expect(notRetryable.stderr).toContain("HTTP 409");
    expect(notRetryable.stdout).toBe("");
    const unknownRetry = await runCli(["deliveries", "retry", UNKNOWN_ID], env);
    expect(unknownRetry.code).toBe(1);
    expect(unknownRetry.stderr).toContain("delivery_not_found");
    const reader = await envWithScopes("deliveries:read");
    expect((await runCli(["deliveries", "show", failed.id], reader)).code).toBe(0);
    const refused = await runCli(["deliveries", "retry", failed.id], reader);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain("insufficient_scope");
  });

  it("webhooks listen --register: an endpoint for the listener while it runs, every signature checked with its secret, deleted on SIGTERM", async () => {
    const listener = startListener(["webhooks", "listen", "--port", "0", "--register", "--events", "message.sent,message.delivered"], env);
    try {
      const registered = await listener.lineMatching(/^Registered webhook endpoint ([0-9a-f-]{36}) for message\.sent, message\.delivered;/);
      const endpointId = registered[1]!;
      const listening = /Listening for webhooks on (http:\/\/127\.0\.0\.1:\d+\/)/.exec(listener.lines[0]!)![1]!;
      const endpoint = (await api("GET", `/v1/webhook-endpoints/${endpointId}`)).body;
      expect(endpoint).toMatchObject({ url: listening, events: ["message.sent", "message.delivered"], instance_id: null });
      expect(listener.lines.join("\n")).not.toContain("whsec_");

      const messageId = await sendMessage();
      await listener.lineMatching(new RegExp(`signature=valid message\\.sent \\S+ .*"id":"${messageId}"`));
      await listener.lineMatching(new RegExp(`signature=valid message\\.delivered \\S+ .*"id":"${messageId}"`));
      await deliveryOnceIt("success", endpointId, messageId);
      // A forgery, signed with another secret: refused, and shown as such.
      const body = JSON.stringify({ event: "message.read", event_id: "forged", data: {} });
      const forged = await fetch(listening, {
        method: "POST",
        headers: { "x-whatisup-signature": signatureHeader("whsec_not-the-endpoints", body, Math.floor(Date.now() / 1000)) },
        body,
      });
      expect(forged.status).toBe(400);
      await listener.lineMatching(/signature=INVALID message\.read forged/);

      const exited = closeOf(listener.child);
      listener.child.kill("SIGTERM");
      expect(await exited).toBe(0);
      expect(listener.lines.at(-1)).toBe(`Deleted webhook endpoint ${endpointId}.`);
      expect(listener.stderr()).toBe("");
      const gone = await api("GET", `/v1/webhook-endpoints/${endpointId}`);
      expect(gone.status).toBe(404);
      expect(gone.body.error.code).toBe("webhook_endpoint_not_found");
      await expect(fetch(listening, { method: "POST", body: "{}" })).rejects.toThrow();
    } finally {
      listener.child.kill("SIGKILL");
    }
  });

  it("webhooks listen --register: Ctrl-C (SIGINT) deletes the endpoint too, and so does a closed stdout", async () => {
    const interrupted = startListener(["webhooks", "listen", "--port", "0", "--register", "--instance", instanceId], env);
    try {
      const endpointId = (await interrupted.lineMatching(/^Registered webhook endpoint ([0-9a-f-]{36}) for \*;/))[1]!;
      expect((await api("GET", `/v1/webhook-endpoints/${endpointId}`)).body).toMatchObject({ events: ["*"], instance_id: instanceId });
      const exited = closeOf(interrupted.child);
      interrupted.child.kill("SIGINT");
      expect(await exited).toBe(0);
      expect(interrupted.lines.at(-1)).toBe(`Deleted webhook endpoint ${endpointId}.`);
      expect((await api("GET", `/v1/webhook-endpoints/${endpointId}`)).status).toBe(404);
    } finally {
      interrupted.child.kill("SIGKILL");
    }

    const piped = startListener(["webhooks", "listen", "--port", "0", "--register"], env);
    try {
      const endpointId = (await piped.lineMatching(/^Registered webhook endpoint ([0-9a-f-]{36}) for/))[1]!;
      const listening = /Listening for webhooks on (http:\/\/127\.0\.0\.1:\d+\/)/.exec(piped.lines[0]!)![1]!;
      const exited = closeOf(piped.child);
      piped.child.stdout!.destroy();
      // The next line it prints finds nobody reading.
      await fetch(listening, { method: "POST", body: "{}" });
      expect(await exited).toBe(0);
      expect(piped.stderr()).toBe("");
      expect((await api("GET", `/v1/webhook-endpoints/${endpointId}`)).status).toBe(404);
    } finally {
      piped.child.kill("SIGKILL");
    }
  });

  it("webhooks listen --register: refused without webhooks:write (exit 1, nothing left listening); --secret with it is a usage error", async () => {
    const reader = await envWithScopes("webhooks:read");
    const listener = startListener(["webhooks", "listen", "--port", "0", "--register"], reader);
    try {
      const code = await closeOf(listener.child);
      expect(code).toBe(1);
      expect(listener.stderr()).toContain("insufficient_scope");
      const listening = /Listening for webhooks on (http:\/\/127\.0\.0\.1:\d+\/)/.exec(listener.lines[0]!)![1]!;
      await expect(fetch(listening, { method: "POST", body: "{}" })).rejects.toThrow();
    } finally {
      listener.child.kill("SIGKILL");
    }
    const both = await runCli(["webhooks", "listen", "--register", "--secret", "whsec_x"], env);
    expect(both.code).toBe(2);
    expect(both.stderr).toContain("--secret");
    const eventsAlone = await runCli(["webhooks", "listen", "--events", "message.sent"], env);
    expect(eventsAlone.code).toBe(2);
    const { WHATISUP_API: _api, ...withoutApi } = env;
    const noApi = await runCli(["webhooks", "listen", "--port", "0", "--register"], withoutApi);
    expect(noApi.code).toBe(2);
    expect(noApi.stderr).toContain("WHATISUP_API is not set");
  });

  it("a closed stdout (| head -1) ends the command quietly with exit 0", async () => {
    // Another customer with enough keys that the table outgrows the pipe's buffer: the command is
    // still writing when head has gone.
    const other = await runCli(["customers", "create", "--name", "Pipes", "--json"], serverEnv);
    const otherKey = JSON.parse(other.stdout).api_key.secret as string;
    const longName = "k".repeat(190);
    const issued = await Promise.all(
      Array.from({ length: 300 }, async (_, index) => {
        const response = await fetch(`${server.baseUrl}/v1/api-keys`, {
          method: "POST",
          headers: { authorization: `Bearer ${otherKey}`, "content-type": "application/json" },
          body: JSON.stringify({ name: `${longName}${index}` }),
        });
        return response.status;
      }),
    );
    expect(new Set(issued)).toEqual(new Set([201]));
    const pipeEnv = { ...env, WHATISUP_API_KEY: otherKey };
    const full = await runCli(["keys", "list"], pipeEnv);
    expect(full.stdout.length).toBeGreaterThan(96 * 1024); // a pipe holds 64 KiB

    for (const command of [`node ${CLI} keys list | head -1`, `node ${CLI} keys list --json | head -c 10`, `node ${CLI} keys list | true`]) {
      const piped = await runBash(`set -o pipefail; ${command}`, pipeEnv);
      expect(piped.stderr, command).toBe("");
      expect(piped.code, command).toBe(0);
    }
    const head = await runBash(`set -o pipefail; node ${CLI} keys list | head -1`, pipeEnv);
    expect(head.stdout).toMatch(/^ID\s+PREFIX\s+MODE\s+NAME\s+.*STATUS\n$/);
  });
});

type Listener = {
  child: ChildProcess;
  lines: string[];
  stderr: () => string;
  /** Resolves with the match of the first line (printed so far or later) that matches. */
  lineMatching: (pattern: RegExp) => Promise<RegExpExecArray>;
};

function startListener(args: string[], env: NodeJS.ProcessEnv): Listener {
  const child = spawn(process.execPath, [CLI, ...args], { env, stdio: ["ignore", "pipe", "pipe"] });
  const lines: string[] = [];
  let stderr = "";
  child.stderr!.on("data", (chunk) => (stderr += chunk));
  const waiting: Array<{ pattern: RegExp; resolve: (match: RegExpExecArray) => void }> = [];
  createInterface({ input: child.stdout! }).on("line", (line) => {
    lines.push(line);
    for (const waiter of [...waiting]) {
      const match = waiter.pattern.exec(line);
      if (match) {
        waiting.splice(waiting.indexOf(waiter), 1);
        waiter.resolve(match);
      }
    }
  });
  return {
    child,
    lines,
    stderr: () => stderr,
    lineMatching: (pattern) =>
      new Promise((resolve, reject) => {
        for (const line of lines) {
          const match = pattern.exec(line);
          if (match) return resolve(match);
        }
        waiting.push({ pattern, resolve });
        child.once("exit", (code) => reject(new Error(`listener exited with ${code} before printing ${pattern}: ${stderr}`)));
      }),
  };
}

/** The exit code, once the process has exited and every line it printed has been read. */
function closeOf(child: ChildProcess): Promise<number | null> {
  return new Promise((resolve) => child.once("close", (code) => resolve(code)));
}

function runBash(script: string, env: NodeJS.ProcessEnv): Promise<CliResult> {
  return runProcess("bash", ["-c", script], { env });
}

/** A URL on a port nothing listens on: one the system just gave out and took back. */
function closedPortUrl(): Promise<string> {
  return new Promise((resolve) => {
    const probe = createServer().listen(0, "127.0.0.1", () => {
      const { port } = probe.address() as AddressInfo;
      probe.close(() => resolve(`http://127.0.0.1:${port}/hooks`));
    });
  });
}
