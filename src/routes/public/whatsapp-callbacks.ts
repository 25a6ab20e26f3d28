import { createHash, createHmac, timingSafeEqual } from "node:crypto";
import Type from "typebox";
import type { CloudApiConfig } from "../../config.js";
import type { MessageStatus } from "../../contract/message.js";
import { AppError, validationFailed } from "../../errors/app-error.js";
import type { App } from "../../http/app-types.js";
import { errorResponses } from "../../http/schemas.js";
import { applyProviderStatus } from "../../use-cases/advance-message.js";
import type { RouteDependencies } from "../route-dependencies.js";

/** Meta batches statuses; a callback is small, but allow well above our API's 64 KiB. */
export const CALLBACK_BODY_LIMIT_BYTES = 1024 * 1024;
const CALLBACK_PATH = "/webhooks/whatsapp";
const REPORTED: ReadonlySet<string> = new Set(["sent", "delivered", "read", "failed"]);

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
          operationId: "receiveWhatsAppStatuses",
          summary: "Status callbacks of the WhatsApp Cloud API, signed with X-Hub-Signature-256",
          tags: ["whatsapp-callbacks"],
          response: {
            200: Type.Object({ received: Type.Integer() }, { additionalProperties: false, description: "The statuses the callback held", examples: [{ received: 1 }] }),
            ...errorResponses("auth_missing", "auth_malformed", "auth_invalid", "validation_failed", "payload_too_large", "internal_error", "database_unavailable"),
          },
        },
      },
      async (request) => {
        const raw = Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0);
        verifyHubSignature(config, request.headers["x-hub-signature-256"], raw);
        let payload: unknown;
        try {
          payload = JSON.parse(raw.toString("utf8"));
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
        request.log.info({ statuses: reports.length, applied }, "cloud api callback");
        return { received: reports.length };
      },
    );
  });
}

/** One entry of `statuses[]`: a message's new state, as Meta reports it. */
export type StatusReport = { wamid: string; status: Exclude<MessageStatus, "queued">; error: string | null };

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
