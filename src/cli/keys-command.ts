import type { ApiKey, IssuedApiKey } from "../client/index.js";
import { apiRequest, apiSettingsFromEnv, printRawBody } from "./api-client.js";
import { ENV_HELP, JSON_HELP, JSON_OPTION, listOption, parseCommand, requiredString, runGroup, stringOption } from "./command-args.js";
import { absoluteAndRelative, keyStatus, keyValues, relativeTime, table, terminalSafe } from "../format/human-readable.js";
import { showResource } from "./show-command.js";
import { UsageError } from "./usage-error.js";


export const KEYS_HELP = `Usage: whatisup keys <subcommand>

  whatisup keys list [--json]                  the active keys (not revoked, not expired)
  whatisup keys show ID [--json]               one key, revoked or not
  whatisup keys issue --name NAME [--instance ID] [--scope S]... [--expires-at T] [--json]
                                               a new key; its secret is printed once
  whatisup keys revoke ID [--json]             revoke a key at once (no prompt)

Run "whatisup keys <subcommand> --help" for its options.
${ENV_HELP}`;

export function runKeys(argv: string[]): Promise<number> {
  return runGroup("keys", argv, KEYS_HELP, { list, show, issue, revoke });
}

async function list(args: string[]): Promise<number> {
  const parsed = parseCommand(args, {
    usage: "whatisup keys list [--json]",
    help: `Lists the customer's active keys, newest first (GET /v1/api-keys).\n\nOptions:\n${JSON_HELP}${ENV_HELP}`,
    options: JSON_OPTION,
  });
  if (!parsed) return 0;
  const response = await apiRequest<ApiKey[]>(apiSettingsFromEnv(), "GET", "/v1/api-keys");
  if (parsed.values.json) {
    printRawBody(response);
    return 0;
  }
  if (response.body.length === 0) {
    process.stdout.write("No active keys.\n");
    return 0;
  }
  const now = new Date();
  process.stdout.write(
    table(
      ["id", "prefix", "name", "instance", "scopes", "last used", "expires", "created", "status"],
      response.body.map((key) => [
        key.id,
        key.prefix,
        key.name,
        key.instance_id ?? "all",
        key.scopes.join(","),
        relativeTime(key.last_used_at, now),
        relativeTime(key.expires_at, now),
        relativeTime(key.created_at, now),
        keyStatus(key, now),
      ]),
    ),
  );
  return 0;
}

function show(args: string[]): Promise<number> {
  return showResource(args, {
    usage: "whatisup keys show ID [--json]",
    help: `Shows one key (GET /v1/api-keys/ID); never its secret.\n\nOptions:\n${JSON_HELP}${ENV_HELP}`,
    path: (id) => `/v1/api-keys/${id}`,
    describe: describeKey,
  });
}

function describeKey(key: ApiKey, now: Date): string {
  return keyValues([
    ["id", key.id],
    ["name", key.name],
    ["prefix", key.prefix],
    ["status", keyStatus(key, now)],
    ["instance", key.instance_id ?? "all instances"],
    ["scopes", key.scopes.join(", ")],
    ["last used", absoluteAndRelative(key.last_used_at, now)],
    ["expires", absoluteAndRelative(key.expires_at, now)],
    ["created", absoluteAndRelative(key.created_at, now)],
    ["revoked", absoluteAndRelative(key.revoked_at, now, "no")],
  ]);
}

async function issue(args: string[]): Promise<number> {
  const parsed = parseCommand(args, {
    usage: "whatisup keys issue --name NAME [--instance ID] [--scope S]... [--expires-at T] [--json]",
    help: `Issues a new key (POST /v1/api-keys) and prints its secret, this once.

Options:
  --name NAME       what the key is for (required, up to 200 characters)
  --instance ID     bind the key to one instance, for good
  --scope S         a scope, e.g. messages:send; repeat for several (default: the issuing key's)
  --expires-at T    when it stops working: an ISO 8601 time such as 2027-06-30T00:00:00Z, or
                    "never" (default: the issuing key's expiry)
${JSON_HELP}${ENV_HELP}`,
    options: {
      ...JSON_OPTION,
      name: { type: "string" },
      instance: { type: "string" },
      scope: { type: "string", multiple: true },
      "expires-at": { type: "string" },
    },
  });
  if (!parsed) return 0;
  const name = requiredString(parsed, "name");
  const body: Record<string, unknown> = { name };
  const instance = stringOption(parsed, "instance");
  if (instance !== undefined) body.instance_id = instance;
  const scopes = listOption(parsed, "scope");
  if (scopes !== undefined) body.scopes = scopes;
  const expiresAt = stringOption(parsed, "expires-at");
  if (expiresAt !== undefined) {
    if (expiresAt === "never") body.expires_at = null;
    else if (Number.isNaN(Date.parse(expiresAt))) {
      throw new UsageError(`--expires-at must be an ISO 8601 time (e.g. 2027-06-30T00:00:00Z) or "never", got "${expiresAt}"`);
    } else body.expires_at = expiresAt;
  }
  const response = await apiRequest<IssuedApiKey>(apiSettingsFromEnv(), "POST", "/v1/api-keys", { body });
  if (parsed.values.json) {
    printRawBody(response);
    return 0;
  }
  const key = response.body;
  const now = new Date();
  process.stdout.write(
    [
      `Issued key "${terminalSafe(key.name)}" (${terminalSafe(key.prefix)}), id ${terminalSafe(key.id)}`,
      `  instance: ${terminalSafe(key.instance_id ?? "all instances")}`,
      `  scopes:   ${terminalSafe(key.scopes.join(", "))}`,
      `  expires:  ${terminalSafe(absoluteAndRelative(key.expires_at, now))}`,
      "",
      "Its secret:",
      "",
      terminalSafe(key.secret),
      "",
      "Save it now: this secret will not be shown again. It can be revoked, not recovered.",
      "",
    ].join("\n"),
  );
  return 0;
}

async function revoke(args: string[]): Promise<number> {
  const parsed = parseCommand(args, {
    usage: "whatisup keys revoke ID [--json]",
    help: `Revokes a key at once (DELETE /v1/api-keys/ID), without asking: it stops working on the
next request. Revoking cannot be undone.

Options:
  --json            print the API's answer exactly (it has no body: nothing is printed)
${ENV_HELP}`,
    options: JSON_OPTION,
    positionals: ["ID"],
  });
  if (!parsed) return 0;
  const id = parsed.positionals[0]!;
  const response = await apiRequest<null>(apiSettingsFromEnv(), "DELETE", `/v1/api-keys/${encodeURIComponent(id)}`);
  if (parsed.values.json) {
    printRawBody(response);
    return 0;
  }
  process.stdout.write(`Revoked key ${terminalSafe(id)}: it is refused from now on.\n`);
  return 0;
}
