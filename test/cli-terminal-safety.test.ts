import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import type { AcceptedMessage, ApiKey, AuditEvent, CreatedWebhookEndpoint, Instance, Page, WebhookDelivery } from "@whatisup/client";
import { runAudit } from "../src/cli/audit-command.js";
import { runDeliveries } from "../src/cli/deliveries-command.js";
import { runInstances } from "../src/cli/instances-command.js";
import { runKeys } from "../src/cli/keys-command.js";
import { runMessages } from "../src/cli/messages-command.js";
import { runWebhooks } from "../src/cli/webhooks-command.js";

/**
 * A name is whatever a key holder typed: the human output of the CLI must show it, not let it
 * colour, retitle or redraw the operator's terminal, nor add rows to a table.
 */
const HOSTILE = "\u001b[31mred\u0007\nzpk_live_forged  all  *";

const KEY: ApiKey = {
  id: "0198c0de-0000-7000-8000-000000000001",
  customer_id: "0198c0de-0000-7000-8000-0000000000c1",
  prefix: "zpk_live_abcd1234",
  mode: "live",
  name: HOSTILE,
  instance_id: null,
  scopes: ["*"],
  allowed_ips: ["203.0.113.0/24\u001b[2J"],
  last_used_at: null,
  expires_at: null,
  created_at: "2026-05-10T12:00:00.000Z",
  revoked_at: null,
} as ApiKey;
const INSTANCE = {
  id: "0198c0de-0000-7000-8000-0000000000a1",
  name: "\u202eevil\r\u009b2J",
  transport: "sandbox",
  status: "connected",
  phone_number: null,
  created_at: "2026-05-10T12:00:00.000Z",
  updated_at: "2026-05-10T12:00:00.000Z",
} as unknown as Instance;

const ENDPOINT = {
  id: "0198c0de-0000-7000-8000-0000000000e1",
  customer_id: KEY.customer_id,
  instance_id: null,
  url: "https://example.com/\u001b[2Jhook\u202e",
  events: ["*"],
  created_at: "2026-05-10T12:00:00.000Z",
  secret: "whsec_abc\u001b[8m",
} as unknown as CreatedWebhookEndpoint;
const DELIVERY = {
  id: "0198c0de-0000-7000-8000-0000000000d1",
  endpoint_id: ENDPOINT.id,
  customer_id: KEY.customer_id,
  instance_id: INSTANCE.id,
  event: "message.failed",
  event_id: "01JABCDEFGHJKMNPQRSTVWXYZ0",
  payload: {
    event: "message.failed",
    event_id: "01JABCDEFGHJKMNPQRSTVWXYZ0",
    api_version: "2026-04",
    instance_id: INSTANCE.id,
    occurred_at: "2026-05-10T12:00:00.000Z",
    data: { error: "\u009b2J\u202eevil\u007f", text: "\u001b]0;title\u0007" },
  },
  status: "failed",
  attempt_count: 6,
  last_error: "refused\r\nstatus:  success",
  last_response_status: null,
  next_attempt_at: null,
  delivered_at: null,
  created_at: "2026-05-10T12:00:00.000Z",
  updated_at: "2026-05-10T12:00:00.000Z",
} as unknown as WebhookDelivery;
const AUDIT_EVENT = {
  id: "0198c0de-0000-7000-8000-0000000000f1",
  customer_id: KEY.customer_id,
  action: "api_key.issued\u001b[1A",
  actor: { type: "api_key", id: KEY.id, prefix: "zpk_live_\u009b2J" },
  target: { type: "api_key", id: "\u202eid" },
  metadata: {},
  ip: "203.0.113.7",
  user_agent: "\u001b[31m",
  request_id: "req_\u0007",
  created_at: "2026-05-10T12:00:00.000Z",
} as unknown as AuditEvent;
const MESSAGE = {
  id: "0198c0de-0000-7000-8000-0000000000b1",
  instance_id: INSTANCE.id,
  to: "+15551234567",
  type: "text",
  status: "queued",
  client_ref: "order\u001b[2J\n42",
  created_at: "2026-05-10T12:00:00.000Z",
} as unknown as AcceptedMessage;

