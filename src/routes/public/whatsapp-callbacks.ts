import { createHash, createHmac, timingSafeEqual } from "node:crypto";
import Type from "typebox";
import type { CloudApiConfig } from "../../config.js";
import { E164_PATTERN, MEDIA_TYPES, type MediaType, type MessageMedia, type OutboundStatus } from "../../contract/message.js";
import { AppError, validationFailed } from "../../errors/app-error.js";
import { storableText } from "../../format/storable-text.js";
import type { App } from "../../http/app-types.js";
import { errorResponses } from "../../http/schemas.js";
import { findLiveInstanceByProviderNumber } from "../../instances/instance-repository.js";
import { nowTimestamp, toTimestamp } from "../../time/timestamps.js";
import { applyProviderStatus } from "../../use-cases/advance-message.js";
import { receiveMessage } from "../../use-cases/receive-message.js";
import type { Writer } from "../../use-cases/write.js";
import type { RouteDependencies } from "../route-dependencies.js";

/** Meta batches statuses; a callback is small, but allow well above our API's 64 KiB. */
export const CALLBACK_BODY_LIMIT_BYTES = 1024 * 1024;
const CALLBACK_PATH = "/webhooks/whatsapp";
const REPORTED: ReadonlySet<string> = new Set(["sent", "delivered", "read", "failed"]);
const E164 = new RegExp(E164_PATTERN);
const STORED_MEDIA: ReadonlySet<string> = new Set(MEDIA_TYPES);

/**
 * The WhatsApp Cloud API's callbacks: public (Meta calls them, with no API key), so they live at
 * the root, outside the authenticated /v1 context, in their own encapsulated plugin whose body
 * parser keeps the raw bytes: the signature covers the bytes as sent, not a re-serialization.
 * Without a Cloud API configuration the routes do not exist (404 not_found).
 */
export function registerWhatsAppCallbacks(
  app: App,
  { cloudApi: config, write }: Pick<RouteDependencies, "cloudApi" | "write">,
): void {
  if (config === null) return;
  app.register(async (scope: App) => {
    // Every body arrives raw, whatever its content type: nothing is parsed, and no 415 or 400 is
    // answered, before the signature is checked.
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser("*", { parseAs: "buffer", bodyLimit: CALLBACK_BODY_LIMIT_BYTES }, (_request, body, done) => {
      done(null, body);
    });

    scope.get(
      CALLBACK_PATH,
      {
        schema: {
          operationId: "verifyWhatsAppSubscription",
          summary: "Meta's webhook subscription handshake (hub.challenge)",
          tags: ["whatsapp-callbacks"],
          produces: ["text/plain"],
          querystring: Type.Object({
            "hub.mode": Type.Optional(Type.String()),
            "hub.verify_token": Type.Optional(Type.String()),
            "hub.challenge": Type.Optional(Type.String({ maxLength: 200 })),
          }),
          response: {
            200: Type.String({ description: "hub.challenge, echoed", examples: ["1158201444"] }),
            ...errorResponses("verification_failed", "validation_failed", "internal_error"),
          },
        },
      },
      async (request, reply) => {
        const query = request.query;
        const challenge = query["hub.challenge"];
        if (
          query["hub.mode"] !== "subscribe" ||
          challenge === undefined ||
          !sameSecret(query["hub.verify_token"] ?? "", config.verifyToken)
        ) {
          throw new AppError("verification_failed", "hub.mode must be subscribe and hub.verify_token must match.");
        }
        return reply
          .code(200)
          .header("content-type", "text/plain; charset=utf-8")
          .header("x-content-type-options", "nosniff")
          .send(challenge);
      },
    );

    scope.post(
      CALLBACK_PATH,
      {
        bodyLimit: CALLBACK_BODY_LIMIT_BYTES,
        schema: {
          // Named when it carried statuses only; operationIds never change (docs/openapi.md).
          operationId: "receiveWhatsAppStatuses",
          summary: "Callbacks of the WhatsApp Cloud API (statuses and inbound messages), signed with X-Hub-Signature-256",
          tags: ["whatsapp-callbacks"],
          response: {
            200: Type.Object(
              {
                received: Type.Integer({ description: "The statuses the callback held, known or not" }),
                messages: Type.Integer({
                  description:
                    "The inbound messages it held: each stored once however often Meta repeats it; types other than text, image, document, audio and video are acknowledged and not stored",
                }),
              },
              { additionalProperties: false, description: "What the callback held", examples: [{ received: 1, messages: 2 }] },
            ),
            ...errorResponses("auth_missing", "auth_malformed", "auth_invalid", "validation_failed", "payload_too_large", "internal_error", "database_unavailable"),
          },
        },
      },
      async (request) => {
        const raw = Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0);
        verifyHubSignature(config, request.headers["x-hub-signature-256"], raw);
        let payload: unknown;
        try {
          // Every string made storable as it is parsed: a text PostgreSQL cannot store would fail
          // the callback with a 500, and Meta would repeat it, with the rest of its batch, for days.
          payload = JSON.parse(raw.toString("utf8"), (_key, value: unknown) => (typeof value === "string" ? storableText(value) : value));
        } catch {
          throw validationFailed([{ field: "body", message: "is not valid JSON" }]);
        }
        const reports = statusReports(payload);
        let applied = 0;
        for (const report of reports) {
          const moved = await write(null, (w) =>
            applyProviderStatus(w, { providerMessageId: report.wamid, to: report.status, error: report.error }),
          );
          if (moved) applied += 1;
        }
        const inbound = inboundMessages(payload);
        for (const type of inbound.ignoredTypes) {
          request.log.debug({ type }, "cloud api callback: message not stored");
        }
        const outcomes = { stored: 0, repeated: 0, unknown_number: 0 };
        // One at a time, in Meta's order: a conversation's messages are stored in the order sent.
        for (const message of inbound.messages) outcomes[await receiveInbound(write, message)] += 1;
        request.log.info(
          { statuses: reports.length, applied, messages: inbound.held, ignored: inbound.ignoredTypes.length, ...outcomes },
          "cloud api callback",
        );
        return { received: reports.length, messages: inbound.held };
      },
    );
  });
}

