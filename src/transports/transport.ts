import type { InstanceStatus, TransportName } from "../contract/instance.js";
import type { OutboundContent } from "../messages/message-repository.js";

/** What the client asked for when creating an instance, beyond its name. */
export type ConnectRequest = {
  /** The WhatsApp Business phone number id (Cloud API only); null when not given. */
  phoneNumberId: string | null;
};

/** How a new instance starts: what the transport found out while connecting it. */
export type Connection = {
  status: InstanceStatus;
  /** E.164, when the transport knows the number. */
  phoneNumber: string | null;
  /** The provider's id of the number (the Cloud API's phone_number_id), kept out of every answer. */
  providerPhoneNumberId: string | null;
};

/**
 * The seam between the API and WhatsApp, chosen per instance by `instances.transport`.
 *
 * Both transports share the message table and its state machine (`messages/message-states.ts`):
 * a message is stored `queued` by the API, and each transport moves it on in its own way:
 * - `sandbox`: the SandboxClock worker plays the lifecycle on a clock (no network);
 * - `cloud_api`: the MessagePump worker hands it to the Cloud API (`send` below), and Meta's
 *   signed status callbacks move it to sent, delivered, read or failed.
 */
export interface Transport {
  readonly name: TransportName;
  /**
   * Connects a new instance, before anything is written: its first status and number, or an
   * AppError (400 validation_failed) when the request cannot be honoured. May call the network,
   * so it runs outside any transaction.
   */
  connect(request: ConnectRequest): Promise<Connection>;
}

/** A message as a transport sends it. */
export type OutboundMessage = { to: string; content: OutboundContent };

/**
 * What became of one attempt to hand a message to the provider:
 * - `accepted`: the provider took it and gave it an id (its later states arrive by callback);
 * - `rejected`: the provider refused it for good (the message fails with `error`);
 * - `unavailable`: the provider could not be reached or failed on its side (try again later).
 */
export type SendOutcome =
  | { kind: "accepted"; providerMessageId: string }
  | { kind: "rejected"; error: string }
  | { kind: "unavailable"; error: string };

/** A transport that hands messages to a remote provider (the MessagePump drives it). */
export interface RemoteTransport extends Transport {
  send(providerPhoneNumberId: string, message: OutboundMessage): Promise<SendOutcome>;
}
