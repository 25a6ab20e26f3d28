import { toTimestamp } from "../time/timestamps.js";
import type { CloudApiConfig } from "../config.js";
import type { Db } from "../db/schema.js";
import type { Writer } from "../use-cases/write.js";
import { CloudApiTransport } from "../transports/cloud-api-transport.js";
import type { RemoteTransport } from "../transports/transport.js";
import type { Worker } from "./worker-loop.js";
import { advanceMessage } from "../use-cases/advance-message.js";
import {
  claimCloudApiMessages,
  providerPhoneNumberIds,
  recordProviderMessageId,
  releaseClaim,
  type ClaimedMessage,
} from "../messages/message-repository.js";

export type MessagePumpOptions = {
  /** How many messages one run claims. */
  batchSize: number;
  /** How long a claim lasts; must exceed the send timeout (10 s) by far, or a slow send is sent twice. */
  leaseMs: number;
  /** After the provider failed on its side (5xx, 408, 429, no answer): wait this long, then try again. */
  retryDelayMs: number;
  /** ...until the message is this old: then it fails with the last error. */
  giveUpAfterMs: number;
};

export const DEFAULT_PUMP_OPTIONS: MessagePumpOptions = {
  batchSize: 20,
  leaseMs: 60_000,
  retryDelayMs: 5_000,
  giveUpAfterMs: 10 * 60_000,
};

/**
 * Hands queued cloud_api messages to the WhatsApp Cloud API. Each message is claimed with a lease
 * (`claimed_until`, one statement), so several nodes can run the pump without sending a message
 * twice; the claim ends when the API's answer is recorded:
 * - accepted: its wamid is stored (`provider_message_id`); the message stays `queued` until the
 *   status callback says `sent`;
 * - refused (4xx other than 408 and 429): `failed`, with the API's error, and `message.failed`;
 * - unavailable (5xx, 408, 429, network error, timeout): the claim becomes a delay
 *   (`retryDelayMs`) and the message is tried again, until it is `giveUpAfterMs` old; then it
 *   fails with the last error. A crash mid-send leaves the lease to expire, and the message is
 *   tried again after `leaseMs`.
 */
export class MessagePump implements Worker {
  readonly name = "message-pump";
  private readonly transport: RemoteTransport & { readonly configured: boolean };
  private readonly options: MessagePumpOptions;

  constructor(
    private readonly deps: { db: Db; write: Writer; cloudApi: CloudApiConfig | null },
    options: Partial<MessagePumpOptions> = {},
  ) {
    this.transport = new CloudApiTransport(deps.cloudApi);
    this.options = { ...DEFAULT_PUMP_OPTIONS, ...options };
  }

  async runOnce(): Promise<number> {
    if (!this.transport.configured) return 0;
    const now = Date.now();
    const claimed = await claimCloudApiMessages(
      this.deps.db,
      toTimestamp(now),
      toTimestamp(now + this.options.leaseMs),
      this.options.batchSize,
    );
    if (claimed.length === 0) return 0;
    const numbers = await providerPhoneNumberIds(
      this.deps.db,
      claimed.map((message) => message.instance_id),
    );
    await Promise.all(claimed.map((message) => this.sendOne(message, numbers.get(message.instance_id) ?? null)));
    return claimed.length;
  }

  private async sendOne(message: ClaimedMessage, phoneNumberId: string | null): Promise<void> {
    const { db } = this.deps;
    if (phoneNumberId === null) {
      await this.fail(message, "The instance has no Cloud API phone number id.");
      return;
    }
    const outcome = await this.transport.send(phoneNumberId, { to: message.to, content: message.content });
    switch (outcome.kind) {
      case "accepted":
        await recordProviderMessageId(db, message.customer_id, message.id, outcome.providerMessageId, toTimestamp(Date.now()));
        return;
      case "rejected":
        await this.fail(message, outcome.error);
        return;
      case "unavailable": {
        const age = Date.now() - Date.parse(message.created_at);
        if (age >= this.options.giveUpAfterMs) {
          await this.fail(message, `Gave up after ${Math.round(age / 1000)} s of retries. Last error: ${outcome.error}`);
          return;
        }
        await releaseClaim(db, message.customer_id, message.id, message.claimed_until, toTimestamp(Date.now() + this.options.retryDelayMs));
        return;
      }
    }
  }

  private async fail(message: ClaimedMessage, error: string): Promise<void> {
    await this.deps.write(null, (w) =>
      advanceMessage(w, { customerId: message.customer_id, id: message.id, to: "failed", from: ["queued"], error }),
    );
  }
}