/** One entry of `statuses[]`: a message's new state, as Meta reports it. */
export type StatusReport = { wamid: string; status: Exclude<OutboundStatus, "queued">; error: string | null };

/** Picks every known status out of entry[].changes[].value.statuses[]; ignores the rest. */
export function statusReports(payload: unknown): StatusReport[] {
  const reports: StatusReport[] = [];
  for (const entry of arrayOf((payload as { entry?: unknown } | null)?.entry)) {
    for (const change of arrayOf((entry as { changes?: unknown } | null)?.changes)) {
      const value = (change as { value?: { statuses?: unknown } } | null)?.value;
      for (const status of arrayOf(value?.statuses)) {
        const { id, status: state, errors } = (status ?? {}) as { id?: unknown; status?: unknown; errors?: unknown };
        if (typeof id !== "string" || typeof state !== "string" || !REPORTED.has(state)) continue;
        reports.push({
          wamid: id,
          status: state as StatusReport["status"],
          error: state === "failed" ? describeErrors(errors) : null,
        });
      }
    }
  }
  return reports;
}

/** One entry of `messages[]` that becomes an inbound message: what a user wrote to a business number. */
export type InboundReport = {
  /** The business number it was written to (`metadata.phone_number_id`). */
  phoneNumberId: string;
  wamid: string;
  /** E.164. */
  from: string;
  type: "text" | MediaType;
  text: string | null;
  media: MessageMedia | null;
  /** The wamid of the message it quotes (`context.id`). */
  replyToWamid: string | null;
  receivedAt: string;
};

/**
 * Picks the messages out of entry[].changes[].value.messages[]. Text and the four media types
 * become inbound messages (a file by its Cloud API media id: its URL needs the business's access
 * token, so none is given); every other type (sticker, location, reaction, interactive, button,
 * unsupported, …) is acknowledged and ignored, and so is an entry without an id or whose sender
 * is not a phone number (a user known only by a username). `held` counts every entry.
 */
export function inboundMessages(payload: unknown): { messages: InboundReport[]; ignoredTypes: string[]; held: number } {
  const messages: InboundReport[] = [];
  const ignoredTypes: string[] = [];
  let held = 0;
  for (const entry of arrayOf((payload as { entry?: unknown } | null)?.entry)) {
    for (const change of arrayOf((entry as { changes?: unknown } | null)?.changes)) {
      const value = (change as { value?: { messages?: unknown; metadata?: { phone_number_id?: unknown } } } | null)?.value;
      const phoneNumberId = value?.metadata?.phone_number_id;
      for (const message of arrayOf(value?.messages)) {
        held += 1;
        const report = typeof phoneNumberId === "string" ? inboundReport(phoneNumberId, message) : undefined;
        if (report) messages.push(report);
        else ignoredTypes.push(typeName(message));
      }
    }
  }
  return { messages, ignoredTypes, held };
}

type MetaMessage = {
  id?: unknown;
  from?: unknown;
  timestamp?: unknown;
  type?: unknown;
  text?: { body?: unknown };
  context?: { id?: unknown };
} & Record<string, unknown>;

