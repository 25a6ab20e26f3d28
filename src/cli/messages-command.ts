import type { AcceptedMessage, Message } from "@whatisup/client";
import { apiRequest, apiSettingsFromEnv, printRawBody, type ApiResponse } from "./api-client.js";
import { ENV_HELP, JSON_HELP, JSON_OPTION, parseCommand, runGroup, stringOption, type ParsedCommand } from "./command-args.js";
import { absoluteAndRelative, keyValues, terminalSafe } from "../format/human-readable.js";
import { listResources, showResource } from "./resource-commands.js";
import { UsageError } from "./usage-error.js";

const SEND_USAGE = `whatisup messages send INSTANCE_ID --to +15551234567
         (--text TEXT | --image URL | --document URL [--filename NAME] | --audio URL | --video URL
          | --template NAME --language CODE [--components JSON])
         [--caption TEXT] [--client-ref REF] [--idempotency-key KEY] [--json]`;

export const MESSAGES_HELP = `Usage: whatisup messages <subcommand>

  whatisup messages send INSTANCE_ID --to +15551234567 (--text TEXT | --image URL | ... | --template NAME ...)
                                               send a message from an instance
  whatisup messages list INSTANCE_ID [--direction inbound|outbound] [--status S] [--limit N] [--cursor C] [--json]
                                               an instance's messages, both ways, newest first
  whatisup messages show INSTANCE_ID MESSAGE_ID [--json]
                                               one message, its status and when it reached it

Run "whatisup messages <subcommand> --help" for its options.
${ENV_HELP}`;

export function runMessages(argv: string[]): Promise<number> {
  return runGroup("messages", argv, MESSAGES_HELP, { send, list, show });
}

const MEDIA_KINDS = ["image", "document", "audio", "video"] as const;
/**
 * The options that say what a media message holds (`--image URL` … `--video URL`, each named after
 * the type it makes) and the two that describe its file.
 */
export const MEDIA_OPTIONS = {
  ...Object.fromEntries(MEDIA_KINDS.map((kind) => [kind, { type: "string" }] as const)),
  caption: { type: "string" },
  filename: { type: "string" },
} as const;

export const IDEMPOTENCY_HELP = `  --idempotency-key KEY
                    sent as the Idempotency-Key header: a retry with the same key and the
                    same options gets the first answer again instead of doing it twice
`;

/**
 * The one content option given among `kinds` (`--text`, `--image`, ...): the message's type and
 * the option's value. None or two of them is a usage error; the value itself is the server's to check.
 */
export function contentOption(parsed: ParsedCommand, kinds: readonly string[]): { type: string; value: string } {
  const given = kinds.filter((kind) => stringOption(parsed, kind) !== undefined);
  const names = kinds.map((kind) => `--${kind}`);
  const choices = `${names.slice(0, -1).join(", ")} or ${names.at(-1)}`;
  if (given.length === 0) throw new UsageError(`one of ${choices} is required`, parsed.usage);
  if (given.length > 1) throw new UsageError(`give only one of ${choices}, not ${given.map((kind) => `--${kind}`).join(" and ")}`, parsed.usage);
  const type = given[0]!;
  const value = stringOption(parsed, type)!;
  if (value.trim() === "") throw new UsageError(`--${type} is empty`, parsed.usage);
  return { type, value };
}

/** `{url, caption?, filename?, ...}` of a media message; the options that only media take are refused without one. */
export function mediaBody(parsed: ParsedCommand, content: { type: string; value: string }, extra: string[] = []): Record<string, string> | undefined {
  const fields = ["caption", "filename", ...extra];
  if (!(MEDIA_KINDS as readonly string[]).includes(content.type)) {
    const misplaced = fields.find((field) => stringOption(parsed, optionName(field)) !== undefined);
    if (misplaced) throw new UsageError(`--${optionName(misplaced)} is for a media message (--image, --document, --audio or --video)`, parsed.usage);
    return undefined;
  }
  // Which media type takes a caption or a file name is the server's rule: it names the field it refuses.
  const media: Record<string, string> = { url: content.value };
  for (const field of fields) {
    const value = stringOption(parsed, optionName(field));
    if (value !== undefined) media[field] = value;
  }
  return media;
}

function optionName(field: string): string {
  return field.replaceAll("_", "-");
}

/**
 * `--idempotency-key KEY` as the request's header. Checked here, as the API would: a control or
 * non-ASCII character cannot go in a header as it is, and spaces around it would be cut off.
 */
