import { toTimestamp } from "../time/timestamps.js";
import { advanceMessage } from "../use-cases/advance-message.js";
import { dueSandboxMessages, type DueSandboxMessage } from "../messages/message-repository.js";
import type { MessageStatus } from "../contract/message.js";
import type { Db } from "../db/schema.js";
import type { Writer } from "../use-cases/write.js";
import type { DestinationPolicy } from "../webhook-endpoints/destination-guard.js";
import type { Worker } from "./worker-loop.js";
import { probeMedia } from "../transports/sandbox-media-probe.js";
import { SANDBOX_FAILING_NUMBER, SANDBOX_FAILURE_ERROR } from "../transports/sandbox-transport.js";

const BATCH_SIZE = 100;
/** Media URLs probed at once: a batch of slow URLs takes one probe timeout per this many. */
const PROBE_CONCURRENCY = 10;

type NextState = { to: "sent" | "delivered" | "read" | "failed"; error?: string };

/** The sandbox's next state for a message, and the error when that state is `failed`. */
export function nextSandboxState(message: { to: string; status: MessageStatus }): NextState | null {
  if (message.to === SANDBOX_FAILING_NUMBER) {
    return message.status === "queued" ? { to: "failed", error: SANDBOX_FAILURE_ERROR } : null;
  }
  switch (message.status) {
    case "queued":
      return { to: "sent" };
    case "sent":
      return { to: "delivered" };
    case "delivered":
      return { to: "read" };
    default:
      return null;
  }
}

/**
 * Plays the sandbox transport's lifecycle: each message of a sandbox instance moves one state
 * every `SANDBOX_STEP_MS` (queued → sent → delivered → read; a message to +15550000000 goes
 * queued → failed). A media message leaves queued only once its URL answered as WhatsApp needs
 * (see sandbox-media-probe.ts), else it fails; the probe runs before the move's transaction, never
 * inside one. The state lives in the messages table (`status`, `updated_at`), so the clock
 * resumes after a restart; each move is a conditional UPDATE from the state the clock saw, with its
 * event, in one transaction, so several nodes running the clock move each message once (both may
 * probe it; one moves it).
 */
export class SandboxClock implements Worker {
  readonly name = "sandbox-clock";
  constructor(private readonly deps: { db: Db; write: Writer; stepMs: number; destinations: DestinationPolicy }) {}

  async runOnce(): Promise<number> {
    const cutoff = toTimestamp(Date.now() - this.deps.stepMs);
    const due = await dueSandboxMessages(this.deps.db, cutoff, BATCH_SIZE);
    const next = await this.nextStates(due);
    let moved = 0;
    for (const [index, message] of due.entries()) {
      if (await this.step(message, next[index]!)) moved += 1;
    }
    return moved;
  }

  /** Each message's next state, the media URLs of queued messages probed a few at a time. */
  private async nextStates(due: DueSandboxMessage[]): Promise<(NextState | null)[]> {
    const states = due.map((message) => nextSandboxState(message));
    const probes = due.flatMap((message, index) =>
      states[index]?.to === "sent" && message.status === "queued" && message.type !== "text" && message.type !== "template" && message.media?.url
        ? [{ index, type: message.type, url: message.media.url }]
        : [],
    );
    for (let start = 0; start < probes.length; start += PROBE_CONCURRENCY) {
      await Promise.all(
        probes.slice(start, start + PROBE_CONCURRENCY).map(async (probe) => {
          const error = await probeMedia(probe.type, probe.url, this.deps.destinations);
          if (error !== null) states[probe.index] = { to: "failed", error };
        }),
      );
    }
    return states;
  }

  private async step(message: DueSandboxMessage, next: NextState | null): Promise<boolean> {
    if (next === null) return false;
    const moved = await this.deps.write(null, (w) =>
      advanceMessage(w, {
        customerId: message.customer_id,
        id: message.id,
        to: next.to,
        from: [message.status],
        error: next.error ?? null,
      }),
    );
    return moved !== undefined;
  }
}
