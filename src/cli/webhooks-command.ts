import type { CreatedWebhookEndpoint, WebhookEndpoint } from "@whatisup/client";
import { apiRequest, apiSettingsFromEnv, printRawBody } from "./api-client.js";
import {
  ENV_HELP,
  JSON_HELP,
  JSON_OPTION,
  listOption,
  parseCommand,
  requiredString,
  runGroup,
  stringOption,
  type ParsedCommand,
} from "./command-args.js";
import { absoluteAndRelative, keyValues, relativeTime, terminalSafe } from "../format/human-readable.js";
import { oneTimeSecretLines } from "./one-time-secret.js";
import { deleteResource, listResources, showResource } from "./resource-commands.js";
import { UsageError } from "./usage-error.js";
import { runWebhooksListen } from "./webhooks-listen.js";

/** What an endpoint subscribes to when --events is not given: every event, now and to come. */
const ALL_EVENTS = "*";

export const WEBHOOKS_HELP = `Usage: whatisup webhooks <subcommand>

  whatisup webhooks listen [--port 4000] [--secret whsec_...]
                                               a local receiver that prints each delivery
  whatisup webhooks listen --register [--port 4000] [--events E,...] [--instance ID]
                                               the same, with an endpoint created for it (and
                                               deleted when it stops); needs the API settings
  whatisup webhooks endpoints <subcommand>     list, show, create and delete webhook endpoints

Run "whatisup webhooks listen --help" or "whatisup webhooks endpoints --help" for more.
`;

export const ENDPOINTS_HELP = `Usage: whatisup webhooks endpoints <subcommand>

  whatisup webhooks endpoints list [--limit N] [--cursor C] [--json]
                                               the customer's webhook endpoints, newest first
  whatisup webhooks endpoints show ID [--json] one endpoint (never its secret)
  whatisup webhooks endpoints create --url URL [--events E,...] [--instance ID] [--json]
                                               a new endpoint; its signing secret is printed once
  whatisup webhooks endpoints delete ID [--json]
                                               delete an endpoint (no prompt)

Run "whatisup webhooks endpoints <subcommand> --help" for its options.
${ENV_HELP}`;

export function runWebhooks(argv: string[]): Promise<number> {
  return runGroup("webhooks", argv, WEBHOOKS_HELP, {
    listen,
    endpoints: (args) => runGroup("webhooks endpoints", args, ENDPOINTS_HELP, { list, show, create, delete: remove }),
  });
}

const EVENTS_HELP = `  --events E,...    the event types to receive, comma-separated (e.g.
                    message.delivered,message.failed); default: all of them ("*")`;

/** `--events a,b` (or repeated): the names as given, the server checks them; none means all. */
function eventsOption(parsed: ParsedCommand): string[] {
  const given = listOption(parsed, "events");
  if (given === undefined) return [ALL_EVENTS];
  const events = given.flatMap((value) => value.split(",")).map((event) => event.trim());
  if (events.some((event) => event === "")) throw new UsageError("--events must be event types separated by commas, none empty", parsed.usage);
  return events;
}

async function listen(args: string[]): Promise<number> {
  const parsed = parseCommand(args, {
    usage: "whatisup webhooks listen [--port 4000] [--secret whsec_... | --register [--events E,...] [--instance ID]]",
    help: `Receives webhooks on http://127.0.0.1:PORT/ and prints one line per delivery. Answers 200,
or 400 when the signature does not hold, so that the delivery log shows it. Stops on Ctrl-C.

  --port N          the port to listen on (default 4000; 0 picks a free one)
  --secret whsec_   check each delivery's signature with this endpoint secret (or the one in
                    WHATISUP_WEBHOOK_SECRET); without one, signatures are not checked

  --register        like "stripe listen": create a webhook endpoint pointing at this listener
                    (POST /v1/webhook-endpoints, scope webhooks:write), check every signature
                    with its secret (kept in memory, never printed), and delete the endpoint on
                    Ctrl-C or SIGTERM. Needs WHATISUP_API and WHATISUP_API_KEY, and a server on
                    this machine started with WEBHOOK_ALLOW_LOOPBACK=true: it refuses loopback
                    URLs otherwise.
${EVENTS_HELP}
  --instance ID     receive only this instance's events (default: every instance's)
`,
    options: {
      port: { type: "string", default: "4000" },
      secret: { type: "string" },
      register: { type: "boolean" },
      events: { type: "string", multiple: true },
      instance: { type: "string" },
    },
  });
  if (!parsed) return 0;
  const port = stringOption(parsed, "port")!;
  if (!/^\d+$/.test(port) || Number(port) > 65_535) throw new UsageError("--port must be a port number", parsed.usage);
  if (!parsed.values.register) {
    if (parsed.values.events !== undefined || parsed.values.instance !== undefined) {
      throw new UsageError("--events and --instance go with --register", parsed.usage);
    }
    return runWebhooksListen({ port: Number(port), secret: stringOption(parsed, "secret") ?? process.env.WHATISUP_WEBHOOK_SECRET });
  }
  if (parsed.values.secret !== undefined) {
    throw new UsageError("--register creates the endpoint and uses its secret: --secret goes without it", parsed.usage);
  }
  const events = eventsOption(parsed);
  const instanceId = stringOption(parsed, "instance");
  return runWebhooksListen({
    port: Number(port),
    register: { api: apiSettingsFromEnv(), events, ...(instanceId === undefined ? {} : { instanceId }) },
  });
}

