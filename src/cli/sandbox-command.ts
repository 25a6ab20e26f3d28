import type { Message } from "@whatisup/client";
import { apiRequest, apiSettingsFromEnv, printRawBody } from "./api-client.js";
import { ENV_HELP, JSON_HELP, JSON_OPTION, parseCommand, runGroup, stringOption } from "./command-args.js";
import { terminalSafe } from "../format/human-readable.js";
import { contentOption, describeMessage, IDEMPOTENCY_HELP, idempotencyHeaders, MEDIA_OPTIONS, mediaBody, replayNote } from "./messages-command.js";
import { UsageError } from "./usage-error.js";

const INBOUND_USAGE = `whatisup sandbox inbound INSTANCE_ID --from +15557654321
         (--text TEXT | --image URL | --document URL [--filename NAME] | --audio URL | --video URL)
         [--caption TEXT] [--mime-type TYPE] [--reply-to MESSAGE_ID] [--idempotency-key KEY] [--json]`;

export const SANDBOX_HELP = `Usage: whatisup sandbox <subcommand>

  whatisup sandbox inbound INSTANCE_ID --from +15557654321 (--text TEXT | --image URL | ...) [--reply-to MESSAGE_ID]
                                               a sandbox instance receives a message, as if
                                               someone wrote to it (message.received follows)

Run "whatisup sandbox inbound --help" for its options.
${ENV_HELP}`;

export function runSandbox(argv: string[]): Promise<number> {
  return runGroup("sandbox", argv, SANDBOX_HELP, { inbound });
}

async function inbound(args: string[]): Promise<number> {
  const parsed = parseCommand(args, {
    usage: INBOUND_USAGE,
    help: `Plays the other side of a conversation: the sandbox instance INSTANCE_ID receives a message
from --from (POST /v1/instances/INSTANCE_ID/sandbox/inbound, scope messages:send). It is stored
as an inbound message and sent to the webhook endpoints subscribed to message.received. Only a
sandbox instance can (else instance_not_sandbox).

Options:
  --from NUMBER     the sender, E.164: + and 8 to 15 digits (required)
  one of:
  --text TEXT       a text message, 1 to 4096 characters
  --image URL       an image, --video URL a video, --audio URL an audio file, --document URL a
                    document, at an http(s) URL
  --caption TEXT    the caption of the image, video or document
  --filename NAME   the document's file name
  --mime-type TYPE  the file's content type, e.g. image/jpeg
  --reply-to ID     an outbound message of this instance that the message quotes
${IDEMPOTENCY_HELP}${JSON_HELP}${ENV_HELP}`,
    options: {
      ...JSON_OPTION,
      ...MEDIA_OPTIONS,
      from: { type: "string" },
      text: { type: "string" },
      "mime-type": { type: "string" },
      "reply-to": { type: "string" },
      "idempotency-key": { type: "string" },
    },
    positionals: ["INSTANCE_ID"],
  });
  if (!parsed) return 0;
  const instanceId = parsed.positionals[0]!;
  const from = stringOption(parsed, "from");
  if (from === undefined || from.trim() === "") throw new UsageError("--from is required", parsed.usage);
  const content = contentOption(parsed, ["text", "image", "document", "audio", "video"]);
  const body: Record<string, unknown> = { from, type: content.type };
  if (content.type === "text") body.text = content.value;
  const media = mediaBody(parsed, content, ["mime_type"]);
  if (media) body.media = media;
  const replyTo = stringOption(parsed, "reply-to");
  if (replyTo !== undefined) body.reply_to = replyTo;
  const response = await apiRequest<Message>(
    apiSettingsFromEnv(),
    "POST",
    `/v1/instances/${encodeURIComponent(instanceId)}/sandbox/inbound`,
    { body, headers: idempotencyHeaders(parsed) },
  );
  if (parsed.values.json) {
    printRawBody(response);
    return 0;
  }
  const message = response.body;
  process.stdout.write(
    `Received message ${terminalSafe(message.id)} from ${terminalSafe(message.from ?? "-")}.\n${replayNote(response)}\n${describeMessage(message, new Date())}`,
  );
  return 0;
}