export function idempotencyHeaders(parsed: ParsedCommand): Record<string, string> | undefined {
  const key = stringOption(parsed, "idempotency-key");
  if (key === undefined) return undefined;
  if (!/^[\x20-\x7e]{1,255}$/.test(key) || key.trim() !== key) {
    throw new UsageError("--idempotency-key must be 1 to 255 printable ASCII characters, without spaces around them", parsed.usage);
  }
  return { "idempotency-key": key };
}

/** The sentence added when the API answered a retry with the first request's answer. */
export function replayNote(response: ApiResponse<unknown>): string {
  return response.headers.get("idempotent-replayed") === "true"
    ? "A replay: this Idempotency-Key was used before, so this is its first answer and nothing was done again.\n"
    : "";
}

/**
 * `--instance ID` was the first way to name the instance: scripts that use it keep working, and
 * then no INSTANCE_ID argument is expected.
 */
function namesInstanceByOption(args: string[]): boolean {
  return args.some((arg) => arg === "--instance" || arg.startsWith("--instance="));
}

async function send(args: string[]): Promise<number> {
  const byOption = namesInstanceByOption(args);
  const parsed = parseCommand(args, {
    usage: SEND_USAGE,
    help: `Sends a message from an instance (POST /v1/instances/INSTANCE_ID/messages, scope
messages:send). The API answers as soon as the message is stored and queued; its states (sent,
delivered, read or failed) arrive as webhook events, and "whatisup messages show" reads it back.

Options:
  --to NUMBER       the recipient, E.164: + and 8 to 15 digits (required)
  one of:
  --text TEXT       a text message, 1 to 4096 characters
  --image URL       an image, --video URL a video, --audio URL an audio file, --document URL a
                    document: an http(s) URL WhatsApp fetches (no loopback or private address)
  --template NAME   an approved template, with --language CODE (e.g. en_US) and optionally
                    --components JSON: its components as a JSON array, as the Cloud API takes them
  --caption TEXT    the caption of an image, video or document
  --filename NAME   the file name a document is shown with
  --client-ref REF  your own reference, echoed in the message's events
${IDEMPOTENCY_HELP}${JSON_HELP}
The instance may also be given as --instance ID (the older form), instead of INSTANCE_ID.
${ENV_HELP}`,
    options: {
      ...JSON_OPTION,
      ...MEDIA_OPTIONS,
      instance: { type: "string" },
      to: { type: "string" },
      text: { type: "string" },
      template: { type: "string" },
      language: { type: "string" },
      components: { type: "string" },
      "client-ref": { type: "string" },
      "idempotency-key": { type: "string" },
    },
    positionals: byOption ? [] : ["INSTANCE_ID"],
  });
  if (!parsed) return 0;
  const instanceId = byOption ? stringOption(parsed, "instance") : parsed.positionals[0];
  if (instanceId === undefined || instanceId.trim() === "") throw new UsageError("missing INSTANCE_ID", parsed.usage);
  const to = stringOption(parsed, "to");
  if (to === undefined || to.trim() === "") throw new UsageError("--to is required", parsed.usage);
  const content = contentOption(parsed, ["text", ...MEDIA_KINDS, "template"]);
  // The number, the text and the URL are the server's to check: it answers which field is wrong, and why.
  const body: Record<string, unknown> = { type: content.type, to };
  if (content.type === "text") body.text = content.value;
  const media = mediaBody(parsed, content);
  if (media) body.media = media;
  const template = templateBody(parsed, content);
  if (template) body.template = template;
  const clientRef = stringOption(parsed, "client-ref");
  if (clientRef !== undefined) body.client_ref = clientRef;
  const response = await apiRequest<AcceptedMessage>(
    apiSettingsFromEnv(),
    "POST",
    `/v1/instances/${encodeURIComponent(instanceId)}/messages`,
    { body, headers: idempotencyHeaders(parsed) },
  );
  if (parsed.values.json) {
    printRawBody(response);
    return 0;
  }
  const message = response.body;
  process.stdout.write(
    `Accepted message ${terminalSafe(message.id)}: ${terminalSafe(message.status)}.\n${replayNote(response)}\n${keyValues([
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

/** `{name, language, components?}` with --template; --language and --components only with it. */
function templateBody(parsed: ParsedCommand, content: { type: string; value: string }): Record<string, unknown> | undefined {
  const language = stringOption(parsed, "language");
  const components = stringOption(parsed, "components");
  if (content.type !== "template") {
    if (language !== undefined) throw new UsageError("--language is for a template message (--template)", parsed.usage);
    if (components !== undefined) throw new UsageError("--components is for a template message (--template)", parsed.usage);
    return undefined;
  }
  if (language === undefined || language.trim() === "") throw new UsageError("--language is required with --template", parsed.usage);
  const template: Record<string, unknown> = { name: content.value, language };
  if (components !== undefined) {
    try {
      template.components = JSON.parse(components);
    } catch {
      throw new UsageError("--components must be JSON, e.g. '[{\"type\":\"body\",\"parameters\":[{\"type\":\"text\",\"text\":\"4821\"}]}]'", parsed.usage);
    }
  }
  return template;
}

function list(args: string[]): Promise<number> {
  return listResources<Message>(args, {
    usage: "whatisup messages list INSTANCE_ID [--direction inbound|outbound] [--status S] [--limit N] [--cursor C] [--json]",
    help: `Lists an instance's messages, sent and received, newest first
(GET /v1/instances/INSTANCE_ID/messages, scope messages:read).

Options:
  --direction D     inbound (received by the instance) or outbound (sent from it)
  --status S        queued, sent, delivered, read, failed, or received (every inbound message)
  --limit N         at most N messages (1 to 100; the API's default: 50)
  --cursor C        the next page: the cursor the previous page ended with
${JSON_HELP}${ENV_HELP}`,
    positionals: ["INSTANCE_ID"],
    path: (instanceId) => `/v1/instances/${instanceId}/messages`,
    filters: {
      options: { direction: { type: "string" }, status: { type: "string" } },
      query: (parsed) => ({ direction: stringOption(parsed, "direction"), status: stringOption(parsed, "status") }),
    },
    empty: "No messages.",
    columns: ["id", "created", "direction", "from/to", "type", "status", "content"],
    row: (message) => [
      message.id,
      message.created_at,
      message.direction,
      (message.direction === "inbound" ? message.from : message.to) ?? "-",
      message.type,
      message.status,
      preview(message),
    ],
  });
}

const PREVIEW_LENGTH = 40;

/** The start of what a message says: its text, its caption, its file or its template. */
function preview(message: Message): string {
  const full =
    message.text ??
    message.media?.caption ??
    message.media?.filename ??
    (message.template ? `template ${message.template.name} (${message.template.language})` : null) ??
    "-";
  // Cut in code points, not UTF-16 units, so that an emoji is never split; table() escapes the rest.
  const characters = [...full];
  return characters.length <= PREVIEW_LENGTH ? full : `${characters.slice(0, PREVIEW_LENGTH - 1).join("")}…`;
}

function show(args: string[]): Promise<number> {
  return showResource<Message>(args, {
    usage: "whatisup messages show INSTANCE_ID MESSAGE_ID [--json]",
    help: `Shows one message of an instance (GET /v1/instances/INSTANCE_ID/messages/MESSAGE_ID, scope
messages:read): what it says, its status and when it reached each state.

Options:
${JSON_HELP}${ENV_HELP}`,
    positionals: ["INSTANCE_ID", "MESSAGE_ID"],
    path: (instanceId, messageId) => `/v1/instances/${instanceId}/messages/${messageId}`,
    describe: describeMessage,
  });
}

/** A message, sent or received, as `label: value` lines (the fields it does not have left out). */
export function describeMessage(message: Message, now: Date): string {
  const pairs: Array<[string, string]> = [
    ["id", message.id],
    ["instance", message.instance_id],
    ["direction", message.direction],
    ["from", message.from ?? "-"],
    ["to", message.to ?? "-"],
    ["type", message.type],
    ["status", message.status],
  ];
  if (message.text !== null) pairs.push(["text", message.text]);
  if (message.media) {
    pairs.push(["media url", message.media.url ?? "-"]);
    if (message.media.caption !== null) pairs.push(["caption", message.media.caption]);
    if (message.media.filename !== null) pairs.push(["filename", message.media.filename]);
    if (message.media.mime_type !== null) pairs.push(["mime type", message.media.mime_type]);
    if (message.media.provider_media_id !== null) pairs.push(["media id", message.media.provider_media_id]);
  }
  if (message.template) {
    pairs.push(["template", `${message.template.name} (${message.template.language})`]);
    if (message.template.components) pairs.push(["components", JSON.stringify(message.template.components)]);
  }
  if (message.reply_to !== null) pairs.push(["reply to", message.reply_to]);
  pairs.push(["client ref", message.client_ref ?? "-"]);
  if (message.error !== null) pairs.push(["error", message.error]);
  const times: Array<[string, string | null]> = [
    ["sent", message.sent_at],
    ["delivered", message.delivered_at],
    ["read", message.read_at],
    ["failed", message.failed_at],
    ["received", message.received_at],
  ];
  for (const [label, at] of times) if (at !== null) pairs.push([label, absoluteAndRelative(at, now)]);
  pairs.push(["created", absoluteAndRelative(message.created_at, now)], ["updated", absoluteAndRelative(message.updated_at, now)]);
  return keyValues(pairs);
}
