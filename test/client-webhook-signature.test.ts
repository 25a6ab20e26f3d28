import { existsSync, readFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { resolve } from "node:path";
import {
  verifyWebhookSignature,
  WebhookSignatureError,
  type ApiKey,
  type EventEnvelope,
  type WebhookEvent,
  type WebhookSignatureFailure,
} from "@whatisup/client";
import { chromium, type Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, expectTypeOf, it } from "vitest";
import { signatureHeader } from "../src/crypto/webhook-signature.js";
import type { Db } from "../src/db/schema.js";
import { bareCustomer, dispatcherOn, emitEvent, insertEndpoint, openBareDatabase, type TestEndpoint } from "./helpers/webhook-fixtures.js";
import { WebhookReceiver, type ReceivedRequest } from "./helpers/webhook-receiver.js";

/**
 * The client package's `verifyWebhookSignature` (WebCrypto, no node: import), imported as a
 * consumer would (the package's compiled dist/), against headers written by the server's own
 * signer, src/crypto/webhook-signature.ts, and by its dispatcher on a real delivery.
 */

const SECRET = "whsec_client-test-secret";
const BODY = JSON.stringify({
  event: "message.read",
  event_id: "01JT4B7Z9X2K8Q5R3M6N1P0VWS",
  api_version: "2026-04",
  instance_id: null,
  occurred_at: "2026-05-22T15:30:00.123Z",
  data: { text: "ünïcödé ✓ \u2028 \"quoted\"" },
});

const nowSeconds = () => Math.floor(Date.now() / 1000);
const signedNow = (body = BODY, secret = SECRET) => signatureHeader(secret, body, nowSeconds());
/** The `v1=…` part the server writes for `secret` at `t`. */
const v1 = (secret: string, t: number, body = BODY) => signatureHeader(secret, body, t).split(",")[1]!;

/** The reason a verification was refused with; fails the test if it was not refused. */
async function refusal(verification: Promise<unknown>): Promise<WebhookSignatureFailure> {
  const error = await verification.then(
    () => expect.fail("the request was accepted"),
    (thrown: unknown) => thrown,
  );
  expect(error).toBeInstanceOf(WebhookSignatureError);
  const signatureError = error as WebhookSignatureError;
  expect(signatureError.name).toBe("WebhookSignatureError");
  expect(signatureError.message.length).toBeGreaterThan(0);
  expect(signatureError.message).not.toContain(SECRET);
  return signatureError.reason;
}

describe("verifyWebhookSignature accepts what the server signs", () => {
  it("resolves to the event parsed from the checked bytes, given a string, a Uint8Array or a Buffer", async () => {
    const header = signedNow();
    const expected = JSON.parse(BODY);
    expect(await verifyWebhookSignature(SECRET, header, BODY)).toEqual(expected);
    expect(await verifyWebhookSignature(SECRET, header, new TextEncoder().encode(BODY))).toEqual(expected);
    expect(await verifyWebhookSignature(SECRET, header, Buffer.from(BODY, "utf8"), { toleranceSeconds: 60 })).toEqual(expected);
  });

  it("types the event by its name: narrowing on `event` types its data", () => {
    expectTypeOf(verifyWebhookSignature).returns.resolves.toEqualTypeOf<WebhookEvent>();
    expectTypeOf<WebhookEvent>().toExtend<EventEnvelope>();
    expectTypeOf<WebhookEvent["event"]>().toEqualTypeOf<EventEnvelope["event"]>();
    expectTypeOf<Extract<WebhookEvent, { event: "api_key.issued" }>["data"]["api_key"]>().toEqualTypeOf<ApiKey>();
    expectTypeOf<Extract<WebhookEvent, { event: "message.read" }>["data"]>().toHaveProperty("message");
  });

  it("takes the header as Node's req.headers gives it (a string, or an array of one)", async () => {
    expect(await verifyWebhookSignature(SECRET, [signedNow()], BODY)).toMatchObject({ event: "message.read" });
  });

  it("accepts any matching v1 during a secret rotation, first or last, and skips unknown schemes", async () => {
    const t = nowSeconds();
    for (const header of [
      `t=${t},${v1("whsec_old", t)},${v1(SECRET, t)}`,
      `t=${t},${v1(SECRET, t)},${v1("whsec_old", t)}`,
      ` t=${t} , v0=abc, ${v1("whsec_old", t)} ,${v1(SECRET, t)} `,
    ]) {
      expect(await verifyWebhookSignature(SECRET, header, BODY)).toMatchObject({ event_id: "01JT4B7Z9X2K8Q5R3M6N1P0VWS" });
    }
  });

  it("accepts a timestamp within the tolerance, either way, and a wider tolerance when asked", async () => {
    const t = nowSeconds();
    expect(await verifyWebhookSignature(SECRET, signatureHeader(SECRET, BODY, t - 299), BODY)).toBeTruthy();
    expect(await verifyWebhookSignature(SECRET, signatureHeader(SECRET, BODY, t + 299), BODY)).toBeTruthy();
    expect(await verifyWebhookSignature(SECRET, signatureHeader(SECRET, BODY, t - 600), BODY, { toleranceSeconds: 900 })).toBeTruthy();
  });
});

describe("verifyWebhookSignature refuses, with its reason", () => {
  it("a tampered body, by one character or one trailing space: signature_mismatch", async () => {
    const header = signedNow();
    expect(await refusal(verifyWebhookSignature(SECRET, header, BODY.replace("message.read", "message.sent")))).toBe("signature_mismatch");
    expect(await refusal(verifyWebhookSignature(SECRET, header, `${BODY} `))).toBe("signature_mismatch");
    expect(await refusal(verifyWebhookSignature(SECRET, header, new TextEncoder().encode(BODY).subarray(1)))).toBe("signature_mismatch");
  });

  it("another endpoint's secret, or a secret that differs in its last character: signature_mismatch", async () => {
    const header = signedNow();
    expect(await refusal(verifyWebhookSignature("whsec_another", header, BODY))).toBe("signature_mismatch");
    expect(await refusal(verifyWebhookSignature(`${SECRET.slice(0, -1)}T`, header, BODY))).toBe("signature_mismatch");
  });

  it("a signature moved to another timestamp, or with one digit changed: signature_mismatch", async () => {
    const t = nowSeconds();
    const signature = v1(SECRET, t);
    expect(await refusal(verifyWebhookSignature(SECRET, `t=${t - 1},${signature}`, BODY))).toBe("signature_mismatch");
    const flipped = signature.replace(/.$/, (digit) => (digit === "0" ? "1" : "0"));
    expect(await refusal(verifyWebhookSignature(SECRET, `t=${t},${flipped}`, BODY))).toBe("signature_mismatch");
    expect(await refusal(verifyWebhookSignature(SECRET, `t=${t},${v1("whsec_old", t)},${v1("whsec_third", t)}`, BODY))).toBe(
      "signature_mismatch",
    );
  });

  it("a genuine signature older or newer than the tolerance (a replay, a skewed clock): timestamp_outside_tolerance", async () => {
    const t = nowSeconds();
    for (const at of [t - 301, t + 301, t - 86_400]) {
      expect(await refusal(verifyWebhookSignature(SECRET, signatureHeader(SECRET, BODY, at), BODY))).toBe("timestamp_outside_tolerance");
    }
    const rotation = `t=${t - 301},${v1("whsec_old", t - 301)},${v1(SECRET, t - 301)}`;
    expect(await refusal(verifyWebhookSignature(SECRET, rotation, BODY))).toBe("timestamp_outside_tolerance");
    expect(await refusal(verifyWebhookSignature(SECRET, signatureHeader(SECRET, BODY, t - 61), BODY, { toleranceSeconds: 60 }))).toBe(
      "timestamp_outside_tolerance",
    );
  });

  it("a stale timestamp on a forged signature is a mismatch: the tolerance is judged only for genuine ones", async () => {
    expect(await refusal(verifyWebhookSignature(SECRET, signatureHeader("whsec_forger", BODY, nowSeconds() - 3600), BODY))).toBe(
      "signature_mismatch",
    );
  });

  it("no header, or an empty one: missing_header", async () => {
    for (const header of [undefined, null, "", "   ", []]) {
      expect(await refusal(verifyWebhookSignature(SECRET, header, BODY))).toBe("missing_header");
    }
  });

  it.each([
    ["no timestamp", () => `v1=${"a".repeat(64)}`],
    ["no signature", () => `t=${nowSeconds()}`],
    ["a timestamp that is not a number", () => `t=soon,v1=${"a".repeat(64)}`],
    ["a negative timestamp", () => `t=-${nowSeconds()},${v1(SECRET, nowSeconds())}`],
    ["a signature of the wrong length", () => `t=${nowSeconds()},v1=abcd`],
    ["a signature in upper case", () => `t=${nowSeconds()},${v1(SECRET, nowSeconds()).toUpperCase().replace("V1", "v1")}`],
    ["only ill-formed signatures", () => `t=${nowSeconds()},v1=zz,v1=,v0=${v1(SECRET, nowSeconds()).slice(3)}`],
    ["two timestamps", () => `t=${nowSeconds()},t=${nowSeconds() - 1},${v1(SECRET, nowSeconds())}`],
    ["garbage", () => "not a signature at all"],
  ])("%s: malformed_header", async (_label, header) => {
    expect(await refusal(verifyWebhookSignature(SECRET, header(), BODY))).toBe("malformed_header");
  });

  it("a header value doubled on the way (joined by fetch's Headers, or sent twice to Node): malformed_header", async () => {
    const header = signedNow();
    const joined = new Headers([
      ["X-WhatIsUp-Signature", header],
      ["X-WhatIsUp-Signature", header],
    ]).get("x-whatisup-signature");
    expect(joined).toBe(`${header}, ${header}`);
    expect(await refusal(verifyWebhookSignature(SECRET, joined, BODY))).toBe("malformed_header");
    expect(await refusal(verifyWebhookSignature(SECRET, [header, header], BODY))).toBe("malformed_header");
  });

  it("an empty body, even one the header was signed for: empty_body", async () => {
    expect(await refusal(verifyWebhookSignature(SECRET, signedNow(), ""))).toBe("empty_body");
    expect(await refusal(verifyWebhookSignature(SECRET, signedNow(""), ""))).toBe("empty_body");
    expect(await refusal(verifyWebhookSignature(SECRET, signedNow(""), new Uint8Array(0)))).toBe("empty_body");
  });

  it("a genuine signature over something that is not a JSON object: invalid_body", async () => {
    for (const body of ["not json", "[1,2]", "null", '"text"']) {
      expect(await refusal(verifyWebhookSignature(SECRET, signedNow(body), body))).toBe("invalid_body");
    }
    const notUtf8 = new Uint8Array([0x7b, 0xff, 0x7d]);
    const header = `t=${nowSeconds()},v1=${await hmacHex(SECRET, `${nowSeconds()}.`, notUtf8)}`;
    expect(await refusal(verifyWebhookSignature(SECRET, header, notUtf8))).toBe("invalid_body");
  });

  it("a missing secret or a tolerance that is no number of seconds is the caller's mistake: a TypeError, a RangeError", async () => {
    await expect(verifyWebhookSignature("", signedNow(), BODY)).rejects.toBeInstanceOf(TypeError);
    await expect(verifyWebhookSignature(undefined as unknown as string, signedNow(), BODY)).rejects.toBeInstanceOf(TypeError);
    for (const toleranceSeconds of [-1, Number.NaN]) {
      await expect(verifyWebhookSignature(SECRET, signedNow(), BODY, { toleranceSeconds })).rejects.toBeInstanceOf(RangeError);
    }
  });
});

/** An HMAC computed here with WebCrypto, for bytes the server's string signer cannot take. */
async function hmacHex(secret: string, prefix: string, body: Uint8Array): Promise<string> {
  const encoder = new TextEncoder();
  const key = await crypto.subtle.importKey("raw", encoder.encode(secret), { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  const signed = new Uint8Array([...encoder.encode(prefix), ...body]);
  return Buffer.from(await crypto.subtle.sign("HMAC", key, signed)).toString("hex");
}

describe("verifyWebhookSignature on a delivery the dispatcher made", () => {
  let db: Db;
  let hooks: WebhookReceiver;
  let endpoint: TestEndpoint;
  let received: ReceivedRequest;

  beforeAll(async () => {
    hooks = await WebhookReceiver.start([200]);
    db = await openBareDatabase();
    const customerId = await bareCustomer(db);
    endpoint = await insertEndpoint(db, customerId, { url: hooks.url() });
    await emitEvent(db, customerId, { event: "message.read", data: { text: "ünïcödé ✓ \u2028 \"quoted\"" } });
    expect(await dispatcherOn(db, "node_client_package").runOnce()).toBe(1);
    expect(hooks.requests).toHaveLength(1);
    received = hooks.requests[0]!;
  });
  afterAll(async () => {
    await hooks?.close();
    await db?.destroy();
  });

  it("accepts the request as received, and resolves to the envelope the server sent", async () => {
    const header = received.headers["x-whatisup-signature"];
    const event = await verifyWebhookSignature(endpoint.secret, header, Buffer.from(received.rawBody, "utf8"));
    expect(event).toEqual(JSON.parse(received.rawBody));
    expect(event).toMatchObject({ event: "message.read", data: { text: "ünïcödé ✓ \u2028 \"quoted\"" } });
    expect(event.event_id).toBe(received.headers["x-whatisup-event-id"]);
  });

  it("refuses it under another secret, or with its body changed", async () => {
    const header = received.headers["x-whatisup-signature"];
    const error = await verifyWebhookSignature("whsec_another", header, received.rawBody).catch((thrown: unknown) => thrown);
    expect((error as WebhookSignatureError).reason).toBe("signature_mismatch");
    const tampered = received.rawBody.replace("message.read", "message.sent");
    expect(await refusal(verifyWebhookSignature(endpoint.secret, header, tampered))).toBe("signature_mismatch");
  });
});

const CHROMIUM = "/usr/bin/chromium";
const CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking"];
/** A page that loads the module as a browser app would, and hands the function to the test. */
const PAGE = `<!doctype html><title>verify</title><script type="module">
import { verifyWebhookSignature } from "/webhook-signature.js";
window.verifyWebhookSignature = verifyWebhookSignature;
</script>`;
const MODULE = resolve(import.meta.dirname, "../packages/client/dist/webhook-signature.js");

// In CI a missing browser is a failure (.ci/run installs it), never a silent skip.
describe.skipIf(!process.env.CI && !existsSync(CHROMIUM))("verifyWebhookSignature in a browser (headless Chromium)", () => {
  let browser: Browser;
  let site: Server;
  let origin: string;

  beforeAll(async () => {
    // The compiled module as a page would load it: it must need nothing but the browser.
    const source = readFileSync(MODULE, "utf8");
    site = createServer((request, response) => {
      if (request.url === "/webhook-signature.js") response.writeHead(200, { "content-type": "text/javascript" }).end(source);
      else response.writeHead(200, { "content-type": "text/html" }).end(PAGE);
    });
    await new Promise<void>((listening) => site.listen(0, "127.0.0.1", listening));
    origin = `http://127.0.0.1:${(site.address() as AddressInfo).port}`;
    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_FLAGS });
  });
  afterAll(async () => {
    await browser?.close();
    await new Promise((closed) => site?.close(closed));
  });

  it("accepts the server's signature and refuses a tampered body and a stale one, with their reasons", async () => {
    expect(readFileSync(MODULE, "utf8")).not.toMatch(/\bfrom\s+["']|\bimport\(|\brequire\(/);
    const page = await browser.newPage();
    await page.goto(origin);
    await page.waitForFunction(() => "verifyWebhookSignature" in globalThis);
    const t = nowSeconds();
    const outcomes = await page.evaluate(
      async ({ secret, body, cases }) => {
        const { verifyWebhookSignature } = globalThis as unknown as { verifyWebhookSignature: typeof import("@whatisup/client").verifyWebhookSignature };
        const outcomes: string[] = [];
        for (const { header, rawBody } of cases) {
          const bytes = rawBody === null ? body : new TextEncoder().encode(rawBody);
          await verifyWebhookSignature(secret, header, bytes).then(
            (event) => outcomes.push(`accepted ${event.event}`),
            (error: WebhookSignatureError) => outcomes.push(`${error.name} ${error.reason}`),
          );
        }
        return outcomes;
      },
      {
        secret: SECRET,
        body: BODY,
        cases: [
          { header: signatureHeader(SECRET, BODY, t), rawBody: null },
          { header: signatureHeader(SECRET, BODY, t), rawBody: BODY },
          { header: signatureHeader(SECRET, BODY, t), rawBody: `${BODY} ` },
          { header: signatureHeader(SECRET, BODY, t - 301), rawBody: null },
          { header: `t=${t},t=${t},${v1(SECRET, t)}`, rawBody: null },
        ],
      },
    );
    expect(outcomes).toEqual([
      "accepted message.read",
      "accepted message.read",
      "WebhookSignatureError signature_mismatch",
      "WebhookSignatureError timestamp_outside_tolerance",
      "WebhookSignatureError malformed_header",
    ]);
  });
});
