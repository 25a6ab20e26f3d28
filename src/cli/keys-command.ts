import type { ApiKey, ApiKeyUsage, IssuedApiKey } from "@whatisup/client";
import { apiRequest, apiSettingsFromEnv, printRawBody } from "./api-client.js";
import { ENV_HELP, JSON_HELP, JSON_OPTION, listOption, parseCommand, requiredString, runGroup, stringOption } from "./command-args.js";
import { absoluteAndRelative, keyStatus, keyValues, relativeTime, table, terminalSafe } from "../format/human-readable.js";
import { oneTimeSecretLines } from "./one-time-secret.js";
import { deleteResource, showResource } from "./resource-commands.js";
import { UsageError } from "./usage-error.js";


export const KEYS_HELP = `Usage: whatisup keys <subcommand>

  whatisup keys list [--json]                  the active keys (not revoked, not expired)
  whatisup keys show ID [--json]               one key, revoked or not
  whatisup keys issue --name NAME [--instance ID] [--scope S]... [--expires-at T]
                    [--mode live|test] [--allowed-ip IP]... [--json]
                                               a new key; its secret is printed once
  whatisup keys revoke ID [--json]             revoke a key at once (no prompt)
  whatisup keys roll ID [--expires-in SECONDS] [--json]
                                               a new key in place of this one; the old one
                                               stops working now or after SECONDS
  whatisup keys current [--json]               the key this command is using
  whatisup keys usage ID [--granularity hour|day] [--from T] [--to T] [--json]
                                               a key's requests per hour or day

Run "whatisup keys <subcommand> --help" for its options.
${ENV_HELP}`;

export function runKeys(argv: string[]): Promise<number> {
  return runGroup("keys", argv, KEYS_HELP, { list, show, issue, revoke, usage, roll, current });
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
      ["id", "prefix", "mode", "name", "instance", "scopes", "allowed ips", "last used", "expires", "created", "status"],
      response.body.map((key) => [
        key.id,
        key.prefix,
        key.mode,
        key.name,
        key.instance_id ?? "all",
        key.scopes.join(","),
        key.allowed_ips?.join(",") ?? "anywhere",
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
    ["mode", key.mode],
    ["status", keyStatus(key, now)],
    ["instance", key.instance_id ?? "all instances"],
    ["scopes", key.scopes.join(", ")],
    ["allowed ips", allowedIpsText(key)],
    ["last used", absoluteAndRelative(key.last_used_at, now)],
    ["expires", absoluteAndRelative(key.expires_at, now)],
    ["created", absoluteAndRelative(key.created_at, now)],
    ["revoked", absoluteAndRelative(key.revoked_at, now, "no")],
  ]);
}

function allowedIpsText(key: ApiKey): string {
  return key.allowed_ips?.join(", ") ?? "anywhere";
}

