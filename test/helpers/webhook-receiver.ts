import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import type { AddressInfo } from "node:net";

/** One request a receiver got, with its body exactly as the bytes arrived (decoded as UTF-8). */
export type ReceivedRequest = {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  rawBody: string;
};

/**
 * What the receiver answers: a status, or `"hang"` to never answer (until the receiver closes).
 * A function decides per request (it may wait, e.g. on a gate the test opens).
 */
export type Answer = number | "hang";
export type Responder = Answer[] | ((request: ReceivedRequest, index: number) => Answer | Promise<Answer>);

/**
 * A tiny webhook receiver on 127.0.0.1 for tests. It records every request and answers from a
 * programmable sequence (the last status repeats: `[500, 500, 200]` fails twice, then succeeds).
 */
export class WebhookReceiver {
  readonly requests: ReceivedRequest[] = [];
  private responder: Responder;
  private readonly server: Server;

  private constructor(responder: Responder) {
    this.responder = responder;
    this.server = createServer((request, response) => {
      const chunks: Buffer[] = [];
      request.on("data", (chunk: Buffer) => chunks.push(chunk));
      request.on("end", () => {
        const received: ReceivedRequest = {
          method: request.method ?? "",
          path: request.url ?? "",
          headers: request.headers,
          rawBody: Buffer.concat(chunks).toString("utf8"),
        };
        const index = this.requests.length;
        this.requests.push(received);
        Promise.resolve(this.answerFor(received, index)).then((answer) => {
          if (answer === "hang" || response.destroyed) return;
          response.writeHead(answer, { "content-type": "text/plain" });
          response.end(answer >= 200 && answer < 300 ? "ok" : "nope");
        });
      });
    });
  }

  /** Starts listening on 127.0.0.1 (`port` 0: any free port). */
  static async start(responder: Responder = [200], port = 0): Promise<WebhookReceiver> {
    const receiver = new WebhookReceiver(responder);
    await new Promise<void>((resolve, reject) => {
      receiver.server.once("error", reject);
      receiver.server.listen(port, "127.0.0.1", () => resolve());
    });
    return receiver;
  }

  get port(): number {
    return (this.server.address() as AddressInfo).port;
  }

  /** The URL to register as the endpoint. */
  url(path = "/hooks"): string {
    return `http://127.0.0.1:${this.port}${path}`;
  }

  respondWith(responder: Responder): void {
    this.responder = responder;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private answerFor(request: ReceivedRequest, index: number): Answer | Promise<Answer> {
    if (typeof this.responder === "function") return this.responder(request, index);
    return this.responder[Math.min(index, this.responder.length - 1)] ?? 200;
  }
}

/** A promise and the function that resolves it: lets a test hold a receiver's answer. */
export function gate(): { opened: Promise<void>; open: () => void } {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { opened, open };
}
