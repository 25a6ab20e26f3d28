import { createHmac } from "node:crypto";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Db } from "../src/db/schema.js";
import {
  bareCustomer,
  dispatcherOn,
  emitEvent,
  insertEndpoint,
  openBareDatabase,
  type TestEndpoint,
} from "./helpers/webhook-fixtures.js";
import { WebhookReceiver, type ReceivedRequest } from "./helpers/webhook-receiver.js";

/**
 * The receiving-side example of docs/webhooks.md is code a customer will paste: this test takes
 * the page's one ```js block as it is, evaluates it, and checks what it decides about a request
 * a real receiver got from the dispatcher.
 */
type Verify = (secret: string, header: unknown, rawBody: string | Buffer, toleranceSeconds?: number) => boolean;

const page = readFileSync(new URL("../docs/webhooks.md", import.meta.url), "utf8");
const blocks = [...page.matchAll(/^```js\n([\s\S]*?)^```$/gm)].map((match) => match[1]!);

function loadExample(): Verify {
  const evaluate = new Function("require", `${blocks[0]}\nreturn verifyWhatIsUpSignature;`) as (
    require: NodeJS.Require,
  ) => Verify;
  return evaluate(createRequire(import.meta.url));
}

/** A signature computed here, independently of the server and of the example. */
function sign(secret: string, t: number | string, body: string): string {
  return createHmac("sha256", secret).update(`${t}.${body}`, "utf8").digest("hex");
}

let db: Db;
let hooks: WebhookReceiver;
let endpoint: TestEndpoint;
let received: ReceivedRequest;
let verify: Verify;

beforeAll(async () => {
  verify = loadExample();
  hooks = await WebhookReceiver.start([200]);
  db = await openBareDatabase();
  const customerId = await bareCustomer(db);
  endpoint = await insertEndpoint(db, customerId, { url: hooks.url() });
  await emitEvent(db, customerId, { event: "message.read", data: { text: "ünïcödé ✓ \u2028 \"quoted\"" } });
  expect(await dispatcherOn(db, "node_docs").runOnce()).toBe(1);
  expect(hooks.requests).toHaveLength(1);
  received = hooks.requests[0]!;
});
afterAll(async () => {
  await hooks?.close();
  await db?.destroy();
});

describe("the signature example of docs/webhooks.md", () => {
  it("is the page's one js block and defines verifyWhatIsUpSignature", () => {
    expect(blocks).toHaveLength(1);
    expect(blocks[0]).toContain("crypto.timingSafeEqual");
    expect(typeof verify).toBe("function");
  });

  it("accepts what a real receiver got, as a Buffer and as a string", () => {
    const header = received.headers["x-whatisup-signature"];
    expect(verify(endpoint.secret, header, Buffer.from(received.rawBody, "utf8"), 300)).toBe(true);
    expect(verify(endpoint.secret, header, received.rawBody, 300)).toBe(true);
    expect(verify(endpoint.secret, header, received.rawBody)).toBe(true);
  });

  it("refuses a body changed by a single character", () => {
    const header = received.headers["x-whatisup-signature"];
    const tampered = received.rawBody.replace("message.read", "message.sent");
    expect(tampered).not.toBe(received.rawBody);
    expect(verify(endpoint.secret, header, tampered, 300)).toBe(false);
    expect(verify(endpoint.secret, header, `${received.rawBody} `, 300)).toBe(false);
  });

  it("refuses another endpoint's secret", () => {
    expect(verify("whsec_another", received.headers["x-whatisup-signature"], received.rawBody, 300)).toBe(false);
  });

  it("refuses a timestamp outside the tolerance, either way, and accepts it within", () => {
    const now = Math.floor(Date.now() / 1000);
    for (const t of [now - 600, now + 600]) {
      const header = `t=${t},v1=${sign(endpoint.secret, t, received.rawBody)}`;
      expect(verify(endpoint.secret, header, received.rawBody, 300)).toBe(false);
      expect(verify(endpoint.secret, header, received.rawBody, 900)).toBe(true);
    }
  });

  it("refuses a signature moved to another timestamp", () => {
    const [, t, v1] = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(String(received.headers["x-whatisup-signature"]))!;
    expect(verify(endpoint.secret, `t=${Number(t) + 1},v1=${v1}`, received.rawBody, 300)).toBe(false);
  });

  it("accepts a header carrying several v1 signatures when one of them matches", () => {
    const t = Math.floor(Date.now() / 1000);
    const good = sign(endpoint.secret, t, received.rawBody);
    const other = sign("whsec_old", t, received.rawBody);
    expect(verify(endpoint.secret, `t=${t},v1=${other},v1=${good}`, received.rawBody, 300)).toBe(true);
    expect(verify(endpoint.secret, `t=${t},v1=${other}`, received.rawBody, 300)).toBe(false);
  });

  it.each([
    ["no header", undefined],
    ["an empty header", ""],
    ["no timestamp", `v1=${"a".repeat(64)}`],
    ["no signature", `t=${Math.floor(Date.now() / 1000)}`],
    ["a timestamp that is not a number", `t=soon,v1=${"a".repeat(64)}`],
    ["a signature of the wrong length", `t=${Math.floor(Date.now() / 1000)},v1=abcd`],
    ["garbage", "not a signature at all"],
  ])("refuses %s without throwing", (_label, header) => {
    expect(verify(endpoint.secret, header, received.rawBody, 300)).toBe(false);
  });
});
