import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { DatabaseConfig } from "../../src/config.js";
import { persistentDatabase, removeDatabase } from "../helpers/test-database.js";
import { runCli, serverProcessEnv, startServer, stopServer, type StartedServer } from "../helpers/cli-process.js";

/**
 * The CLI's messaging commands of issue 15 (`messages send|list|show`, `sandbox inbound`),
 * compiled, against a real server process. `npm test` builds dist/.
 */

const UNKNOWN_ID = "0198c0de-0000-7000-8000-0000000000ff";
const TO = "+15551234567";
const FROM = "+15557654321";
const LIST_HEADER = /^ID\s+CREATED\s+DIRECTION\s+FROM\/TO\s+TYPE\s+STATUS\s+CONTENT$/;
/** What a terminal would act on rather than show (see src/format/human-readable.ts). */
const TERMINAL_CONTROLS = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/;

describe("whatisup messages and sandbox: against a running server", { timeout: 120_000 }, () => {
  let database: DatabaseConfig;
  let serverEnv: NodeJS.ProcessEnv;
  let server: StartedServer;
  let env: NodeJS.ProcessEnv; // the client's: WHATISUP_API and WHATISUP_API_KEY set
  let apiKey: string;
  let instanceId: string;
  /** Serves the files the media messages point at, as WhatsApp would fetch them. */
  let media: Server;
  let mediaUrl: string;

  async function api(
    method: string,
    path: string,
    options: { body?: unknown; headers?: Record<string, string> } = {},
  ): Promise<{ status: number; text: string; body: any }> {
    const headers: Record<string, string> = { authorization: `Bearer ${apiKey}`, ...options.headers };
    if (options.body !== undefined) headers["content-type"] = "application/json";
    const response = await fetch(`${server.baseUrl}${path}`, {
      method,
      headers,
      body: options.body === undefined ? undefined : JSON.stringify(options.body),
    });
    const text = await response.text();
    return { status: response.status, text, body: text === "" ? null : JSON.parse(text) };
  }

  async function cliJson(args: string[], cliEnv = env): Promise<any> {
    const result = await runCli([...args, "--json"], cliEnv);
    expect(result.code, `${args.join(" ")}: ${result.stderr}`).toBe(0);
    return JSON.parse(result.stdout);
  }

  /** An instance of its own, so that its list holds only what the test put there. */
  async function newInstance(): Promise<string> {
    return (await cliJson(["instances", "create", "--name", "sandbox"])).id;
  }

  beforeAll(async () => {
    database = persistentDatabase();
    serverEnv = {
      ...serverProcessEnv(database),
      // The media server is on 127.0.0.1: the destination guard lets loopback through only so.
      WEBHOOK_ALLOW_LOOPBACK: "true",
      WORKER_POLL_MS: "20",
      SANDBOX_STEP_MS: "20",
      RATE_LIMIT_BURST: "1000000",
      RATE_LIMIT_REFILL_PER_SEC: "1000000",
    };
    media = createServer((request, response) => {
      request.resume();
      response.setHeader("content-type", "image/jpeg");
      response.end(Buffer.from([0xff, 0xd8, 0xff, 0xd9]));
    });
    await new Promise<void>((resolve) => media.listen(0, "127.0.0.1", resolve));
    mediaUrl = `http://127.0.0.1:${(media.address() as AddressInfo).port}`;
    server = await startServer(serverEnv);
    const created = await runCli(["customers", "create", "--name", "Acme", "--json"], serverEnv);
    expect(created.code, created.stderr).toBe(0);
    apiKey = JSON.parse(created.stdout).api_key.secret;
    env = { ...serverEnv, WHATISUP_API: server.baseUrl, WHATISUP_API_KEY: apiKey };
    instanceId = await newInstance();
  }, 120_000);

  afterAll(async () => {
    await stopServer(server);
    if (media) await new Promise<void>((resolve) => media.close(() => resolve()));
    if (database) await removeDatabase(database);
  });

  it("--help on each command: exit 0, on stdout, without the API settings", async () => {
    const cases: Array<[string[], string[]]> = [
      [["--help"], ["messages send INSTANCE_ID", "messages list INSTANCE_ID", "messages show INSTANCE_ID MESSAGE_ID", "sandbox inbound INSTANCE_ID"]],
      [["messages", "--help"], ["messages send INSTANCE_ID", "messages list INSTANCE_ID", "messages show INSTANCE_ID MESSAGE_ID"]],
      [
        ["messages", "send", "--help"],
        ["--to", "--text", "--image", "--document", "--audio", "--video", "--template", "--language", "--components", "--caption", "--filename", "--client-ref", "--idempotency-key", "--json"],
      ],
      [["messages", "list", "--help"], ["--direction", "--status", "--limit", "--cursor", "--json"]],
      [["messages", "show", "--help"], ["INSTANCE_ID MESSAGE_ID", "--json"]],
      [["sandbox", "--help"], ["sandbox inbound INSTANCE_ID"]],
      [["sandbox", "inbound", "--help"], ["--from", "--text", "--image", "--caption", "--mime-type", "--reply-to", "--idempotency-key", "--json", "instance_not_sandbox"]],
    ];
    const results = await Promise.all(cases.map(([args]) => runCli(args, serverEnv)));
    cases.forEach(([args, expected], index) => {
      const result = results[index]!;
      expect(result.code, `${args.join(" ")}: ${result.stderr}`).toBe(0);
      expect(result.stderr, args.join(" ")).toBe("");
      for (const text of expected) expect(result.stdout, args.join(" ")).toContain(text);
    });
  });

  it("messages send: a text, an image, a document and a template; show reads each back, --json exactly the API's", async () => {
    const text = await runCli(["messages", "send", instanceId, "--to", TO, "--text", "hi there", "--client-ref", "order-42"], env);
    expect(text.code, text.stderr).toBe(0);
    expect(text.stderr).toBe("");
    const textId = /^Accepted message ([0-9a-f-]{36}): queued\.$/m.exec(text.stdout)![1]!;
    expect(text.stdout).toMatch(new RegExp(`^instance:\\s+${instanceId}$`, "m"));
    expect(text.stdout).toMatch(/^to:\s+\+15551234567$/m);
    expect(text.stdout).toMatch(/^type:\s+text$/m);
    expect(text.stdout).toMatch(/^client ref:\s+order-42$/m);

    const image = await cliJson(["messages", "send", instanceId, "--to", TO, "--image", `${mediaUrl}/cat.jpg`, "--caption", "our cat"]);
    expect(image).toMatchObject({ instance_id: instanceId, direction: "outbound", to: TO, type: "image", status: "queued", client_ref: null });
    const document = await cliJson(["messages", "send", instanceId, "--to", TO, "--document", `${mediaUrl}/invoice.pdf`, "--filename", "invoice.pdf"]);
    expect(document).toMatchObject({ type: "document", status: "queued" });
    const components = [{ type: "body", parameters: [{ type: "text", text: "4821" }] }];
    const template = await cliJson([
      "messages", "send", instanceId, "--to", TO, "--template", "order_update", "--language", "en_US", "--components", JSON.stringify(components),
    ]);
    expect(template).toMatchObject({ type: "template", status: "queued" });
    // The first form, --instance ID, still works.
    expect(await cliJson(["messages", "send", "--instance", instanceId, "--to", TO, "--text", "the old way"])).toMatchObject({ type: "text" });

    const imageShown = await runCli(["messages", "show", instanceId, image.id], env);
    expect(imageShown.code, imageShown.stderr).toBe(0);
    expect(imageShown.stdout).toMatch(/^direction:\s+outbound$/m);
    expect(imageShown.stdout).toMatch(/^type:\s+image$/m);
    expect(imageShown.stdout).toMatch(new RegExp(`^media url:\\s+${mediaUrl}/cat\\.jpg$`, "m"));
    expect(imageShown.stdout).toMatch(/^caption:\s+our cat$/m);
    expect(imageShown.stdout).not.toMatch(/^text:/m);
    const documentShown = await runCli(["messages", "show", instanceId, document.id], env);
    expect(documentShown.stdout).toMatch(/^filename:\s+invoice\.pdf$/m);
    const templateShown = await cliJson(["messages", "show", instanceId, template.id]);
    expect(templateShown).toMatchObject({ type: "template", text: null, media: null, template: { name: "order_update", language: "en_US", components } });
    const templateReadable = await runCli(["messages", "show", instanceId, template.id], env);
    expect(templateReadable.stdout).toMatch(/^template:\s+order_update \(en_US\)$/m);
    // As JSON on one line; PostgreSQL's jsonb keeps the keys in an order of its own.
    expect(JSON.parse(/^components:\s+(.+)$/m.exec(templateReadable.stdout)![1]!)).toEqual(components);

    // The sandbox moves the text on: show prints each state's time once it is reached.
    await expect
      .poll(async () => (await cliJson(["messages", "show", instanceId, textId])).status, { timeout: 15_000, interval: 100 })
      .toBe("read");
    const shown = await runCli(["messages", "show", instanceId, textId], env);
    expect(shown.code, shown.stderr).toBe(0);
    expect(shown.stdout).toMatch(/^status:\s+read$/m);
    expect(shown.stdout).toMatch(/^text:\s+hi there$/m);
    expect(shown.stdout).toMatch(/^client ref:\s+order-42$/m);
    for (const state of ["sent", "delivered", "read"]) expect(shown.stdout).toMatch(new RegExp(`^${state}:\\s+\\d{4}-\\d\\d-\\d\\dT\\S+Z \\(`, "m"));
    expect(shown.stdout).not.toMatch(/^(failed|received):/m);
    const shownJson = await runCli(["messages", "show", instanceId, textId, "--json"], env);
    expect(shownJson.stdout).toBe(`${(await api("GET", `/v1/instances/${instanceId}/messages/${textId}`)).text}\n`);
  });

  it("sandbox inbound: the instance receives the message; list shows it, with its filters and pages", async () => {
    const instance = await newInstance();
    const sent = await cliJson(["messages", "send", instance, "--to", FROM, "--text", "Your order has shipped."]);
    const received = await runCli(["sandbox", "inbound", instance, "--from", FROM, "--text", "Where is it now?", "--reply-to", sent.id], env);
    expect(received.code, received.stderr).toBe(0);
    const inboundId = /^Received message ([0-9a-f-]{36}) from \+15557654321\.$/m.exec(received.stdout)![1]!;
    expect(received.stdout).toMatch(/^direction:\s+inbound$/m);
    expect(received.stdout).toMatch(/^status:\s+received$/m);
    expect(received.stdout).toMatch(/^text:\s+Where is it now\?$/m);
    expect(received.stdout).toMatch(new RegExp(`^reply to:\\s+${sent.id}$`, "m"));
    expect(received.stdout).toMatch(/^received:\s+\d{4}-/m);
    const photo = await cliJson([
      "sandbox", "inbound", instance, "--from", FROM, "--image", `${mediaUrl}/photo.jpg`, "--caption", "the parcel", "--mime-type", "image/jpeg",
    ]);
    expect(photo).toMatchObject({
      direction: "inbound",
      from: FROM,
      type: "image",
      text: null,
      status: "received",
      media: { url: `${mediaUrl}/photo.jpg`, caption: "the parcel", mime_type: "image/jpeg" },
    });

    const listed = await runCli(["messages", "list", instance], env);
    expect(listed.code, listed.stderr).toBe(0);
    const lines = listed.stdout.trimEnd().split("\n");
    expect(lines[0]).toMatch(LIST_HEADER);
    expect(lines).toHaveLength(4); // newest first
    expect(lines[1]).toMatch(new RegExp(`^${photo.id}\\s+\\d{4}-\\S+Z\\s+inbound\\s+\\+15557654321\\s+image\\s+received\\s+the parcel$`));
    expect(lines[2]).toMatch(new RegExp(`^${inboundId}\\s+\\S+\\s+inbound\\s+\\+15557654321\\s+text\\s+received\\s+Where is it now\\?$`));
    expect(lines[3]).toMatch(new RegExp(`^${sent.id}\\s+\\S+\\s+outbound\\s+\\+15557654321\\s+text\\s+\\S+\\s+Your order has shipped\\.$`));
    expect(listed.stdout).not.toContain("More:");

    const inbound = await runCli(["messages", "list", instance, "--direction", "inbound", "--json"], env);
    expect(inbound.stdout).toBe(`${(await api("GET", `/v1/instances/${instance}/messages?direction=inbound`)).text}\n`);
    expect(JSON.parse(inbound.stdout).data.map((message: any) => message.id)).toEqual([photo.id, inboundId]);
    const outbound = await cliJson(["messages", "list", instance, "--direction", "outbound"]);
    expect(outbound.data.map((message: any) => message.id)).toEqual([sent.id]);
    const receivedOnly = await cliJson(["messages", "list", instance, "--status", "received"]);
    expect(receivedOnly.data.map((message: any) => message.id)).toEqual([photo.id, inboundId]);

    const first = await runCli(["messages", "list", instance, "--limit", "2"], env);
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout.split("\n").filter((line) => line.includes(" inbound "))).toHaveLength(2);
    const cursor = /\nMore: repeat with --cursor (\S+)\n$/.exec(first.stdout)![1]!;
    const rest = await cliJson(["messages", "list", instance, "--limit", "2", "--cursor", cursor]);
    expect(rest).toEqual({ data: [expect.objectContaining({ id: sent.id })], next_cursor: null });

    const empty = await runCli(["messages", "list", await newInstance()], env);
    expect(empty).toMatchObject({ code: 0, stdout: "No messages.\n", stderr: "" });
  });

  it("what a sender wrote prints as escapes: it cannot drive the terminal nor add a row", async () => {
    const instance = await newInstance();
    const hostile = "\u001b[31mred\u0007\nforged  outbound  +15551234567  text  read  hi\u202e";
    const received = await cliJson(["sandbox", "inbound", instance, "--from", FROM, "--text", hostile]);
    expect(received.text).toBe(hostile);
    const listed = await runCli(["messages", "list", instance], env);
    expect(listed.code, listed.stderr).toBe(0);
    expect(listed.stdout).not.toMatch(TERMINAL_CONTROLS);
    expect(listed.stdout.trimEnd().split("\n")).toHaveLength(2);
    expect(listed.stdout).toContain("\\u001b[31mred\\u0007\\nforged");
    const shown = await runCli(["messages", "show", instance, received.id], env);
    expect(shown.stdout).not.toMatch(TERMINAL_CONTROLS);
    expect(shown.stdout).toContain("text:        \\u001b[31mred\\u0007\\nforged  outbound  +15551234567  text  read  hi\\u202e\n");
  });

  it("usage errors: exit 2, the reason and the usage on stderr, nothing sent", async () => {
    const cases: Array<[string[], string, string]> = [
      [["messages", "send", instanceId, "--to", TO, "--text", "a", "--image", `${mediaUrl}/a.jpg`], "give only one of --text, --image, --document, --audio, --video or --template, not --text and --image", "Usage: whatisup messages send INSTANCE_ID"],
      [["messages", "send", instanceId, "--to", TO], "one of --text, --image, --document, --audio, --video or --template is required", "Usage: whatisup messages send INSTANCE_ID"],
      [["messages", "send", instanceId, "--text", "a"], "--to is required", "Usage: whatisup messages send INSTANCE_ID"],
      [["messages", "send", "--to", TO, "--text", "a"], "missing INSTANCE_ID", "Usage: whatisup messages send INSTANCE_ID"],
      [["messages", "send", instanceId, "--to", TO, "--text", "a", "--caption", "c"], "--caption is for a media message", "Usage: whatisup messages send"],
      [["messages", "send", instanceId, "--to", TO, "--template", "order_update"], "--language is required with --template", "Usage: whatisup messages send"],
      [["messages", "send", instanceId, "--to", TO, "--text", "a", "--language", "en"], "--language is for a template message", "Usage: whatisup messages send"],
      [["messages", "send", instanceId, "--to", TO, "--template", "t", "--language", "en", "--components", "[{"], "--components must be JSON", "Usage: whatisup messages send"],
      [["messages", "send", instanceId, "--to", TO, "--text", "a", "--idempotency-key", "clé\n"], "--idempotency-key must be 1 to 255 printable ASCII characters", "Usage: whatisup messages send"],
      [["messages", "list"], "missing INSTANCE_ID", "Usage: whatisup messages list INSTANCE_ID"],
      [["messages", "list", instanceId, "--limit", "0"], "--limit must be a whole number from 1 to 100", "Usage: whatisup messages list"],
      [["messages", "show", instanceId], "missing MESSAGE_ID", "Usage: whatisup messages show INSTANCE_ID MESSAGE_ID"],
      [["messages", "forward"], 'unknown subcommand "messages forward"', "Usage: whatisup messages <subcommand>"],
      [["sandbox", "inbound", instanceId, "--text", "a"], "--from is required", "Usage: whatisup sandbox inbound INSTANCE_ID"],
      [["sandbox", "inbound", instanceId, "--from", FROM, "--text", "a", "--video", `${mediaUrl}/v.mp4`], "give only one of --text, --image, --document, --audio or --video, not --text and --video", "Usage: whatisup sandbox inbound"],
      [["sandbox", "inbound", instanceId, "--from", FROM, "--template", "t"], "Unknown option '--template'", "Usage: whatisup sandbox inbound"],
      [["sandbox"], '"whatisup sandbox" needs a subcommand', "Usage: whatisup sandbox <subcommand>"],
    ];
    const before = (await api("GET", `/v1/instances/${instanceId}/messages?limit=100`)).body.data.length;
    const results = await Promise.all(cases.map(([args]) => runCli(args, env)));
    cases.forEach(([args, message, usage], index) => {
      const result = results[index]!;
      expect(result.code, args.join(" ")).toBe(2);
      expect(result.stdout, args.join(" ")).toBe("");
      expect(result.stderr, args.join(" ")).toContain(message);
      expect(result.stderr, args.join(" ")).toContain(usage);
    });
    expect((await api("GET", `/v1/instances/${instanceId}/messages?limit=100`)).body.data).toHaveLength(before);
  });

  it("API refusals: exit 1, the error code and message on stderr, nothing on stdout", async () => {
    const reader = { ...env, WHATISUP_API_KEY: (await cliJson(["keys", "issue", "--name", "reader", "--scope", "instances:read"])).secret };
    const cases: Array<[string[], NodeJS.ProcessEnv, string[]]> = [
      [["messages", "show", instanceId, UNKNOWN_ID], env, ["message_not_found", "HTTP 404"]],
      [["messages", "send", UNKNOWN_ID, "--to", TO, "--text", "x"], env, ["instance_not_found", "HTTP 404"]],
      [["messages", "send", instanceId, "--to", "15551234567", "--text", "x"], env, ["validation_failed", "body.to"]],
      [["messages", "send", instanceId, "--to", TO, "--image", "http://10.0.0.1/cat.jpg"], env, ["validation_failed", "body.media.url"]],
      [["messages", "send", instanceId, "--to", TO, "--audio", `${mediaUrl}/a.ogg`, "--caption", "no"], env, ["validation_failed", "body.media.caption"]],
      [["messages", "send", instanceId, "--to", TO, "--template", "Order Update", "--language", "en_US"], env, ["validation_failed", "body.template.name"]],
      [["messages", "list", instanceId, "--direction", "sideways"], env, ["validation_failed", "direction"]],
      [["messages", "list", instanceId], reader, ["insufficient_scope", "HTTP 403"]],
      [["sandbox", "inbound", instanceId, "--from", FROM, "--text", "x", "--reply-to", UNKNOWN_ID], env, ["validation_failed", "body.reply_to"]],
      [["sandbox", "inbound", UNKNOWN_ID, "--from", FROM, "--text", "x"], env, ["instance_not_found"]],
    ];
    const results = await Promise.all(cases.map(([args, cliEnv]) => runCli(args, cliEnv)));
    cases.forEach(([args, , expected], index) => {
      const result = results[index]!;
      expect(result.code, `${args.join(" ")}: ${result.stderr}`).toBe(1);
      expect(result.stdout, args.join(" ")).toBe("");
      expect(result.stderr, args.join(" ")).toMatch(/^whatisup: the API refused the request: [a-z_]+: \S/);
      for (const text of expected) expect(result.stderr, args.join(" ")).toContain(text);
    });
  });

  it("--idempotency-key: a retry gets the first answer again (said so), exactly the API's with --json; another body is refused", async () => {
    const instance = await newInstance();
    const send = ["messages", "send", instance, "--to", TO, "--text", "once only", "--idempotency-key", "order-4821-shipped"];
    const first = await cliJson(send);
    const again = await runCli(send, env);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toContain(`Accepted message ${first.id}: queued.\nA replay: `);
    const replayed = await runCli([...send, "--json"], env);
    const byHand = await api("POST", `/v1/instances/${instance}/messages`, {
      body: { type: "text", to: TO, text: "once only" },
      headers: { "idempotency-key": "order-4821-shipped" },
    });
    expect(byHand.status).toBe(202);
    expect(replayed.stdout).toBe(`${byHand.text}\n`);
    expect((await cliJson(["messages", "list", instance])).data).toHaveLength(1);

    const other = await runCli(["messages", "send", instance, "--to", TO, "--text", "another", "--idempotency-key", "order-4821-shipped"], env);
    expect(other.code).toBe(1);
    expect(other.stderr).toContain("idempotency_key_reused");

    const inbound = ["sandbox", "inbound", instance, "--from", FROM, "--text", "hello", "--idempotency-key", "inbound-1"];
    const received = await cliJson(inbound);
    expect((await cliJson(inbound)).id).toBe(received.id);
    expect((await cliJson(["messages", "list", instance, "--direction", "inbound"])).data).toHaveLength(1);
  });
});
