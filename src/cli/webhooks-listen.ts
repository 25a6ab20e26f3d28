import { createServer } from "node:http";
import { verifyWebhookSignature } from "../crypto/webhook-signature.js";
import { terminalSafe } from "../format/human-readable.js";

/**
 * A tiny local receiver for trying webhooks out: prints one line per delivery and, given the
 * endpoint's secret, whether its signature holds. Answers 200 to every well-signed POST (or to
 * every POST when no secret is given), 400 to a bad signature so the delivery log shows it.
 */
export function runWebhooksListen(port: number, secret: string | undefined): Promise<number> {
  const server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on("data", (chunk: Buffer) => chunks.push(chunk));
    request.on("end", () => {
      const body = Buffer.concat(chunks).toString("utf8");
      const header = request.headers["x-whatisup-signature"];
      const signature =
        secret === undefined ? "unchecked" : verifyWebhookSignature(secret, String(header ?? ""), body) ? "valid" : "INVALID";
      let summary = body;
      try {
        const event = JSON.parse(body) as { event?: string; event_id?: string; data?: unknown };
        summary = `${event.event} ${event.event_id} ${JSON.stringify(event.data)}`;
      } catch {
        // not JSON: print it as it came
      }
      // Whoever can reach the port writes the body: it must not reach the terminal raw.
      process.stdout.write(`${new Date().toISOString()} signature=${signature} ${terminalSafe(summary)}\n`);
      response.statusCode = signature === "INVALID" ? 400 : 200;
      response.end();
    });
  });
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, "127.0.0.1", () => {
      const address = server.address();
      const actualPort = typeof address === "object" && address ? address.port : port;
      process.stdout.write(`Listening for webhooks on http://127.0.0.1:${actualPort}/ (Ctrl-C to stop)\n`);
    });
    const stop = () => server.close(() => resolve(0));
    process.once("SIGINT", stop);
    process.once("SIGTERM", stop);
  });
}
