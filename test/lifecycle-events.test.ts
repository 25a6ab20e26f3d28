import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { EventEnvelope } from "@whatisup/client";
import type { App } from "../src/http/app-types.js";
import {
  bearer,
  buildTestApp,
  createInstance,
  createTestCustomer,
  FULL_KEY,
  issueKey,
  type TestCustomer,
} from "./helpers/test-app.js";

type Envelope = Omit<EventEnvelope, "data"> & { data: Record<string, any> };

/**
 * Key and instance lifecycle events, caused through the API: each one is written to the outbox
 * for the endpoints that want it, in the change's transaction, and no payload holds a secret.
 * The dispatcher is kept idle (a long poll) so the rows are read as the outbox wrote them.
 */
describe("lifecycle events in the outbox", () => {
  let app: App;
  let acme: TestCustomer;

  beforeEach(async () => {
    app = await buildTestApp({ webhooks: { allowLoopback: true, retryDelaysMs: [60_000], attemptTimeoutMs: 1000 }, workerPollMs: 3_600_000 });
    acme = await createTestCustomer(app);
  });
  afterEach(() => app.close());

  async function endpoint(events: string[], instanceId?: string): Promise<string> {
    const response = await app.inject({
      method: "POST",
      url: "/v1/webhook-endpoints",
      headers: bearer(acme.secret),
      payload: { url: "http://127.0.0.1:9/hooks", events, ...(instanceId ? { instance_id: instanceId } : {}) },
    });
    expect(response.statusCode, response.body).toBe(201);
    return response.json().id;
  }

  async function outbox(endpointId: string): Promise<Envelope[]> {
    const rows = await app.db
      .selectFrom("webhook_deliveries")
      .select(["payload", "event", "status", "instance_id"])
      .where("endpoint_id", "=", endpointId)
      .orderBy("created_at")
      .orderBy("id")
      .execute();
    for (const row of rows) expect(row.status).toBe("pending");
    return rows.map((row) => JSON.parse(row.payload) as Envelope);
  }

  it("api_key.issued and api_key.revoked carry the key's metadata and never its secret", async () => {
    const all = await endpoint(["api_key.issued", "api_key.revoked"]);
    const issued = await issueKey(app, acme.secret, { name: "ci", scopes: ["instances:read"] });
    const revoke = await app.inject({ method: "DELETE", url: `/v1/api-keys/${issued.id}`, headers: bearer(acme.secret) });
    expect(revoke.statusCode).toBe(204);
    // A second revocation changes nothing, so it announces nothing.
    await app.inject({ method: "DELETE", url: `/v1/api-keys/${issued.id}`, headers: bearer(acme.secret) });

    const events = await outbox(all);
    expect(events.map((event) => event.event)).toEqual(["api_key.issued", "api_key.revoked"]);
    const [issuedEvent, revokedEvent] = events as [Envelope, Envelope];
    expect(issuedEvent).toMatchObject({ api_version: "2026-04", instance_id: null });
    expect(issuedEvent.event_id).toMatch(/^[0-9A-HJKMNP-TV-Z]{26}$/);
    expect(issuedEvent.data.api_key).toMatchObject({ id: issued.id, prefix: issued.prefix, scopes: ["instances:read"], revoked_at: null });
    expect(issuedEvent.data.api_key).not.toHaveProperty("secret");
    expect(revokedEvent.data.api_key).toMatchObject({ id: issued.id, revoked_at: expect.any(String) });
    expect(JSON.stringify(events)).not.toMatch(FULL_KEY);
    expect(JSON.stringify(events)).not.toContain(issued.secret);
  });

  it("instance.created, then instance.deleted with api_key.revoked for each bound key, reach the instance's endpoint", async () => {
    const unbound = await endpoint(["*"]);
    const instance = await createInstance(app, acme.secret, "main");
    const other = await createInstance(app, acme.secret, "other");
    const bound = await endpoint(["instance.created", "instance.deleted", "api_key.revoked"], instance.id);
    const boundKey = await issueKey(app, acme.secret, { name: "bound", instance_id: instance.id });

    const deleted = await app.inject({ method: "DELETE", url: `/v1/instances/${instance.id}`, headers: bearer(acme.secret) });
    expect(deleted.statusCode).toBe(204);

    const boundEvents = await outbox(bound);
    expect(boundEvents.map((event) => [event.event, event.instance_id])).toEqual([
      ["api_key.revoked", instance.id],
      ["instance.deleted", instance.id],
    ]);
    expect(boundEvents[0]!.data).toMatchObject({ api_key: { id: boundKey.id }, reason: "instance_deleted" });
    expect(boundEvents[1]!.data.instance).toMatchObject({ id: instance.id, name: "main" });

    const everything = (await outbox(unbound)).map((event) => [event.event, event.instance_id]);
    expect(everything).toEqual([
      ["instance.created", instance.id],
      ["instance.created", other.id],
      ["api_key.issued", instance.id],
      ["api_key.revoked", instance.id],
      ["instance.deleted", instance.id],
    ]);
  });

  it("an endpoint bound to one instance never gets another instance's events nor customer-wide ones", async () => {
    const first = await createInstance(app, acme.secret, "first");
    const second = await createInstance(app, acme.secret, "second");
    const onlyFirst = await endpoint(["*"], first.id);
    await issueKey(app, acme.secret, { name: "unbound" });
    await issueKey(app, acme.secret, { name: "second's", instance_id: second.id });
    await issueKey(app, acme.secret, { name: "first's", instance_id: first.id });

    const events = await outbox(onlyFirst);
    expect(events.map((event) => [event.event, event.instance_id])).toEqual([["api_key.issued", first.id]]);
  });

  it("another customer's changes never reach this customer's endpoints", async () => {
    const mine = await endpoint(["*"]);
    const globex = await createTestCustomer(app, "Globex");
    await createInstance(app, globex.secret, "theirs");
    await issueKey(app, globex.secret, { name: "theirs" });
    expect(await outbox(mine)).toEqual([]);
  });
});
