import { createHmac } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { CloudApiConfig } from "../../src/config.js";

/** One request the fake received, as it arrived. */
export type RecordedRequest = {
  method: string;
  path: string;
  query: Record<string, string>;
  headers: IncomingMessage["headers"];
  body: unknown;
};

export type FakeAnswer = { status: number; body: unknown };

export const FAKE_VERSION = "v21.0";
export const FAKE_ACCESS_TOKEN = "EAAG-fake-cloud-api-access-token-0123456789";
export const FAKE_APP_SECRET = "fake-app-secret-9876543210";
export const FAKE_VERIFY_TOKEN = "fake-verify-token";

/**
 * A local fake of the WhatsApp Cloud API (Graph API) on 127.0.0.1: it knows some phone numbers,
 * answers `GET /{version}/{phone_number_id}` and `POST /{version}/{phone_number_id}/messages` in
 * the real API's shapes, demands the bearer token, and records every request. Tests can queue
 * answers for the next sends (`failNextSends`) to play refusals and outages.
 */
export class FakeCloudApi {
  readonly requests: RecordedRequest[] = [];
  /** phone_number_id → display_phone_number. */
  readonly numbers = new Map<string, string>([["106540352242922", "+1 555-010-0199"]]);
  private readonly queuedSendAnswers: FakeAnswer[] = [];
  private lookupAnswer: FakeAnswer | null = null;
  private sent = 0;
  private server: Server | null = null;
  private port = 0;

  async start(): Promise<this> {
    this.server = createServer((request, response) => {
      this.handle(request, response).catch(() => {
        response.statusCode = 500;
        response.end();
      });
    });
    await new Promise<void>((resolve) => this.server!.listen(0, "127.0.0.1", resolve));
    this.port = (this.server.address() as AddressInfo).port;
    return this;
  }

  async close(): Promise<void> {
    const server = this.server;
    this.server = null;
    if (server) {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  }

  get baseUrl(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** The server's Cloud API settings pointing at this fake. */
  config(): CloudApiConfig {
    return {
      baseUrl: this.baseUrl,
      version: FAKE_VERSION,
      accessToken: FAKE_ACCESS_TOKEN,
      appSecret: FAKE_APP_SECRET,
      verifyToken: FAKE_VERIFY_TOKEN,
    };
  }

  /** The next sends are answered with these, in order (then normally again). */
  failNextSends(...answers: FakeAnswer[]): void {
    this.queuedSendAnswers.push(...answers);
  }

  /** Every number lookup is answered with this (null: normally). */
  answerLookupsWith(answer: FakeAnswer | null): void {
    this.lookupAnswer = answer;
  }

  sendRequests(): RecordedRequest[] {
    return this.requests.filter((request) => request.method === "POST" && request.path.endsWith("/messages"));
  }

  private async handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of request) chunks.push(chunk as Buffer);
    const text = Buffer.concat(chunks).toString("utf8");
    const url = new URL(request.url ?? "/", this.baseUrl);
    let body: unknown = null;
    if (text !== "") {
      try {
        body = JSON.parse(text);
      } catch {
        body = text;
      }
    }
    this.requests.push({
      method: request.method ?? "",
      path: url.pathname,
      query: Object.fromEntries(url.searchParams),
      headers: request.headers,
      body,
    });

    const answer = this.answer(request, url, body);
    response.writeHead(answer.status, { "content-type": "application/json" });
    response.end(JSON.stringify(answer.body));
  }

  private answer(request: IncomingMessage, url: URL, body: unknown): FakeAnswer {
    if (request.headers.authorization !== `Bearer ${FAKE_ACCESS_TOKEN}`) {
      return graphError(401, 190, "Invalid OAuth access token - Cannot parse access token");
    }
    const parts = url.pathname.split("/").filter(Boolean);
    if (parts[0] !== FAKE_VERSION) return graphError(400, 2500, "Unknown path components");
    const phoneNumberId = parts[1] ?? "";
    if (request.method === "GET" && parts.length === 2) {
      if (this.lookupAnswer) return this.lookupAnswer;
      const display = this.numbers.get(phoneNumberId);
      if (display === undefined) {
        return graphError(400, 100, `Unsupported get request. Object with ID '${phoneNumberId}' does not exist`);
      }
      return { status: 200, body: { display_phone_number: display, verified_name: "Acme Support", id: phoneNumberId } };
    }
    if (request.method === "POST" && parts.length === 3 && parts[2] === "messages") {
      const queued = this.queuedSendAnswers.shift();
      if (queued) return queued;
      if (!this.numbers.has(phoneNumberId)) return graphError(400, 100, "Invalid parameter");
      const to = (body as { to?: string } | null)?.to ?? "";
      this.sent += 1;
      return {
        status: 200,
        body: {
          messaging_product: "whatsapp",
          contacts: [{ input: to, wa_id: to }],
          messages: [{ id: `wamid.FAKE${String(this.sent).padStart(6, "0")}` }],
        },
      };
    }
    return graphError(400, 2500, "Unknown path components");
  }
}

/** The Graph API's error shape. */
export function graphError(status: number, code: number, message: string): FakeAnswer {
  return {
    status,
    body: { error: { message, type: "OAuthException", code, fbtrace_id: "AbCdEfGh" } },
  };
}

/** `sha256=<hex>`: the X-Hub-Signature-256 Meta puts on its callbacks. */
export function hubSignature(rawBody: string, appSecret = FAKE_APP_SECRET): string {
  return `sha256=${createHmac("sha256", appSecret).update(rawBody).digest("hex")}`;
}

/** A callback as Meta sends it: one entry, one change, whose value holds the number and `fields`. */
function callbackOf(phoneNumberId: string, fields: Record<string, unknown>): Record<string, unknown> {
  return {
    object: "whatsapp_business_account",
    entry: [
      {
        id: "102290129340398",
        changes: [
          {
            field: "messages",
            value: {
              messaging_product: "whatsapp",
              metadata: { display_phone_number: "15550100199", phone_number_id: phoneNumberId },
              ...fields,
            },
          },
        ],
      },
    ],
  };
}

/** A status callback as Meta sends it: these statuses. */
export function statusCallback(
  phoneNumberId: string,
  statuses: { id: string; status: string; errors?: unknown[] }[],
): Record<string, unknown> {
  return callbackOf(phoneNumberId, {
    statuses: statuses.map((status) => ({
      timestamp: String(Math.floor(Date.now() / 1000)),
      recipient_id: "15551234567",
      ...status,
    })),
  });
}

/**
 * A messages callback as Meta sends it when a user writes to the business number: the sender's
 * contact and these messages (each as Meta's documentation shows it: `from` in digits without
 * `+`, `timestamp` in unix seconds as a string, the type's own object).
 */
export function messagesCallback(
  phoneNumberId: string,
  messages: Record<string, unknown>[],
  sender = { name: "Sheena Nelson", waId: "16505551234" },
): Record<string, unknown> {
  return callbackOf(phoneNumberId, {
    contacts: [{ profile: { name: sender.name }, wa_id: sender.waId }],
    messages: messages.map((message) => ({ from: sender.waId, timestamp: "1749416383", ...message })),
  });
}
