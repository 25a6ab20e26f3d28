import { toTimestamp } from "../time/timestamps.js";
import { advanceMessage } from "../use-cases/advance-message.js";
import { dueSandboxMessages, type DueSandboxMessage } from "../messages/message-repository.js";
import type { MessageStatus } from "../contract/message.js";
import type { Db } from "../db/schema.js";
import type { Writer } from "../use-cases/write.js";
import type { Worker } from "./worker-loop.js";
import { SANDBOX_FAILING_NUMBER, SANDBOX_FAILURE_ERROR } from "../transports/sandbox-transport.js";

const BATCH_SIZE = 100;

/** The sandbox's next state for a message, and the error when that state is `failed`. */
export function nextSandboxState(message: { to: string; status: MessageStatus }): { to: "sent" | "delivered" | "read" | "failed"; error?: string } | null {
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
 * queued → failed). The state lives in the messages table (`status`, `updated_at`), so the clock
 * resumes after a restart; each move is a conditional UPDATE from the state the clock saw, with its
 * event, in one transaction, so several nodes running the clock move each message once.
 */
export class SandboxClock implements Worker {
  readonly name = "sandbox-clock";
  constructor(private readonly deps: { db: Db; write: Writer; stepMs: number }) {}

  async runOnce(): Promise<number> {
    const cutoff = toTimestamp(Date.now() - this.deps.stepMs);
    const due = await dueSandboxMessages(this.deps.db, cutoff, BATCH_SIZE);
    let moved = 0;
    for (const message of due) {
      if (await this.step(message)) moved += 1;
    }
    return moved;
  }

  private async step(message: DueSandboxMessage): Promise<boolean> {
    const next = nextSandboxState(message);
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
