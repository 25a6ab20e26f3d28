import type { WebhookDelivery, WebhookDeliveryAttempt, WebhookDeliveryDetail } from "@whatisup/client";
import { apiRequest, apiSettingsFromEnv, printRawBody } from "./api-client.js";
import { ENV_HELP, JSON_HELP, JSON_OPTION, parseCommand, runGroup, stringOption } from "./command-args.js";
import { absoluteAndRelative, keyValues, relativeTime, table, terminalSafe } from "../format/human-readable.js";
import { listResources, showResource } from "./resource-commands.js";

export const DELIVERIES_HELP = `Usage: whatisup deliveries <subcommand>

  whatisup deliveries list [--status S] [--event E] [--instance ID] [--limit N] [--cursor C] [--json]
                                               webhook deliveries, newest first
  whatisup deliveries show ID [--json]         one delivery: its attempts and its payload
  whatisup deliveries retry ID [--json]        attempt a delivery again, now (not one that succeeded)

Run "whatisup deliveries <subcommand> --help" for its options.
${ENV_HELP}`;

export function runDeliveries(argv: string[]): Promise<number> {
  return runGroup("deliveries", argv, DELIVERIES_HELP, { list, show, retry });
}

function list(args: string[]): Promise<number> {
  return listResources<WebhookDelivery>(args, {
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
    path: "/v1/webhook-deliveries",
    filters: {
      options: { status: { type: "string" }, event: { type: "string" }, instance: { type: "string" } },
      query: (parsed) => ({
        status: stringOption(parsed, "status"),
        event: stringOption(parsed, "event"),
        instance_id: stringOption(parsed, "instance"),
      }),
    },
    empty: "No deliveries.",
    columns: ["id", "event", "status", "attempts", "last answer", "instance", "created", "next attempt"],
    row: (delivery, now) => [
      delivery.id,
      delivery.event,
      delivery.status,
      String(delivery.attempt_count),
      lastAnswer(delivery),
      delivery.instance_id ?? "-",
      relativeTime(delivery.created_at, now),
      relativeTime(delivery.next_attempt_at, now, "-"),
    ],
  });
}

function show(args: string[]): Promise<number> {
  return showResource<WebhookDeliveryDetail>(args, {
    usage: "whatisup deliveries show ID [--json]",
    help: `Shows one webhook delivery (GET /v1/webhook-deliveries/ID): where it stands, its attempts
and the payload it sends, exactly as signed.

Options:
${JSON_HELP}${ENV_HELP}`,
    path: (id) => `/v1/webhook-deliveries/${id}`,
    describe: (delivery, now) =>
      `${describeDelivery(delivery, now)}\n${describeAttempts(delivery, now)}\npayload:\n${indentedJson(delivery.payload)}`,
  });
}

async function retry(args: string[]): Promise<number> {
  const parsed = parseCommand(args, {
    usage: "whatisup deliveries retry ID [--json]",
    help: `Makes a pending, retrying or failed delivery due at once (POST /v1/webhook-deliveries/ID/retry):
the next attempt starts within moments, and a failed delivery gets one attempt more. A delivery
that succeeded is refused (delivery_not_retryable). Needs the webhooks:write scope.

Options:
${JSON_HELP}${ENV_HELP}`,
    options: JSON_OPTION,
    positionals: ["ID"],
  });
  if (!parsed) return 0;
  const id = parsed.positionals[0]!;
  const response = await apiRequest<WebhookDelivery>(apiSettingsFromEnv(), "POST", `/v1/webhook-deliveries/${encodeURIComponent(id)}/retry`);
  if (parsed.values.json) {
    printRawBody(response);
    return 0;
  }
  process.stdout.write(`Queued delivery ${terminalSafe(id)} for an attempt now.\n\n${describeDelivery(response.body, new Date())}`);
  return 0;
}

function describeDelivery(delivery: WebhookDelivery, now: Date): string {
  return keyValues([
    ["id", delivery.id],
    ["event", delivery.event],
    ["event id", delivery.event_id],
    ["status", delivery.status],
    ["endpoint", delivery.endpoint_id],
    ["instance", delivery.instance_id ?? "-"],
    ["attempts", String(delivery.attempt_count)],
    ["last answer", delivery.last_response_status === null ? "-" : `HTTP ${delivery.last_response_status}`],
    ["last error", delivery.last_error ?? "-"],
    ["next attempt", absoluteAndRelative(delivery.next_attempt_at, now, "-")],
    ["delivered", absoluteAndRelative(delivery.delivered_at, now, "-")],
    ["created", absoluteAndRelative(delivery.created_at, now)],
  ]);
}

/** The attempt log, oldest first; the API keeps the newest 100, and none made before the log existed. */
function describeAttempts(delivery: WebhookDeliveryDetail, now: Date): string {
  if (delivery.attempts.length === 0) return delivery.attempt_count === 0 ? "attempt log: none yet\n" : "attempt log: none kept\n";
  const missing = delivery.attempt_count - delivery.attempts.length;
  const note = missing > 0 ? `(the ${missing} oldest of ${delivery.attempt_count} attempts are not kept)\n` : "";
  const rows = delivery.attempts.map((attempt) => [
    `#${attempt.number}`,
    absoluteAndRelative(attempt.started_at, now),
    attempt.response_status === null ? "no response" : `HTTP ${attempt.response_status}`,
    attempt.success ? "success" : "failure",
    `${durationMs(attempt)} ms`,
    attempt.error ?? "-",
  ]);
  return `attempt log:\n${note}${table(["attempt", "started", "answer", "result", "took", "error"], rows)}`;
}

function durationMs(attempt: WebhookDeliveryAttempt): number {
  return Math.max(0, Date.parse(attempt.finished_at) - Date.parse(attempt.started_at));
}

/**
 * The payload as indented JSON. JSON escapes the C0 controls but leaves DEL, the C1 controls and
 * the bidi overrides as they are: each line is made terminalSafe too.
 */
function indentedJson(value: unknown): string {
  return `${JSON.stringify(value, null, 2)
    .split("\n")
    .map((line) => `  ${terminalSafe(line)}`)
    .join("\n")}\n`;
}

function lastAnswer(delivery: WebhookDelivery): string {
  if (delivery.last_response_status !== null) return `HTTP ${delivery.last_response_status}`;
  if (delivery.last_error !== null) return truncate(delivery.last_error, 40);
  return "-";
}

function truncate(text: string, length: number): string {
  return text.length <= length ? text : `${text.slice(0, length - 1)}…`;
}
