import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import type { ApiKey, Instance, Page } from "@whatisup/client";
import { runInstances } from "../src/cli/instances-command.js";
import { runKeys } from "../src/cli/keys-command.js";

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

const answers: Record<string, string> = {
  "/v1/api-keys": JSON.stringify([KEY]),
  [`/v1/api-keys/${KEY.id}`]: JSON.stringify(KEY),
  [`/v1/instances/${INSTANCE.id}`]: JSON.stringify(INSTANCE),
  "/v1/instances": JSON.stringify({ data: [INSTANCE], next_cursor: "next\u001b]0;title\u0007" } satisfies Page<Instance>),
};

let api: Server;
let printed: string[];

beforeAll(async () => {
  api = createServer((request, response) => {
    response.setHeader("content-type", "application/json");
    response.end(answers[new URL(request.url ?? "/", "http://api").pathname] ?? "{}");
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
});
