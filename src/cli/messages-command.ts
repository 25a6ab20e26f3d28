import type { AcceptedMessage } from "@whatisup/client";
import { apiRequest, apiSettingsFromEnv, printRawBody } from "./api-client.js";
import { ENV_HELP, JSON_HELP, JSON_OPTION, parseCommand, requiredString, runGroup, stringOption } from "./command-args.js";
import { absoluteAndRelative, keyValues, terminalSafe } from "../format/human-readable.js";

export const MESSAGES_HELP = `Usage: whatisup messages <subcommand>

  whatisup messages send --instance ID --to +15551234567 --text TEXT [--client-ref REF] [--json]
                                               send a text message from an instance

Run "whatisup messages send --help" for its options.
${ENV_HELP}`;

export function runMessages(argv: string[]): Promise<number> {
  return runGroup("messages", argv, MESSAGES_HELP, { send });
}

async function send(args: string[]): Promise<number> {
  const parsed = parseCommand(args, {
    usage: "whatisup messages send --instance ID --to +15551234567 --text TEXT [--client-ref REF] [--json]",
    help: `Sends a text message from an instance (POST /v1/instances/ID/messages). The API answers as
soon as the message is stored and queued; its states (sent, delivered, read or failed) arrive
as webhook events (see "whatisup deliveries list").

Options:
  --instance ID     the instance to send from (required)
  --to NUMBER       the recipient, E.164: + and 8 to 15 digits (required)
  --text TEXT       the message, 1 to 4096 characters (required)
  --client-ref REF  your own reference, echoed in the message's events
${JSON_HELP}${ENV_HELP}`,
    options: {
      ...JSON_OPTION,
      instance: { type: "string" },
      to: { type: "string" },
      text: { type: "string" },
      "client-ref": { type: "string" },
    },
  });
  if (!parsed) return 0;
  const instanceId = requiredString(parsed, "instance");
  // The number and the text are the server's to check: it answers which field is wrong, and why.
  const body: Record<string, unknown> = { type: "text", to: requiredString(parsed, "to"), text: requiredString(parsed, "text") };
  const clientRef = stringOption(parsed, "client-ref");
  if (clientRef !== undefined) body.client_ref = clientRef;
  const response = await apiRequest<AcceptedMessage>(
    apiSettingsFromEnv(),
    "POST",
    `/v1/instances/${encodeURIComponent(instanceId)}/messages`,
    { body },
  );
  if (parsed.values.json) {
    printRawBody(response);
    return 0;
  }
  const message = response.body;
  process.stdout.write(
    `Accepted message ${terminalSafe(message.id)}: ${terminalSafe(message.status)}.\n\n${keyValues([
      ["id", message.id],
      ["instance", message.instance_id],
      ["to", message.to],
      ["type", message.type],
      ["status", message.status],
      ["client ref", message.client_ref ?? "-"],
      ["created", absoluteAndRelative(message.created_at, new Date())],
    ])}`,
  );
  return 0;
}
