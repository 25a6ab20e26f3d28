import { once } from "node:events";
import { connect, type Socket } from "node:net";
import type { App } from "../../src/http/app-types.js";

/** An HTTP/1.1 answer as it came off a socket. */
export type RawAnswer = { status: number; headers: Record<string, string>; body: string };

export function parseRawAnswer(raw: string): RawAnswer {
  const split = raw.indexOf("\r\n\r\n");
  const head = split < 0 ? raw : raw.slice(0, split);
  const body = split < 0 ? "" : raw.slice(split + 4);
  const [statusLine = "", ...headerLines] = head.split("\r\n");
  const headers: Record<string, string> = {};
  for (const line of headerLines) {
    const colon = line.indexOf(":");
    headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  return { status: Number(statusLine.split(" ")[1]), headers, body };
}

/** Everything a socket receives until the server closes it. */
function receivedUntilClosed(socket: Socket): Promise<string> {
  let received = "";
  socket.on("data", (chunk: Buffer) => (received += chunk.toString("utf8")));
  return once(socket, "close").then(() => received);
}

/** Sends `request` (ending in `connection: close`) as written, and reads the answer. */
export async function exchange(port: number, request: string): Promise<RawAnswer> {
  const socket = connect(port, "127.0.0.1");
  await once(socket, "connect");
  const received = receivedUntilClosed(socket);
  socket.end(request);
  return parseRawAnswer(await received);
}

/** A request whose headers (and all of its body but the last byte) are on a real socket. */
export type HeldRequest = {
  /** Sends the last byte and reads the answer, its JSON body parsed. */
  finish(): Promise<{ status: number; body: any }>;
};

/**
 * Starts a JSON request on `port` and holds its last byte back, as a client that stalls (or an
 * attacker who waits for its key to be revoked) would.
 */
export async function holdRequest(port: number, method: string, path: string, secret: string, body: object): Promise<HeldRequest> {
  const payload = Buffer.from(JSON.stringify(body));
  const socket = connect(port, "127.0.0.1");
  await once(socket, "connect");
  const received = receivedUntilClosed(socket);
  socket.write(
    `${method} ${path} HTTP/1.1\r\nhost: 127.0.0.1\r\nauthorization: Bearer ${secret}\r\n` +
      `content-type: application/json\r\ncontent-length: ${payload.length}\r\nconnection: close\r\n\r\n`,
  );
  socket.write(payload.subarray(0, -1));
  return {
    async finish() {
      socket.write(payload.subarray(-1));
      const answer = parseRawAnswer(await received);
      return { status: answer.status, body: answer.body === "" ? null : JSON.parse(answer.body) };
    },
  };
}

/**
 * How many requests `app` has authenticated so far (its metrics, which must be enabled): a held
 * request has passed authentication once this has grown.
 */
export async function authenticatedCount(app: App): Promise<number> {
  const metrics = (await app.inject({ url: "/metrics" })).body;
  return Number(/^whatisup_auth_outcomes_total\{outcome="ok"\} (\d+)$/m.exec(metrics)?.[1] ?? 0);
}
