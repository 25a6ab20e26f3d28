import type { FastifyBaseLogger } from "fastify";

/** One kind of background work: does what is due and says how much it did. */
export interface Worker {
  readonly name: string;
  /** Handles a batch of due work; returns how many items it handled (0: nothing was due). */
  runOnce(): Promise<number>;
}

/**
 * Runs a worker over and over: at once again while it finds work, otherwise every `pollMs`.
 * Errors are logged and the loop goes on; `stop` waits for the batch in hand to finish.
 */
export class WorkerLoop {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  private stopped = true;

  constructor(
    private readonly worker: Worker,
    private readonly pollMs: number,
    private readonly log: FastifyBaseLogger,
  ) {}

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.schedule(0);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.running;
  }

  private schedule(delayMs: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.running = this.tick();
    }, delayMs);
    this.timer.unref();
  }

  private async tick(): Promise<void> {
    let handled = 0;
    try {
      handled = await this.worker.runOnce();
    } catch (error) {
      this.log.error({ err: error, worker: this.worker.name }, "background work failed; retrying");
    }
    this.schedule(handled > 0 ? 0 : this.pollMs);
  }
}
