import type { Instance } from "@whatisup/client";
import { apiRequest, apiSettingsFromEnv, printRawBody } from "./api-client.js";
import { deleteResource, listResources, showResource } from "./resource-commands.js";
import {
  ENV_HELP,
  JSON_HELP,
  JSON_OPTION,
  parseCommand,
  requiredString,
  runGroup,
  stringOption,
} from "./command-args.js";
import { absoluteAndRelative, keyValues, relativeTime, terminalSafe } from "../format/human-readable.js";

/** An instance as the API shows it (src/instances/instance-schemas.ts). */

export const INSTANCES_HELP = `Usage: whatisup instances <subcommand>

  whatisup instances list [--limit N] [--cursor C] [--json]
                                               the customer's instances, newest first
  whatisup instances show ID [--json]          one instance
  whatisup instances create --name NAME [--transport sandbox|cloud_api] [--phone-number-id N] [--json]
                                               a new instance (sandbox by default)
  whatisup instances delete ID [--json]        delete an instance and revoke its bound keys (no prompt)

Run "whatisup instances <subcommand> --help" for its options.
${ENV_HELP}`;

export function runInstances(argv: string[]): Promise<number> {
  return runGroup("instances", argv, INSTANCES_HELP, { list, show, create, delete: remove });
}

function list(args: string[]): Promise<number> {
  return listResources<Instance>(args, {
    usage: "whatisup instances list [--limit N] [--cursor C] [--json]",
    help: `Lists the customer's instances, newest first (GET /v1/instances).

Options:
  --limit N         at most N instances (1 to 100; the API's default: 50)
  --cursor C        the next page: the cursor the previous page ended with
${JSON_HELP}${ENV_HELP}`,
    path: "/v1/instances",
    empty: "No instances.",
    columns: ["id", "name", "transport", "status", "phone number", "created"],
    row: (instance, now) => [
      instance.id,
      instance.name,
      instance.transport,
      instance.status,
      instance.phone_number ?? "-",
      relativeTime(instance.created_at, now),
    ],
  });
}

function show(args: string[]): Promise<number> {
  return showResource(args, {
    usage: "whatisup instances show ID [--json]",
    help: `Shows one instance (GET /v1/instances/ID).\n\nOptions:\n${JSON_HELP}${ENV_HELP}`,
    path: (id) => `/v1/instances/${id}`,
    describe: describeInstance,
  });
}

function describeInstance(instance: Instance, now: Date): string {
  return keyValues([
    ["id", instance.id],
    ["name", instance.name],
    ["transport", instance.transport],
    ["status", instance.status],
    ["phone number", instance.phone_number ?? "-"],
    ["created", absoluteAndRelative(instance.created_at, now)],
    ["updated", absoluteAndRelative(instance.updated_at, now)],
  ]);
}

async function create(args: string[]): Promise<number> {
  const parsed = parseCommand(args, {
    usage: "whatisup instances create --name NAME [--transport sandbox|cloud_api] [--phone-number-id N] [--json]",
    help: `Creates an instance (POST /v1/instances).

Options:
  --name NAME            its name (required, up to 200 characters)
  --transport T          sandbox (the default: no network, no WhatsApp account) or cloud_api
  --phone-number-id N    the WhatsApp Business phone number id (cloud_api only)
${JSON_HELP}${ENV_HELP}`,
    options: { ...JSON_OPTION, name: { type: "string" }, transport: { type: "string" }, "phone-number-id": { type: "string" } },
  });
  if (!parsed) return 0;
  const body: Record<string, unknown> = { name: requiredString(parsed, "name") };
  const transport = stringOption(parsed, "transport");
  if (transport !== undefined) body.transport = transport;
  const phoneNumberId = stringOption(parsed, "phone-number-id");
  if (phoneNumberId !== undefined) body.phone_number_id = phoneNumberId;
  const response = await apiRequest<Instance>(apiSettingsFromEnv(), "POST", "/v1/instances", { body });
  if (parsed.values.json) {
    printRawBody(response);
    return 0;
  }
  process.stdout.write(`Created instance "${terminalSafe(response.body.name)}".\n\n${describeInstance(response.body, new Date())}`);
  return 0;
}

function remove(args: string[]): Promise<number> {
  return deleteResource(args, {
    usage: "whatisup instances delete ID [--json]",
    help: `Deletes an instance (DELETE /v1/instances/ID) without asking, and revokes every key bound
to it. It cannot be undone.

Options:
  --json            print the API's answer exactly (it has no body: nothing is printed)
${ENV_HELP}`,
    path: (id) => `/v1/instances/${id}`,
    done: (id) => `Deleted instance ${id}; the keys bound to it are revoked.`,
  });
}
