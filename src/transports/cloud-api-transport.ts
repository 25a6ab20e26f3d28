import type { CloudApiConfig } from "../config.js";
import { validationFailed } from "../errors/app-error.js";
import { CloudApiClient } from "./cloud-api-client.js";
import type { Connection, ConnectRequest, OutboundMessage, RemoteTransport, SendOutcome } from "./transport.js";

const E164 = /^\+[1-9][0-9]{7,14}$/;

/**
 * The WhatsApp Cloud API. Connecting verifies the phone number id with the API (so a typo is a
 * 400, not an instance that never sends); sending posts the message; Meta's callbacks
 * (routes/public/whatsapp-callbacks.ts) report sent, delivered, read and failed, and bring the
 * messages the number receives.
 */
export class CloudApiTransport implements RemoteTransport {
  readonly name = "cloud_api" as const;
  private readonly client: CloudApiClient | null;

  constructor(config: CloudApiConfig | null) {
    this.client = config === null ? null : new CloudApiClient(config);
  }

  get configured(): boolean {
    return this.client !== null;
  }

  async connect(request: ConnectRequest): Promise<Connection> {
    if (this.client === null) {
      throw validationFailed([{ field: "body.transport", message: "cloud_api is not configured on this server" }]);
    }
    if (request.phoneNumberId === null) {
      throw validationFailed([{ field: "body.phone_number_id", message: "is required with transport cloud_api" }]);
    }
    const result = await this.client.phoneNumber(request.phoneNumberId);
    if (result.ok) {
      return {
        status: "connected",
        phoneNumber: toE164(result.value.displayPhoneNumber),
        providerPhoneNumberId: request.phoneNumberId,
      };
    }
    if (!result.retryable) {
      // The API refused the number (unknown, or not reachable with this server's token): the
      // client's input is wrong, and creating an instance that can never send helps nobody.
      throw validationFailed([
        { field: "body.phone_number_id", message: `was not accepted by the WhatsApp Cloud API: ${result.message}` },
      ]);
    }
    // The API is down or slow: the instance exists, but as failed (sending answers 409). Delete
    // it and create it again once the Cloud API answers.
    return { status: "failed", phoneNumber: null, providerPhoneNumberId: request.phoneNumberId };
  }

  async send(providerPhoneNumberId: string, message: OutboundMessage): Promise<SendOutcome> {
    if (this.client === null) return { kind: "unavailable", error: "cloud_api is not configured on this server." };
    const result = await this.client.sendMessage(providerPhoneNumberId, message.to, message.content);
    if (result.ok) return { kind: "accepted", providerMessageId: result.value.messageId };
    return result.retryable ? { kind: "unavailable", error: result.message } : { kind: "rejected", error: result.message };
  }
}

/** Meta displays numbers as `+1 555-123-4567`; the API speaks E.164 (`+15551234567`). */
export function toE164(display: string | null): string | null {
  if (display === null) return null;
  const candidate = `+${display.replace(/\D/g, "")}`;
  return E164.test(candidate) ? candidate : null;
}