function list(args: string[]): Promise<number> {
  return listResources<WebhookEndpoint>(args, {
    usage: "whatisup webhooks endpoints list [--limit N] [--cursor C] [--json]",
    help: `Lists the customer's webhook endpoints, newest first (GET /v1/webhook-endpoints).

Options:
  --limit N         at most N endpoints (1 to 100; the API's default: 50)
  --cursor C        the next page: the cursor the previous page ended with
${JSON_HELP}${ENV_HELP}`,
    path: "/v1/webhook-endpoints",
    empty: "No webhook endpoints.",
    columns: ["id", "url", "events", "instance", "created"],
    row: (endpoint, now) => [
      endpoint.id,
      endpoint.url,
      endpoint.events.join(","),
      endpoint.instance_id ?? "all",
      relativeTime(endpoint.created_at, now),
    ],
  });
}

function show(args: string[]): Promise<number> {
  return showResource(args, {
    usage: "whatisup webhooks endpoints show ID [--json]",
    help: `Shows one webhook endpoint (GET /v1/webhook-endpoints/ID); never its secret.\n\nOptions:\n${JSON_HELP}${ENV_HELP}`,
    path: (id) => `/v1/webhook-endpoints/${id}`,
    describe: describeEndpoint,
  });
}

function describeEndpoint(endpoint: WebhookEndpoint, now: Date): string {
  return keyValues([
    ["id", endpoint.id],
    ["url", endpoint.url],
    ["events", endpoint.events.join(", ")],
    ["instance", endpoint.instance_id ?? "all instances"],
    ["created", absoluteAndRelative(endpoint.created_at, now)],
  ]);
}

async function create(args: string[]): Promise<number> {
  const parsed = parseCommand(args, {
    usage: "whatisup webhooks endpoints create --url URL [--events E,...] [--instance ID] [--json]",
    help: `Creates a webhook endpoint (POST /v1/webhook-endpoints) and prints its signing secret
(whsec_...), this once: every delivery carries an X-WhatIsUp-Signature made with it.

Options:
  --url URL         where deliveries are POSTed (required): http(s), a public address
${EVENTS_HELP}
  --instance ID     receive only this instance's events (default: every instance's)
${JSON_HELP}${ENV_HELP}`,
    options: { ...JSON_OPTION, url: { type: "string" }, events: { type: "string", multiple: true }, instance: { type: "string" } },
  });
  if (!parsed) return 0;
  const body: Record<string, unknown> = { url: requiredString(parsed, "url"), events: eventsOption(parsed) };
  const instanceId = stringOption(parsed, "instance");
  if (instanceId !== undefined) body.instance_id = instanceId;
  const response = await apiRequest<CreatedWebhookEndpoint>(apiSettingsFromEnv(), "POST", "/v1/webhook-endpoints", { body });
  if (parsed.values.json) {
    printRawBody(response);
    return 0;
  }
  const endpoint = response.body;
  process.stdout.write(
    [
      `Created webhook endpoint ${terminalSafe(endpoint.id)} for ${terminalSafe(endpoint.url)}`,
      `  events:   ${terminalSafe(endpoint.events.join(", "))}`,
      `  instance: ${terminalSafe(endpoint.instance_id ?? "all instances")}`,
      // Only an idempotent replay answers without the secret, and this command never sends a key.
      ...(endpoint.secret === undefined
        ? []
        : oneTimeSecretLines("Its signing secret:", endpoint.secret, "Check each delivery's X-WhatIsUp-Signature with it (docs/webhooks.md).")),
    ].join("\n"),
  );
  return 0;
}

function remove(args: string[]): Promise<number> {
  return deleteResource(args, {
    usage: "whatisup webhooks endpoints delete ID [--json]",
    help: `Deletes a webhook endpoint (DELETE /v1/webhook-endpoints/ID) without asking: it receives no
more deliveries. It cannot be undone.

Options:
  --json            print the API's answer exactly (it has no body: nothing is printed)
${ENV_HELP}`,
    path: (id) => `/v1/webhook-endpoints/${id}`,
    done: (id) => `Deleted webhook endpoint ${id}: it receives no more deliveries.`,
  });
}