function inboundReport(phoneNumberId: string, entry: unknown): InboundReport | undefined {
  const message = (entry ?? {}) as MetaMessage;
  const { id, type } = message;
  // Meta gives the sender's number as digits (`16505551234`); with a username only, no number.
  const from = typeof message.from === "string" ? `+${message.from.replace(/^\+/, "")}` : "";
  if (typeof id !== "string" || id === "" || !E164.test(from) || typeof type !== "string") return undefined;
  const base = {
    phoneNumberId,
    wamid: id,
    from,
    replyToWamid: typeof message.context?.id === "string" ? message.context.id : null,
    receivedAt: receivedAt(message.timestamp),
  };
  if (type === "text") {
    const body = message.text?.body;
    return typeof body === "string" && body !== "" ? { ...base, type, text: body, media: null } : undefined;
  }
  if (!STORED_MEDIA.has(type)) return undefined;
  const file = message[type] as { id?: unknown; mime_type?: unknown; caption?: unknown; filename?: unknown } | undefined;
  if (typeof file?.id !== "string" || file.id === "") return undefined;
  return {
    ...base,
    type: type as MediaType,
    text: null,
    media: {
      url: null,
      caption: stringOrNull(file.caption),
      filename: type === "document" ? stringOrNull(file.filename) : null,
      mime_type: stringOrNull(file.mime_type),
      provider_media_id: file.id,
    },
  };
}

/** Meta's `timestamp` is unix seconds, as a string; without a usable one, the time it arrived. */
function receivedAt(timestamp: unknown): string {
  const seconds = typeof timestamp === "string" && /^\d{1,12}$/.test(timestamp) ? Number(timestamp) : Number.NaN;
  return Number.isFinite(seconds) && seconds > 0 ? toTimestamp(seconds * 1000) : nowTimestamp();
}

function stringOrNull(value: unknown): string | null {
  return typeof value === "string" && value !== "" ? value : null;
}

/** For the log only: the type as Meta named it, bounded (never the message's content). */
function typeName(entry: unknown): string {
  const type = (entry as { type?: unknown } | null)?.type;
  return typeof type === "string" ? type.slice(0, 40) : "unknown";
}

/**
 * Stores one inbound message for the live instance holding its business number, in one write. A
 * number no live instance holds (another app's, a deleted instance's) is not ours to store.
 */
async function receiveInbound(write: Writer, report: InboundReport): Promise<"stored" | "repeated" | "unknown_number"> {
  return write(null, async (w) => {
    const instance = await findLiveInstanceByProviderNumber(w.tx, report.phoneNumberId);
    if (!instance) return "unknown_number";
    const received = await receiveMessage(w, {
      customerId: instance.customer_id,
      instanceId: instance.id,
      from: report.from,
      type: report.type,
      text: report.text,
      media: report.media,
      replyTo: report.replyToWamid === null ? null : { providerMessageId: report.replyToWamid },
      providerMessageId: report.wamid,
      receivedAt: report.receivedAt,
    });
    return received ? "stored" : "repeated";
  });
}

function describeErrors(errors: unknown): string {
  const first = arrayOf(errors)[0] as
    | { code?: unknown; title?: unknown; message?: unknown; error_data?: { details?: unknown } }
    | undefined;
  if (!first) return "WhatsApp reported the message as failed.";
  const text = [first.error_data?.details, first.message, first.title].find((part) => typeof part === "string") as
    | string
    | undefined;
  const code = typeof first.code === "number" || typeof first.code === "string" ? ` ${String(first.code)}` : "";
  return `WhatsApp error${code}: ${text ?? "no details"}`.slice(0, 300);
}

function arrayOf(value: unknown): unknown[] {
  return Array.isArray(value) ? value : [];
}

/**
 * `X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the raw body under the app secret>`, compared
 * in constant time. Missing: 401 auth_missing; not of that shape: auth_malformed; wrong:
 * auth_invalid.
 */
function verifyHubSignature(config: CloudApiConfig, header: string | string[] | undefined, raw: Buffer): void {
  if (header === undefined || header === "") {
    throw new AppError("auth_missing", "The X-Hub-Signature-256 header is missing.");
  }
  const match = typeof header === "string" ? /^sha256=([0-9a-f]{64})$/i.exec(header.trim()) : null;
  if (!match) {
    throw new AppError("auth_malformed", "The X-Hub-Signature-256 header must be sha256=<64 hex digits>.");
  }
  const expected = createHmac("sha256", config.appSecret).update(raw).digest();
  if (!timingSafeEqual(Buffer.from(match[1]!, "hex"), expected)) {
    throw new AppError("auth_invalid", "The X-Hub-Signature-256 signature does not match the body.");
  }
}

/** Constant-time comparison of two texts of any lengths (their digests are compared). */
function sameSecret(given: string, expected: string): boolean {
  const digest = (text: string) => createHash("sha256").update(text, "utf8").digest();
  return timingSafeEqual(digest(given), digest(expected));
}
