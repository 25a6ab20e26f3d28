import { once } from "node:events";
import { connect } from "node:net";
import type { App } from "../../src/http/app-types.js";

export type RawResponse = { status: number; body: any };

/** A request whose headers (and all of its body but the last byte) are on a real socket. */
export type HeldRequest = {
  /** Sends the last byte and reads the answer. */
  finish(): Promise<RawResponse>;
};

/**
 * Starts a JSON request on `port` and holds its last byte back, as a client that stalls (or an
 * attacker who waits for its key to be revoked) would.
 */
export async function holdRequest(port: number, method: string, path: string, secret: string, body: object): Promise<HeldRequest> {
  const payload = Buffer.from(JSON.stringify(body));
  const socket = connect(port, "127.0.0.1");
  await once(socket, "connect");
  const chunks: Buffer[] = [];
  socket.on("data", (chunk: Buffer) => chunks.push(chunk));
  const closed = once(socket, "close");
  socket.write(
    `${method} ${path} HTTP/1.1\r\nhost: 127.0.0.1\r\nauthorization: Bearer ${secret}\r\n` +
      `content-type: application/json\r\ncontent-length: ${payload.length}\r\nconnection: close\r\n\r\n`,
  );
  socket.write(payload.subarray(0, -1));
  return {
    async finish() {
      socket.write(payload.subarray(-1));
      await closed;
      return parseResponse(Buffer.concat(chunks).toString("utf8"));
    },
  };
}

function parseResponse(raw: string): RawResponse {
  const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(raw)?.[1]);
  const body = raw.slice(raw.indexOf("\r\n\r\n") + 4);
  return { status, body: body === "" ? null : JSON.parse(body) };
}

/**
 * How many requests `app` has authenticated so far (its metrics, which must be enabled): a held
 * request has passed authentication once this has grown.
 */
export async function authenticatedCount(app: App): Promise<number> {
  const metrics = (await app.inject({ url: "/metrics" })).body;
  return Number(/^whatisup_auth_outcomes_total\{outcome="ok"\} (\d+)$/m.exec(metrics)?.[1] ?? 0);
}