/** The sixth attempt of DELIVERY, its error as hostile as the delivery's own. */
const HOSTILE_ATTEMPT = {
  number: 6,
  started_at: "2026-05-10T12:00:00.000Z",
  finished_at: "2026-05-10T12:00:00.250Z",
  response_status: null,
  error: "refused\u001b[2J\u202e",
  success: false,
};

const answers: Record<string, string> = {
  "/v1/api-keys": JSON.stringify([KEY]),
  [`/v1/api-keys/${KEY.id}`]: JSON.stringify(KEY),
  [`/v1/instances/${INSTANCE.id}`]: JSON.stringify(INSTANCE),
  "/v1/instances": JSON.stringify({ data: [INSTANCE], next_cursor: "next\u001b]0;title\u0007" } satisfies Page<Instance>),
  "/v1/webhook-endpoints": JSON.stringify({ data: [ENDPOINT], next_cursor: null }),
  [`/v1/webhook-endpoints/${ENDPOINT.id}`]: JSON.stringify(ENDPOINT),
  "POST /v1/webhook-endpoints": JSON.stringify(ENDPOINT),
  [`/v1/webhook-deliveries/${DELIVERY.id}`]: JSON.stringify({ ...DELIVERY, attempts: [HOSTILE_ATTEMPT] }),
  [`POST /v1/webhook-deliveries/${DELIVERY.id}/retry`]: JSON.stringify(DELIVERY),
  "/v1/audit-events": JSON.stringify({ data: [AUDIT_EVENT], next_cursor: null }),
  [`POST /v1/instances/${INSTANCE.id}/messages`]: JSON.stringify(MESSAGE),
};

let api: Server;
let printed: string[];

beforeAll(async () => {
  api = createServer((request, response) => {
    response.setHeader("content-type", "application/json");
    const path = new URL(request.url ?? "/", "http://api").pathname;
    response.end((request.method === "GET" ? answers[path] : answers[`${request.method} ${path}`]) ?? "{}");
  });
  await new Promise<void>((resolve) => api.listen(0, "127.0.0.1", resolve));
  vi.stubEnv("WHATISUP_API", `http://127.0.0.1:${(api.address() as AddressInfo).port}`);
  vi.stubEnv("WHATISUP_API_KEY", "zpk_live_test");
});
afterEach(() => {
  vi.restoreAllMocks();
});
afterAll(async () => {
  vi.unstubAllEnvs();
  await new Promise<void>((resolve) => api.close(() => resolve()));
});

/** Runs a CLI command in this process and returns what it wrote on stdout. */
async function stdoutOf(run: () => Promise<number>): Promise<string> {
  printed = [];
  vi.spyOn(process.stdout, "write").mockImplementation((chunk: string | Uint8Array) => {
    printed.push(String(chunk));
    return true;
  });
  expect(await run()).toBe(0);
  vi.restoreAllMocks();
  return printed.join("");
}

const TERMINAL_CONTROLS = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/;

