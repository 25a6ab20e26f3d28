import { createServer, type Server } from "node:http";
import type { CreatedWebhookEndpoint } from "@whatisup/client";
import { verifyWebhookSignature } from "../crypto/webhook-signature.js";
import { terminalSafe } from "../format/human-readable.js";
import { ApiError, apiRequest, describeApiError, type ApiSettings } from "./api-client.js";
import { stopWhenStdoutCloses } from "./closed-stdout.js";

export type ListenOptions = {
  port: number;
  /** The endpoint's secret, to check each signature with; without it (and without `register`) nothing is checked. */
  secret?: string;
  /** Create an endpoint pointing at this listener, use its secret, and delete it when stopped. */
  register?: { api: ApiSettings; events: string[]; instanceId?: string };
};

/**
 * A tiny local receiver for trying webhooks out: prints one line per delivery and, given the
 * endpoint's secret, whether its signature holds. Answers 200 to every well-signed POST (or to
 * every POST when no secret is known), 400 to a bad signature so the delivery log shows it.
 *
 * With `register` it works like `stripe listen`: the endpoint it creates exists only while it
 * runs, and its secret never leaves this process. SIGINT, SIGTERM or a closed stdout stop it; the
 * endpoint is deleted before it exits.
 */
export async function runWebhooksListen(options: ListenOptions): Promise<number> {
  let secret = options.secret;
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
  // Asked for before anything can fail, so that a stop during the registration waits for it and then undoes it.
  const stopped = new Promise<void>((resolve) => {
    process.once("SIGINT", () => resolve());
    process.once("SIGTERM", () => resolve());
    stopWhenStdoutCloses(() => resolve());
  });
  const port = await listenOn(server, options.port);
  const url = `http://127.0.0.1:${port}/`;
  process.stdout.write(`Listening for webhooks on ${url} (Ctrl-C to stop)\n`);

  let endpoint: CreatedWebhookEndpoint | null = null;
  if (options.register) {
    const { api, events, instanceId } = options.register;
    try {
      const body = { url, events, ...(instanceId === undefined ? {} : { instance_id: instanceId }) };
      endpoint = (await apiRequest<CreatedWebhookEndpoint>(api, "POST", "/v1/webhook-endpoints", { body })).body;
    } catch (error) {
      await closeServer(server);
      throw error;
    }
    secret = endpoint.secret;
    process.stdout.write(
      `Registered webhook endpoint ${terminalSafe(endpoint.id)} for ${terminalSafe(endpoint.events.join(", "))}; ` +
        "each signature is checked with its secret. It is deleted when this stops.\n",
    );
  }
  await stopped;
  await closeServer(server);
  return endpoint === null ? 0 : deleteEndpoint(options.register!.api, endpoint.id);
}

function listenOn(server: Server, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, "127.0.0.1", () => {
      const address = server.address();
      resolve(typeof address === "object" && address ? address.port : port);
    });
  });
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()));
}

/** Exit 0 once the endpoint is gone (also when someone deleted it first), 1 when it may remain. */
async function deleteEndpoint(api: ApiSettings, id: string): Promise<number> {
  try {
    await apiRequest<null>(api, "DELETE", `/v1/webhook-endpoints/${encodeURIComponent(id)}`);
    process.stdout.write(`Deleted webhook endpoint ${terminalSafe(id)}.\n`);
    return 0;
  } catch (error) {
    if (error instanceof ApiError && error.code === "webhook_endpoint_not_found") {
      process.stdout.write(`Webhook endpoint ${terminalSafe(id)} was already deleted.\n`);
      return 0;
    }
    if (error instanceof ApiError) process.stderr.write(describeApiError(error));
    else process.stderr.write(`whatisup: ${terminalSafe((error as Error).message)}\n`);
    process.stderr.write(`whatisup: webhook endpoint ${terminalSafe(id)} may still exist: "whatisup webhooks endpoints delete ${terminalSafe(id)}" deletes it.\n`);
    return 1;
  }
}
