import { buildApp } from "./app.js";
import type { Config } from "./config.js";

const SHUTDOWN_GRACE_MS = 10_000;

/**
 * The server process: build the app, listen, and on SIGTERM or SIGINT stop taking connections,
 * finish what is in flight and flush pending writes (`last_used_at`) before exiting.
 */
export async function runServer(config: Config): Promise<void> {
  const app = await buildApp(config);
  let closing = false;
  const shutdown = (signal: NodeJS.Signals) => {
    if (closing) return;
    closing = true;
    app.log.info({ signal }, "shutting down");
    const force = setTimeout(() => {
      app.log.error("graceful shutdown took too long; exiting");
      process.exit(1);
    }, SHUTDOWN_GRACE_MS);
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
