import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { WebhookDelivery } from "@whatisup/client";
import type { App } from "../../src/http/app-types.js";
import { verifyWebhookSignature } from "../../src/crypto/webhook-signature.js";
import {
  bearer,
  buildTestApp,
  createInstance,
  createTestCustomer,
  expectError,
  issueKey,
  type Page,
  type TestCustomer,
} from "../helpers/test-app.js";
import { FAST_WEBHOOKS, waitFor } from "../helpers/webhook-fixtures.js";
import { WebhookReceiver } from "../helpers/webhook-receiver.js";


/**
 * The API-keys page's promise, walked end to end through the public API: a key bound to an
 * instance "will only be able to send messages from / read deliveries for that one instance".
 * Real sandbox messages, a real webhook receiver on loopback, the real dispatcher.
 */
describe("an instance-bound key keeps to its instance", () => {
  let app: App;
  let receiver: WebhookReceiver;
  let acme: TestCustomer;
  let endpointSecret: string;
  let first: { id: string };
  let second: { id: string };
  let boundSecret: string;

  beforeAll(async () => {
    app = await buildTestApp({ webhooks: FAST_WEBHOOKS, workerPollMs: 10, sandboxStepMs: 20 });
    receiver = await WebhookReceiver.start([200]);
    acme = await createTestCustomer(app);
    first = await createInstance(app, acme.secret, "first");
    second = await createInstance(app, acme.secret, "second");
    const endpoint = await app.inject({
      method: "POST",
      url: "/v1/webhook-endpoints",
      headers: bearer(acme.secret),
      payload: { url: receiver.url(), events: ["message.sent", "message.delivered", "message.read"] },
    });
    expect(endpoint.statusCode, endpoint.body).toBe(201);
    endpointSecret = endpoint.json().secret;
    boundSecret = (
      await issueKey(app, acme.secret, {
        name: "first only",
        instance_id: first.id,
        scopes: ["messages:send", "deliveries:read"],
      })
    ).secret;
  });

  afterAll(async () => {
    await app.close();
    await receiver.close();
  });

  const send = (secret: string, instanceId: string) =>
    app.inject({
      method: "POST",
      url: `/v1/instances/${instanceId}/messages`,
      headers: bearer(secret),
      payload: { type: "text", to: "+15551234567", text: "hello" },
    });

  const deliveries = async (secret: string, query = ""): Promise<WebhookDelivery[]> => {
    const response = await app.inject({ url: `/v1/webhook-deliveries?limit=100${query}`, headers: bearer(secret) });
    expect(response.statusCode, response.body).toBe(200);
    return (response.json() as Page<WebhookDelivery>).data;
  };

  it("sends from its instance, is refused on the other, and reads only its own deliveries", async () => {
    const fromFirst = await send(boundSecret, first.id);
    expect(fromFirst.statusCode, fromFirst.body).toBe(202);
    expect(fromFirst.json()).toMatchObject({ instance_id: first.id, status: "queued" });

    const body = expectError(await send(boundSecret, second.id), 403, "instance_access_denied");
    expect(body.error.details).toEqual({ instance_id: first.id });

    const fromSecond = await send(acme.secret, second.id);
    expect(fromSecond.statusCode, fromSecond.body).toBe(202);

    // Both messages go sent → delivered → read, and each event reaches the receiver.
    const all = await waitFor(async () => {
      const seen = await deliveries(acme.secret, "&status=success");
      return seen.length === 6 ? seen : undefined;
    }, "six successful deliveries (three events for each of two messages)");
    expect(new Set(all.map((delivery) => delivery.instance_id))).toEqual(new Set([first.id, second.id]));

    const own = await deliveries(boundSecret);
    expect(own).toHaveLength(3);
    expect(own.every((delivery) => delivery.instance_id === first.id)).toBe(true);
    expect(own.map((delivery) => delivery.event).sort()).toEqual(["message.delivered", "message.read", "message.sent"]);

    const otherInstanceDelivery = all.find((delivery) => delivery.instance_id === second.id)!;
    expectError(
      await app.inject({ url: `/v1/webhook-deliveries/${otherInstanceDelivery.id}`, headers: bearer(boundSecret) }),
      404,
      "delivery_not_found",
    );
    expectError(
      await app.inject({ url: `/v1/webhook-deliveries?instance_id=${second.id}`, headers: bearer(boundSecret) }),
      403,
      "instance_access_denied",
    );
    const ownDelivery = own[0]!;
    const readOwn = await app.inject({ url: `/v1/webhook-deliveries/${ownDelivery.id}`, headers: bearer(boundSecret) });
    expect(readOwn.statusCode).toBe(200);
    expect(readOwn.json()).toMatchObject({ id: ownDelivery.id, instance_id: first.id, status: "success" });

    // The bound key manages nothing that spans instances.
    expectError(await app.inject({ url: "/v1/webhook-endpoints", headers: bearer(boundSecret) }), 403, "instance_scoped_key");

    // What the receiver got is what the API lists, each one signed with the endpoint's secret.
    expect(receiver.requests).toHaveLength(6);
    for (const request of receiver.requests) {
      expect(verifyWebhookSignature(endpointSecret, String(request.headers["x-whatisup-signature"]), request.rawBody)).toBe(true);
    }
    const received = receiver.requests.map((request) => JSON.parse(request.rawBody).event_id).sort();
    expect(received).toEqual(all.map((delivery) => delivery.event_id).sort());
  });
});