describe("human output escapes what would drive the terminal", () => {
  it("keys list: the name shows as escapes, on its own row", async () => {
    const output = await stdoutOf(() => runKeys(["list"]));
    expect(output).not.toMatch(TERMINAL_CONTROLS);
    const lines = output.trimEnd().split("\n");
    expect(lines).toHaveLength(2);
    expect(lines[1]).toContain("\\u001b[31mred\\u0007\\nzpk_live_forged  all  *");
    expect(lines[1]).toContain("203.0.113.0/24\\u001b[2J");
  });

  it("keys show and instances list and show: the same", async () => {
    const shown = await stdoutOf(() => runKeys(["show", KEY.id]));
    expect(shown).not.toMatch(TERMINAL_CONTROLS);
    expect(shown).toContain("name:         \\u001b[31mred\\u0007\\nzpk_live_forged  all  *\n");
    expect(shown).toContain("allowed ips:  203.0.113.0/24\\u001b[2J\n");

    const listed = await stdoutOf(() => runInstances(["list"]));
    expect(listed).not.toMatch(TERMINAL_CONTROLS);
    expect(listed).toContain("\\u202eevil\\r\\u009b2J");
    expect(listed).toContain("More: repeat with --cursor next\\u001b]0;title\\u0007\n");

    const instance = await stdoutOf(() => runInstances(["show", INSTANCE.id]));
    expect(instance).not.toMatch(TERMINAL_CONTROLS);
    expect(instance).toContain("name:          \\u202eevil\\r\\u009b2J\n");
  });

  it("--json prints the API's answer exactly as it came", async () => {
    expect(await stdoutOf(() => runKeys(["list", "--json"]))).toBe(`${answers["/v1/api-keys"]}\n`);
    expect(await stdoutOf(() => runInstances(["list", "--json"]))).toBe(`${answers["/v1/instances"]}\n`);
  });

  it("webhooks endpoints list, show and create: the URL shows as escapes; the secret too, on its own line", async () => {
    const listed = await stdoutOf(() => runWebhooks(["endpoints", "list"]));
    expect(listed).not.toMatch(TERMINAL_CONTROLS);
    expect(listed).toContain("https://example.com/\\u001b[2Jhook\\u202e");
    expect(listed).not.toContain("whsec_");
    const shown = await stdoutOf(() => runWebhooks(["endpoints", "show", ENDPOINT.id]));
    expect(shown).not.toMatch(TERMINAL_CONTROLS);
    expect(shown).not.toContain("whsec_");
    const created = await stdoutOf(() => runWebhooks(["endpoints", "create", "--url", "https://example.com/"]));
    expect(created).not.toMatch(TERMINAL_CONTROLS);
    expect(created).toContain("for https://example.com/\\u001b[2Jhook\\u202e\n");
    expect(created.split("\n")).toContain("whsec_abc\\u001b[8m");
  });

  it("deliveries show and retry: the last error and the payload's strings (C1 and bidi controls too) show as escapes", async () => {
    const shown = await stdoutOf(() => runDeliveries(["show", DELIVERY.id]));
    expect(shown).not.toMatch(TERMINAL_CONTROLS);
    expect(shown).toContain("last error:    refused\\r\\nstatus:  success\n");
    expect(shown).toMatch(/^status:\s+failed$/m);
    expect(shown).not.toMatch(/^status:\s+success$/m);
    expect(shown).toContain('"error": "\\u009b2J\\u202eevil\\u007f"');
    expect(shown).toContain('"text": "\\u001b]0;title\\u0007"');
    expect(shown).toContain("(the 5 oldest of 6 attempts are not kept)");
    expect(shown).toMatch(/^#6 .* no response {2}failure {2}250 ms {2}refused\\u001b\[2J\\u202e$/m);
    const retried = await stdoutOf(() => runDeliveries(["retry", DELIVERY.id]));
    expect(retried).not.toMatch(TERMINAL_CONTROLS);
    expect(retried).toContain("refused\\r\\nstatus:  success");
  });

  it("audit list and messages send: the same", async () => {
    const audit = await stdoutOf(() => runAudit(["list"]));
    expect(audit).not.toMatch(TERMINAL_CONTROLS);
    expect(audit.trimEnd().split("\n")).toHaveLength(2);
    expect(audit).toContain("api_key.issued\\u001b[1A");
    expect(audit).toContain("key zpk_live_\\u009b2J");
    const sent = await stdoutOf(() => runMessages(["send", "--instance", INSTANCE.id, "--to", "+15551234567", "--text", "hi"]));
    expect(sent).not.toMatch(TERMINAL_CONTROLS);
    expect(sent).toContain("client ref:  order\\u001b[2J\\n42\n");
  });
});