async function issue(args: string[]): Promise<number> {
  const parsed = parseCommand(args, {
    usage: "whatisup keys issue --name NAME [--instance ID] [--scope S]... [--expires-at T] [--mode live|test] [--allowed-ip IP]... [--json]",
    help: `Issues a new key (POST /v1/api-keys) and prints its secret, this once.

Options:
  --name NAME       what the key is for (required, up to 200 characters)
  --instance ID     bind the key to one instance, for good
  --scope S         a scope, e.g. messages:send; repeat for several (default: the issuing key's)
  --expires-at T    when it stops working: an ISO 8601 time such as 2027-06-30T00:00:00Z, or
                    "never" (default: the issuing key's expiry)
  --mode live|test  a test key can send only from sandbox instances (default: the issuing key's mode)
  --allowed-ip IP   an address or CIDR block the key may be used from, e.g. 203.0.113.0/24;
                    repeat for several (default: the issuing key's list; none: anywhere)
${JSON_HELP}${ENV_HELP}`,
    options: {
      ...JSON_OPTION,
      name: { type: "string" },
      instance: { type: "string" },
      scope: { type: "string", multiple: true },
      "expires-at": { type: "string" },
      mode: { type: "string" },
      "allowed-ip": { type: "string", multiple: true },
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
      throw new UsageError(`--expires-at must be an ISO 8601 time (e.g. 2027-06-30T00:00:00Z) or "never", got "${expiresAt}"`, parsed.usage);
    } else body.expires_at = expiresAt;
  }
  const mode = stringOption(parsed, "mode");
  if (mode !== undefined) {
    if (mode !== "live" && mode !== "test") throw new UsageError(`--mode must be live or test, got "${mode}"`, parsed.usage);
    body.mode = mode;
  }
  // Each address is the server's to check: it answers which entry is wrong, and why.
  const allowedIps = listOption(parsed, "allowed-ip");
  if (allowedIps !== undefined) body.allowed_ips = allowedIps;
  const response = await apiRequest<IssuedApiKey>(apiSettingsFromEnv(), "POST", "/v1/api-keys", { body });
  if (parsed.values.json) {
    printRawBody(response);
    return 0;
  }
  const key = response.body;
  printNewKey(`Issued ${key.mode} key`, key, [], "Its secret:");
  return 0;
}

/** A new key's settings and its secret, which is printed this once. */
function printNewKey(headline: string, key: IssuedApiKey, notes: string[], secretTitle: string): void {
  const now = new Date();
  process.stdout.write(
    [
      `${headline} "${terminalSafe(key.name)}" (${terminalSafe(key.prefix)}), id ${terminalSafe(key.id)}`,
      `  instance: ${terminalSafe(key.instance_id ?? "all instances")}`,
      `  scopes:   ${terminalSafe(key.scopes.join(", "))}`,
      `  from:     ${terminalSafe(allowedIpsText(key))}`,
      `  expires:  ${terminalSafe(absoluteAndRelative(key.expires_at, now))}`,
      ...notes,
      ...oneTimeSecretLines(secretTitle, key.secret, "It can be revoked, not recovered."),
    ].join("\n"),
  );
}

function revoke(args: string[]): Promise<number> {
  return deleteResource(args, {
    usage: "whatisup keys revoke ID [--json]",
    help: `Revokes a key at once (DELETE /v1/api-keys/ID), without asking: it stops working on the
next request. Revoking cannot be undone.

Options:
  --json            print the API's answer exactly (it has no body: nothing is printed)
${ENV_HELP}`,
    path: (id) => `/v1/api-keys/${id}`,
    done: (id) => `Revoked key ${id}: it is refused from now on.`,
  });
}

async function usage(args: string[]): Promise<number> {
  const parsed = parseCommand(args, {
    usage: "whatisup keys usage ID [--granularity hour|day] [--from T] [--to T] [--json]",
    help: `Shows a key's requests per period, oldest first (GET /v1/api-keys/ID/usage): all of
them, those answered 4xx or 5xx (rejected) and the 429s among those (rate limited). Periods
are UTC hours or days; a period with no request shows zeros.

Options:
  --granularity G   hour or day (default: day)
  --from T          an ISO 8601 time, rounded down to its period (default: 30 days before --to)
  --to T            an ISO 8601 time, exclusive (default: now)
${JSON_HELP}${ENV_HELP}`,
    options: { ...JSON_OPTION, granularity: { type: "string" }, from: { type: "string" }, to: { type: "string" } },
    positionals: ["ID"],
  });
  if (!parsed) return 0;
  const id = parsed.positionals[0]!;
  const response = await apiRequest<ApiKeyUsage>(apiSettingsFromEnv(), "GET", `/v1/api-keys/${encodeURIComponent(id)}/usage`, {
    query: { granularity: stringOption(parsed, "granularity"), from: stringOption(parsed, "from"), to: stringOption(parsed, "to") },
  });
  if (parsed.values.json) {
    printRawBody(response);
    return 0;
  }
  process.stdout.write(
    table(
      ["start", "requests", "rejected", "rate limited"],
      response.body.data.map((period) => [period.start, String(period.requests), String(period.rejected), String(period.rate_limited)]),
    ),
  );
  return 0;
}

async function roll(args: string[]): Promise<number> {
  const parsed = parseCommand(args, {
    usage: "whatisup keys roll ID [--expires-in SECONDS] [--json]",
    help: `Replaces a key (POST /v1/api-keys/ID/roll): a new key with the same name, scopes, instance,
mode, allowed addresses and expiry, whose secret is printed once. The old key is revoked at once,
or keeps working beside the new one for --expires-in seconds. A key can roll itself.

Options:
  --expires-in S    seconds the old key keeps working, 0 to 604800 (a week); default 0
${JSON_HELP}${ENV_HELP}`,
    options: { ...JSON_OPTION, "expires-in": { type: "string" } },
    positionals: ["ID"],
  });
  if (!parsed) return 0;
  const id = parsed.positionals[0]!;
  const expiresIn = stringOption(parsed, "expires-in");
  // The range is the server's to check; only text that is no whole number is refused here.
  if (expiresIn !== undefined && !/^\d+$/.test(expiresIn)) {
    throw new UsageError(`--expires-in must be a whole number of seconds, got "${expiresIn}"`, parsed.usage);
  }
  const overlap = expiresIn === undefined ? 0 : Number(expiresIn);
  const response = await apiRequest<IssuedApiKey>(apiSettingsFromEnv(), "POST", `/v1/api-keys/${encodeURIComponent(id)}/roll`, {
    body: { expires_in_seconds: overlap },
  });
  if (parsed.values.json) {
    printRawBody(response);
    return 0;
  }
  const key = response.body;
  const endOfOverlap = new Date(Date.now() + overlap * 1000).toISOString();
  printNewKey(
    `Rolled key ${terminalSafe(id)} into ${key.mode} key`,
    key,
    [overlap === 0 ? "The old key is revoked: it is refused from now on." : `The old key keeps working for at most ${overlap} s more, until ${endOfOverlap} at the latest.`],
    "The new key's secret:",
  );
  return 0;
}

async function current(args: string[]): Promise<number> {
  const parsed = parseCommand(args, {
    usage: "whatisup keys current [--json]",
    help: `Shows the key this command uses, from WHATISUP_API_KEY (GET /v1/api-keys/current); any
key may ask, and asking spends no rate-limit token.

Options:
${JSON_HELP}${ENV_HELP}`,
    options: JSON_OPTION,
  });
  if (!parsed) return 0;
  const response = await apiRequest<ApiKey>(apiSettingsFromEnv(), "GET", "/v1/api-keys/current");
  if (parsed.values.json) {
    printRawBody(response);
    return 0;
  }
  process.stdout.write(describeKey(response.body, new Date()));
  return 0;
}
