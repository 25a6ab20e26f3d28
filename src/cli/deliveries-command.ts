import type { Page, WebhookDelivery } from "@whatisup/client";
import { apiRequest, apiSettingsFromEnv, printRawBody } from "./api-client.js";
import { ENV_HELP, JSON_HELP, JSON_OPTION, limitOption, parseCommand, runGroup, stringOption } from "./command-args.js";
import { relativeTime, table, terminalSafe } from "../format/human-readable.js";

/** The parts of a delivery the table shows (src/webhook-deliveries/webhook-delivery-schemas.ts). */

export const DELIVERIES_HELP = `Usage: whatisup deliveries <subcommand>

  whatisup deliveries list [--status S] [--event E] [--instance ID] [--limit N] [--cursor C] [--json]
                                               webhook deliveries, newest first

Run "whatisup deliveries list --help" for its options.
${ENV_HELP}`;

export function runDeliveries(argv: string[]): Promise<number> {
  return runGroup("deliveries", argv, DELIVERIES_HELP, { list });
}

async function list(args: string[]): Promise<number> {
  const parsed = parseCommand(args, {
    usage: "whatisup deliveries list [--status S] [--event E] [--instance ID] [--limit N] [--cursor C] [--json]",
    help: `Lists webhook deliveries, newest first (GET /v1/webhook-deliveries). A key bound to an
instance sees that instance's only.

Options:
  --status S        pending, success, failed or retrying
  --event E         an event type, e.g. message.delivered
  --instance ID     one instance's deliveries
  --limit N         at most N deliveries (1 to 100; the API's default: 50)
  --cursor C        the next page: the cursor the previous page ended with
${JSON_HELP}${ENV_HELP}`,
    options: {
      ...JSON_OPTION,
      status: { type: "string" },
      event: { type: "string" },
      instance: { type: "string" },
      limit: { type: "string" },
      cursor: { type: "string" },
    },
  });
  if (!parsed) return 0;
  const response = await apiRequest<Page<WebhookDelivery>>(apiSettingsFromEnv(), "GET", "/v1/webhook-deliveries", {
    query: {
      status: stringOption(parsed, "status"),
      event: stringOption(parsed, "event"),
      instance_id: stringOption(parsed, "instance"),
      limit: limitOption(parsed),
      cursor: stringOption(parsed, "cursor"),
    },
  });
  if (parsed.values.json) {
    printRawBody(response);
    return 0;
  }
  const { data, next_cursor } = response.body;
  if (data.length === 0) process.stdout.write("No deliveries.\n");
  else {
    const now = new Date();
    process.stdout.write(
      table(
        ["id", "event", "status", "attempts", "last answer", "instance", "created", "next attempt"],
        data.map((delivery) => [
          delivery.id,
          delivery.event,
          delivery.status,
          String(delivery.attempt_count),
          lastAnswer(delivery),
          delivery.instance_id ?? "-",
          relativeTime(delivery.created_at, now),
          relativeTime(delivery.next_attempt_at, now, "-"),
        ]),
      ),
    );
  }
  if (next_cursor !== null) process.stdout.write(`\nMore: repeat with --cursor ${terminalSafe(next_cursor)}\n`);
  return 0;
}

function lastAnswer(delivery: WebhookDelivery): string {
  if (delivery.last_response_status !== null) return `HTTP ${delivery.last_response_status}`;
  if (delivery.last_error !== null) return truncate(delivery.last_error, 40);
  return "-";
}

function truncate(text: string, length: number): string {
  return text.length <= length ? text : `${text.slice(0, length - 1)}…`;
}
