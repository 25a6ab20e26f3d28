import { createServer } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { DatabaseConfig } from "../../src/config.js";
import { persistentDatabase, removeDatabase } from "../helpers/test-database.js";
import { runCli, serverProcessEnv, startServer, stopServer, type StartedServer } from "../helpers/cli-process.js";

/**
 * The API-client commands (`whatisup keys|instances|deliveries …`), compiled, against a real
 * server process on a socket: they talk to it over HTTP only, with WHATISUP_API and
 * WHATISUP_API_KEY. `npm test` builds dist/ first (pretest).
 */

/** A port nothing listens on: one the system just gave out and took back. */
function closedPort(): Promise<number> {
  return new Promise((resolvePromise) => {
    const server = createServer().listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolvePromise(port));
    });
  });
}

describe("whatisup keys / instances / deliveries against a running server", () => {
  let database: DatabaseConfig;
  let serverEnv: NodeJS.ProcessEnv;
  let server: StartedServer;
  let env: NodeJS.ProcessEnv; // the client's: WHATISUP_API and WHATISUP_API_KEY set
  let firstKey: { id: string; secret: string; prefix: string };

  async function api(path: string, key = firstKey.secret): Promise<{ status: number; text: string }> {
    const response = await fetch(`${server.baseUrl}${path}`, { headers: { authorization: `Bearer ${key}` } });
    return { status: response.status, text: await response.text() };
  }

  beforeAll(async () => {
    database = persistentDatabase();
    serverEnv = serverProcessEnv(database);
    server = await startServer(serverEnv);
    const created = await runCli(["customers", "create", "--name", "Acme", "--json"], serverEnv);
    expect(created.code, created.stderr).toBe(0);
    firstKey = JSON.parse(created.stdout).api_key;
    env = { ...serverEnv, WHATISUP_API: server.baseUrl, WHATISUP_API_KEY: firstKey.secret };
  });

  afterAll(async () => {
    await stopServer(server);
    if (database) await removeDatabase(database);
  });

  it("keys list: a readable table, and --json exactly the API's body (a bare array)", async () => {
    const table = await runCli(["keys", "list"], env);
    expect(table.code, table.stderr).toBe(0);
    const [header, row, ...rest] = table.stdout.trimEnd().split("\n");
    expect(rest).toEqual([]);
    expect(header).toMatch(/^ID\s+PREFIX\s+MODE\s+NAME\s+INSTANCE\s+SCOPES\s+ALLOWED IPS\s+LAST USED\s+EXPIRES\s+CREATED\s+STATUS$/);
    expect(row).toContain(firstKey.id);
    expect(row).toContain(firstKey.prefix);
    expect(row).toMatch(/\blive\s+first key\s+all\s+\*\s+anywhere\s+never\s+never\s+(just now|\d+ sec ago)\s+active$/);
    // aligned: every column starts where its header does
    expect(row!.indexOf(firstKey.prefix)).toBe(header!.indexOf("PREFIX"));
    expect(row!.indexOf("active")).toBe(header!.indexOf("STATUS"));
    expect(table.stdout).not.toContain(firstKey.secret);

    const json = await runCli(["keys", "list", "--json"], env);
    expect(json.code, json.stderr).toBe(0);
    const direct = await api("/v1/api-keys");
    expect(json.stdout.trimEnd()).toBe(direct.text);
    const keys = JSON.parse(json.stdout);
    expect(Array.isArray(keys)).toBe(true);
    expect(keys.map((key: { id: string }) => key.id)).toEqual([firstKey.id]);
  });

  it("instances create / list / show / delete", async () => {
    const created = await runCli(["instances", "create", "--name", "main", "--json"], env);
    expect(created.code, created.stderr).toBe(0);
    const instance = JSON.parse(created.stdout);
    expect(instance).toMatchObject({ name: "main", transport: "sandbox" });

    const readable = await runCli(["instances", "create", "--name", "spare"], env);
    expect(readable.code, readable.stderr).toBe(0);
    expect(readable.stdout).toMatch(/Created instance "spare"/);
    const spareId = /^id:\s+(\S+)$/m.exec(readable.stdout)![1]!;

    const listed = await runCli(["instances", "list"], env);
    expect(listed.code, listed.stderr).toBe(0);
    expect(listed.stdout).toMatch(/^ID\s+NAME\s+TRANSPORT\s+STATUS\s+PHONE NUMBER\s+CREATED$/m);
    expect(listed.stdout).toContain(instance.id);
    expect(listed.stdout).toContain(spareId);

    const listedJson = await runCli(["instances", "list", "--limit", "1", "--json"], env);
    expect(listedJson.code, listedJson.stderr).toBe(0);
    const page = JSON.parse(listedJson.stdout);
    expect(page.data).toHaveLength(1);
    expect(typeof page.next_cursor).toBe("string");

    const shown = await runCli(["instances", "show", instance.id], env);
    expect(shown.code, shown.stderr).toBe(0);
    expect(shown.stdout).toMatch(new RegExp(`^id:\\s+${instance.id}$`, "m"));
    expect(shown.stdout).toMatch(/^transport:\s+sandbox$/m);

    const shownJson = await runCli(["instances", "show", instance.id, "--json"], env);
    expect(shownJson.stdout.trimEnd()).toBe((await api(`/v1/instances/${instance.id}`)).text);

    const deleted = await runCli(["instances", "delete", spareId], env);
    expect(deleted.code, deleted.stderr).toBe(0);
    expect(deleted.stdout.trim().split("\n")).toHaveLength(1);
    const gone = await runCli(["instances", "show", spareId], env);
    expect(gone.code).toBe(1);
    expect(gone.stderr).toContain("instance_not_found");
  });

  it("keys issue (scopes, instance, expiry) prints the secret once with the warning; show; revoke; the key is then refused", async () => {
    const instance = JSON.parse((await runCli(["instances", "create", "--name", "bound", "--json"], env)).stdout);
    const issued = await runCli(
      [
        "keys", "issue", "--name", "sender", "--instance", instance.id,
        "--scope", "deliveries:read", "--scope", "instances:read", "--expires-at", "2099-01-01T00:00:00Z",
      ],
      env,
    );
    expect(issued.code, issued.stderr).toBe(0);
    const lines = issued.stdout.split("\n");
    const secretLines = lines.filter((line) => /^zpk_live_[0-9A-Za-z]{49}$/.test(line));
    expect(secretLines).toHaveLength(1); // on its own line, once
    const secret = secretLines[0]!;
    expect(issued.stdout.split(secret)).toHaveLength(2);
    expect(issued.stdout).toMatch(/will not be shown again/);
    expect(issued.stdout).toContain(`instance: ${instance.id}`);
    expect(issued.stdout).toContain("deliveries:read, instances:read");
    const id = /id ([0-9a-f-]{36})/.exec(issued.stdout)![1]!;

    // The secret works, bound to its instance.
    const bound = { ...env, WHATISUP_API_KEY: secret };
    const deliveries = await runCli(["deliveries", "list", "--json"], bound);
    expect(deliveries.code, deliveries.stderr).toBe(0);
    expect(JSON.parse(deliveries.stdout)).toEqual({ data: [], next_cursor: null });
    const refused = await runCli(["keys", "list"], bound);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain("instance_scoped_key");
    expect(refused.stdout).toBe("");

    const shown = await runCli(["keys", "show", id], env);
    expect(shown.code, shown.stderr).toBe(0);
    expect(shown.stdout).toMatch(/^name:\s+sender$/m);
    expect(shown.stdout).toMatch(/^status:\s+active$/m);
    expect(shown.stdout).toMatch(/^scopes:\s+deliveries:read, instances:read$/m);
    expect(shown.stdout).toMatch(/^expires:\s+2099-01-01T00:00:00\.000Z \(in \d+ years\)$/m);
    expect(shown.stdout).toMatch(/^revoked:\s+no$/m);
    expect(shown.stdout).not.toContain(secret);

    const listed = await runCli(["keys", "list"], env);
    expect(listed.stdout).toMatch(new RegExp(`${id}.*sender\\s+${instance.id}\\s+deliveries:read,instances:read\\s+anywhere\\s+never\\s+in \\d+ years`));

    const revoked = await runCli(["keys", "revoke", id], env);
    expect(revoked.code, revoked.stderr).toBe(0);
    expect(revoked.stdout.trim().split("\n")).toHaveLength(1);
    expect(revoked.stdout).toContain(`Revoked key ${id}`);

    const afterRevoke = await runCli(["deliveries", "list"], bound);
    expect(afterRevoke.code).toBe(1);
    expect(afterRevoke.stderr).toContain("auth_expired");
    expect(afterRevoke.stderr).toMatch(/request id req_\S+/);
    expect(afterRevoke.stdout).toBe("");

    const shownRevoked = await runCli(["keys", "show", id], env);
    expect(shownRevoked.stdout).toMatch(/^status:\s+revoked$/m);
  });

  it("keys issue --json prints the API's 201 body; an escalation is refused with exit 1", async () => {
    const issued = await runCli(["keys", "issue", "--name", "script", "--scope", "api_keys:read", "--json"], env);
    expect(issued.code, issued.stderr).toBe(0);
    const key = JSON.parse(issued.stdout);
    expect(key).toMatchObject({ name: "script", scopes: ["api_keys:read"], instance_id: null });
    expect(key.secret).toMatch(/^zpk_live_/);
    const weak = { ...env, WHATISUP_API_KEY: key.secret };
    const escalated = await runCli(["keys", "issue", "--name", "stronger", "--scope", "*"], weak);
    expect(escalated.code).toBe(1);
    expect(escalated.stderr).toMatch(/insufficient_scope|scope_escalation/);
  });

  it("keys issue --mode test --allowed-ip …: a test key usable from the listed addresses only", async () => {
    const issued = await runCli(["keys", "issue", "--name", "ci", "--mode", "test", "--allowed-ip", "127.0.0.1", "--allowed-ip", "2001:DB8::/32", "--json"], env);
    expect(issued.code, issued.stderr).toBe(0);
    const key = JSON.parse(issued.stdout);
    expect(key).toMatchObject({ mode: "test", allowed_ips: ["127.0.0.1", "2001:db8::/32"] });
    expect(key.secret).toMatch(/^zpk_test_/);
    const shown = await runCli(["keys", "show", key.id], env);
    expect(shown.stdout).toMatch(/^mode:\s+test$/m);
    expect(shown.stdout).toMatch(/^allowed ips:\s+127\.0\.0\.1, 2001:db8::\/32$/m);
    const invalid = await runCli(["keys", "issue", "--name", "bad", "--allowed-ip", "10.0.0.1/33"], env);
    expect(invalid.code).toBe(1);
    expect(invalid.stderr).toContain("body.allowed_ips.0");
    const badMode = await runCli(["keys", "issue", "--name", "bad", "--mode", "prod"], env);
    expect(badMode.code).toBe(2);
  });

  it("keys current shows the key in use; keys roll prints the new secret once, and the old key is refused (or kept for --expires-in)", async () => {
    const issued = JSON.parse((await runCli(["keys", "issue", "--name", "rolling", "--scope", "api_keys:write", "--json"], env)).stdout);
    const own = { ...env, WHATISUP_API_KEY: issued.secret };
    const current = await runCli(["keys", "current"], own);
    expect(current.code, current.stderr).toBe(0);
    expect(current.stdout).toMatch(new RegExp(`^id:\\s+${issued.id}$`, "m"));
    expect(current.stdout).toMatch(/^name:\s+rolling$/m);
    expect(current.stdout).not.toContain(issued.secret);
    const currentJson = await runCli(["keys", "current", "--json"], own);
    expect(currentJson.stdout.trimEnd()).toBe((await api("/v1/api-keys/current", issued.secret)).text);

    const kept = await runCli(["keys", "roll", issued.id, "--expires-in", "3600"], own);
    expect(kept.code, kept.stderr).toBe(0);
    const keptSecrets = kept.stdout.split("\n").filter((line) => /^zpk_live_[0-9A-Za-z]{49}$/.test(line));
    expect(keptSecrets).toHaveLength(1);
    expect(kept.stdout).toMatch(/will not be shown again/);
    expect(kept.stdout).toMatch(/old key keeps working for at most 3600 s more/);
    expect((await runCli(["keys", "current"], own)).code).toBe(0);

    const successor = { ...env, WHATISUP_API_KEY: keptSecrets[0]! };
    const successorId = /id ([0-9a-f-]{36})\n/.exec(kept.stdout)![1]!;
    const rolled = await runCli(["keys", "roll", successorId, "--json"], successor);
    expect(rolled.code, rolled.stderr).toBe(0);
    const third = JSON.parse(rolled.stdout);
    expect(third).toMatchObject({ name: "rolling", scopes: ["api_keys:write"] });
    const refused = await runCli(["keys", "current"], successor);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain("auth_expired");
    const again = await runCli(["keys", "roll", issued.id], env);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain("api_key_not_active");
    const badOverlap = await runCli(["keys", "roll", third.id, "--expires-in", "1h"], env);
    expect(badOverlap.code).toBe(2);
    expect(badOverlap.stderr).toContain("--expires-in");
  });

  it("deliveries list: a table and --json {data, next_cursor}, with filters", async () => {
    const readable = await runCli(["deliveries", "list", "--status", "failed", "--limit", "5"], env);
    expect(readable.code, readable.stderr).toBe(0);
    expect(readable.stdout).toBe("No deliveries.\n");
    const json = await runCli(["deliveries", "list", "--event", "message.sent", "--json"], env);
    expect(json.code, json.stderr).toBe(0);
    expect(json.stdout.trimEnd()).toBe((await api("/v1/webhook-deliveries?event=message.sent")).text);
    expect(Object.keys(JSON.parse(json.stdout)).sort()).toEqual(["data", "next_cursor"]);
    const invalid = await runCli(["deliveries", "list", "--status", "lost"], env);
    expect(invalid.code).toBe(1);
    expect(invalid.stderr).toContain("validation_failed");
  });

  it("keys usage: a table of periods, --json exactly the API's body; a granularity it does not know exits 1", async () => {
    const readable = await runCli(
      ["keys", "usage", firstKey.id, "--granularity", "hour", "--from", "2026-12-01T10:30:00Z", "--to", "2026-12-01T13:00:00Z"],
      env,
    );
    expect(readable.code, readable.stderr).toBe(0);
    expect(readable.stdout.trimEnd().split("\n")).toEqual([
      expect.stringMatching(/^START\s+REQUESTS\s+REJECTED\s+RATE LIMITED$/),
      expect.stringMatching(/^2026-12-01T10:00:00\.000Z\s+0\s+0\s+0$/),
      expect.stringMatching(/^2026-12-01T11:00:00\.000Z\s+0\s+0\s+0$/),
      expect.stringMatching(/^2026-12-01T12:00:00\.000Z\s+0\s+0\s+0$/),
    ]);
    const query = "?from=2026-11-01T00:00:00Z&to=2026-11-08T00:00:00Z";
    const json = await runCli(["keys", "usage", firstKey.id, "--from", "2026-11-01T00:00:00Z", "--to", "2026-11-08T00:00:00Z", "--json"], env);
    expect(json.code, json.stderr).toBe(0);
    expect(json.stdout.trimEnd()).toBe((await api(`/v1/api-keys/${firstKey.id}/usage${query}`)).text);
    expect(JSON.parse(json.stdout).data).toHaveLength(7);
    const invalid = await runCli(["keys", "usage", firstKey.id, "--granularity", "week"], env);
    expect(invalid.code).toBe(1);
    expect(invalid.stderr).toContain("validation_failed");
  });

  it("usage errors exit 2 and say what is wrong", async () => {
    const unknown = await runCli(["keys", "rotate"], env);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('unknown subcommand "keys rotate"');
    const unknownOption = await runCli(["instances", "list", "--colour"], env);
    expect(unknownOption.code).toBe(2);
    const noName = await runCli(["keys", "issue"], env);
    expect(noName.code).toBe(2);
    expect(noName.stderr).toContain("--name is required");
    const noId = await runCli(["keys", "revoke"], env);
    expect(noId.code).toBe(2);
    expect(noId.stderr).toContain("missing ID");
    const { WHATISUP_API: _api, ...withoutApi } = env;
    const noApi = await runCli(["keys", "list"], withoutApi);
    expect(noApi.code).toBe(2);
    expect(noApi.stderr).toContain("WHATISUP_API is not set");
    const { WHATISUP_API_KEY: _key, ...withoutKey } = env;
    const noKey = await runCli(["instances", "list"], withoutKey);
    expect(noKey.code).toBe(2);
    expect(noKey.stderr).toContain("WHATISUP_API_KEY is not set");
  });

  it("an unreachable API exits 1 and says so", async () => {
    const port = await closedPort();
    const result = await runCli(["keys", "list"], { ...env, WHATISUP_API: `http://127.0.0.1:${port}` });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(`cannot reach the API at http://127.0.0.1:${port}`);
    expect(result.stdout).toBe("");
  });

  it("--help on every command and subcommand, without needing the API settings", async () => {
    const bare = { ...serverEnv };
    const top = await runCli(["--help"], bare);
    expect(top.code).toBe(0);
    for (const command of ["keys list", "instances create", "deliveries list"]) expect(top.stdout).toContain(`whatisup ${command}`);
    const cases: Array<[string[], string[]]> = [
      [["keys", "--help"], ["keys list", "keys show ID", "keys issue", "keys revoke ID"]],
      [["keys", "list", "--help"], ["--json"]],
      [["keys", "show", "--help"], ["--json"]],
      [["keys", "issue", "--help"], ["--name", "--instance", "--scope", "--expires-at", "--json"]],
      [["keys", "revoke", "--help"], ["without asking"]],
      [["keys", "roll", "--help"], ["--expires-in", "--json"]],
      [["keys", "current", "--help"], ["--json"]],
      [["keys", "usage", "--help"], ["--granularity", "--from", "--to", "--json"]],
      [["instances", "--help"], ["instances list", "instances show ID", "instances create", "instances delete ID"]],
      [["instances", "list", "--help"], ["--limit", "--cursor", "--json"]],
      [["instances", "show", "--help"], ["--json"]],
      [["instances", "create", "--help"], ["--name", "--transport", "--json"]],
      [["instances", "delete", "--help"], ["without asking"]],
      [["deliveries", "--help"], ["deliveries list"]],
      [["deliveries", "list", "--help"], ["--status", "--event", "--instance", "--limit", "--json"]],
    ];
    // All at once: one after the other, a process start each, they outlast the test's timeout on a busy machine.
    const results = await Promise.all(cases.map(([args]) => runCli(args, bare)));
    cases.forEach(([args, expected], index) => {
      const result = results[index]!;
      expect(result.code, `${args.join(" ")}: ${result.stderr}`).toBe(0);
      for (const text of expected) expect(result.stdout, args.join(" ")).toContain(text);
    });
  });
});
