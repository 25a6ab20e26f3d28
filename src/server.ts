import { buildApp } from "./app.js";
import type { Config } from "./config.js";

/** What can still run after the deadline: the onClose hooks (workers finish their batch, the last flush, the database). */
const HARD_EXIT_AFTER_DEADLINE_MS = 5_000;

/**
 * The server process: build the app, listen, and on SIGTERM or SIGINT stop taking connections,
 * flush pending writes (`last_used_at`, in the preClose hook) and finish what is in flight. At
 * SHUTDOWN_TIMEOUT_MS the connections still open are closed, so one held request cannot keep
 * the process alive; only a close that hangs even then exits non-zero.
 */
export async function runServer(config: Config): Promise<void> {
  const app = await buildApp(config);
  let closing = false;
  const shutdown = (signal: NodeJS.Signals) => {
    if (closing) return;
    closing = true;
    app.log.info({ signal }, "shutting down");
    // server.close() stops Node's request-timeout checks, so a held request would wait forever.
    const deadline = setTimeout(() => {
      app.log.warn("shutdown deadline reached; closing the connections still open");
      app.server.closeAllConnections();
    }, config.shutdownTimeoutMs);
    deadline.unref();
    const force = setTimeout(() => {
      app.log.error("graceful shutdown took too long; exiting");
      process.exit(1);
    }, config.shutdownTimeoutMs + HARD_EXIT_AFTER_DEADLINE_MS);
    force.unref();
    app.close().then(
      () => process.exit(0),
      (error: unknown) => {
        app.log.error({ err: error }, "error during shutdown");
        process.exit(1);
      },
    );
  };
  process.on("SIGTERM", shutdown);
  process.on("SIGINT", shutdown);
  await app.listen({ host: config.host, port: config.port });
}
