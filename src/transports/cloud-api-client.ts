import type { CloudApiConfig } from "../config.js";
import { storableText } from "../format/storable-text.js";
import type { OutboundContent } from "../messages/message-repository.js";

/** A Cloud API answer: the value, or why not (never with the access token in it). */
export type CloudApiResult<T> =
  | { ok: true; value: T }
  | {
      ok: false;
      /** True for what may succeed later: network errors, timeouts, 5xx, 408 and 429. */
      retryable: boolean;
      /** The HTTP status, or null when no answer came. */
      status: number | null;
      message: string;
    };

export type PhoneNumberInfo = { displayPhoneNumber: string | null; verifiedName: string | null };

/** Timeouts: verifying a number happens inside an API request, so it must be short. */
export const VERIFY_TIMEOUT_MS = 5_000;
export const SEND_TIMEOUT_MS = 10_000;
const MAX_ERROR_LENGTH = 300;

/**
 * The little of the WhatsApp Cloud API (Graph API) this server uses: reading a business phone
 * number and sending a message (text, media by link, or template). The access token travels only
 * in the Authorization header; error texts are built from the API's own error message and
 * scrubbed of the token anyway.
 */
export class CloudApiClient {
  constructor(private readonly config: CloudApiConfig) {}

  /** GET /{version}/{phone_number_id}?fields=display_phone_number,verified_name */
  async phoneNumber(phoneNumberId: string): Promise<CloudApiResult<PhoneNumberInfo>> {
    const result = await this.call("GET", `${encodeURIComponent(phoneNumberId)}?fields=display_phone_number,verified_name`, undefined, VERIFY_TIMEOUT_MS);
    if (!result.ok) return result;
    const body = result.value as { display_phone_number?: unknown; verified_name?: unknown } | null;
    return {
      ok: true,
      value: {
        displayPhoneNumber: typeof body?.display_phone_number === "string" ? body.display_phone_number : null,
        verifiedName: typeof body?.verified_name === "string" ? body.verified_name : null,
      },
    };
  }

  /** POST /{version}/{phone_number_id}/messages with a message of any type; the answer's wamid. */
  async sendMessage(phoneNumberId: string, to: string, content: OutboundContent): Promise<CloudApiResult<{ messageId: string }>> {
    const payload = {
      messaging_product: "whatsapp",
      recipient_type: "individual",
      to: to.replace(/^\+/, ""),
      ...cloudApiContent(content),
    };
    const result = await this.call("POST", `${encodeURIComponent(phoneNumberId)}/messages`, payload, SEND_TIMEOUT_MS);
    if (!result.ok) return result;
    const id = (result.value as { messages?: { id?: unknown }[] } | null)?.messages?.[0]?.id;
    if (typeof id !== "string" || id === "") {
      // Accepted (2xx) but without an id: sending again could send twice, so this is final.
      return { ok: false, retryable: false, status: 200, message: "The Cloud API accepted the message without returning its id." };
    }
    return { ok: true, value: { messageId: id } };
  }

  private async call(method: "GET" | "POST", path: string, payload: unknown, timeoutMs: number): Promise<CloudApiResult<unknown>> {
    const url = `${this.config.baseUrl}/${encodeURIComponent(this.config.version)}/${path}`;
    let response: Response;
    try {
      response = await fetch(url, {
        method,
        headers: {
          authorization: `Bearer ${this.config.accessToken}`,
          accept: "application/json",
          ...(payload === undefined ? {} : { "content-type": "application/json" }),
        },
        ...(payload === undefined ? {} : { body: JSON.stringify(payload) }),
        signal: AbortSignal.timeout(timeoutMs),
        redirect: "error",
      });
    } catch (error) {
      const timedOut = error instanceof Error && (error.name === "TimeoutError" || error.name === "AbortError");
      return {
        ok: false,
        retryable: true,
        status: null,
        message: timedOut ? `The Cloud API did not answer within ${timeoutMs} ms.` : "The Cloud API could not be reached.",
      };
    }
    let body: unknown = null;
    try {
      body = JSON.parse(await response.text());
    } catch {
      body = null;
    }
    if (response.ok) return { ok: true, value: body };
    const status = response.status;
    return {
      ok: false,
      retryable: status >= 500 || status === 408 || status === 429,
      status,
      message: this.scrub(describeError(status, body)),
    };
  }

  /** Defence in depth: whatever the API echoes, the token never leaves this class. */
  private scrub(text: string): string {
    const token = this.config.accessToken;
    const clean = token.length > 0 ? text.split(token).join("[redacted]") : text;
    return clean.length > MAX_ERROR_LENGTH ? `${clean.slice(0, MAX_ERROR_LENGTH - 1)}…` : clean;
  }
}

/** `Cloud API error 131030 (HTTP 400): Recipient phone number not in allowed list`. */
function describeError(status: number, body: unknown): string {
  const error = (body as { error?: { message?: unknown; code?: unknown; error_data?: { details?: unknown } } } | null)?.error;
  const details = typeof error?.error_data?.details === "string" ? error.error_data.details : null;
  const message = typeof error?.message === "string" ? error.message : null;
  const code = typeof error?.code === "number" || typeof error?.code === "string" ? ` ${String(error.code)}` : "";
  const text = message ?? details ?? "no error message";
  return storableText(`Cloud API error${code} (HTTP ${status}): ${text}`);
}

/**
 * A message's type and its object, as the Cloud API takes them: media by `link` (WhatsApp
 * fetches it), with a caption where the type has one and a filename for documents; a template by
 * name, language code and the components given.
 */
export function cloudApiContent(content: OutboundContent): Record<string, unknown> {
  switch (content.type) {
    case "text":
      return { type: "text", text: { body: content.text, preview_url: false } };
    case "template": {
      const { name, language, components } = content.template;
      return { type: "template", template: { name, language: { code: language }, ...(components ? { components } : {}) } };
    }
    default: {
      const { url, caption, filename } = content.media;
      const media: Record<string, string> = { link: url ?? "" };
      if (caption !== null && content.type !== "audio") media.caption = caption;
      if (filename !== null && content.type === "document") media.filename = filename;
      return { type: content.type, [content.type]: media };
    }
  }
}
