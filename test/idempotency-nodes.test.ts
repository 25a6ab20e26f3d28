import { randomUUID } from "node:crypto";
import type { LightMyRequestResponse } from "fastify";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Config } from "../src/config.js";
import type { App } from "../src/http/app-types.js";
import { bearer, buildTestApp, createTestCustomer, expectError, type TestCustomer } from "./helpers/test-app.js";
import { persistentDatabase, removeDatabase, rowCounts, TEST_DIALECT } from "./helpers/test-database.js";

/**
 * Idempotency-Key across nodes (issue 15): two apps on one PostgreSQL database, as two nodes
 * behind a load balancer, receive the same key and request at the same moment, twice each. The
 * record is in the database and completed in the change's own transaction, so every round makes
 * exactly one change; every other answer is a replay of it or 409 idempotency_key_in_use.
 */

const ROUNDS = 20;
/** Requests per node and round, all at once. */
const PER_NODE = 2;
const MAX_SKEW_MS = 15;
const HOOK_URL = "http://127.0.0.1:9/hook";

const settings: Partial<Config> = {
  rateLimit: { burst: 1_000_000, refillPerSecond: 1_000_000 },
  webhooks: { allowLoopback: true, retryDelaysMs: [0], attemptTimeoutMs: 1000 },
};

describe.skipIf(TEST_DIALECT !== "postgres")("two nodes on one PostgreSQL database, the same key at once", () => {
  const database = persistentDatabase();
  let nodes: [App, App];
  let acme: TestCustomer;

  beforeAll(async () => {
    nodes = [await buildTestApp({ ...settings, database }), await buildTestApp({ ...settings, database })];
    acme = await createTestCustomer(nodes[0]);
  });

  afterAll(async () => {
    await Promise.all(nodes.map((node) => node.close()));
    await removeDatabase(database);
  });

  /** How the answers other than the change were, over every round: printed, for the record. */
  const tally = { replayed: 0, in_use: 0 };
  afterAll(() => console.log(`[idempotency] across nodes: besides each change, ${tally.replayed} replays and ${tally.in_use} answers 409`));

  /** Sends one request PER_NODE times to each node at once: exactly one changes anything. */
  async function race(url: string, payload: object, table: string, status = 201): Promise<void> {
    const key = randomUUID();
    const before = (await rowCounts(nodes[0].db, [table], acme.customer.id))[table]!;
    // Each a few random milliseconds late: some arrive while the first runs, some after it answered.
    const sends = nodes.flatMap((node) =>
      Array.from({ length: PER_NODE }, async () => {
        await new Promise((resolve) => setTimeout(resolve, Math.random() * MAX_SKEW_MS));
        return node.inject({ method: "POST", url, headers: { ...bearer(acme.secret), "idempotency-key": key }, payload });
      }),
    );
    const answers = await Promise.all(sends);
    const made = answers.filter((answer) => answer.statusCode === status && answer.headers["idempotent-replayed"] === undefined);
    expect(made, answers.map((answer) => answer.body).join("\n")).toHaveLength(1);
    const first = made[0]!.json() as { id: string };
    for (const answer of answers) {
      if (answer === made[0]) continue;
      if (answer.statusCode === 409) {
        expectError(answer, 409, "idempotency_key_in_use");
        tally.in_use += 1;
        continue;
      }
      expect(answer.statusCode, answer.body).toBe(status);
      expect(answer.headers["idempotent-replayed"]).toBe("true");
      expect((answer.json() as { id: string }).id).toBe(first.id);
      tally.replayed += 1;
    }
    expect((await rowCounts(nodes[0].db, [table], acme.customer.id))[table]).toBe(before + 1);
    // Afterwards both nodes replay it.
    for (const node of nodes) {
      const retry: LightMyRequestResponse = await node.inject({ method: "POST", url, headers: { ...bearer(acme.secret), "idempotency-key": key }, payload });
      expect(retry.headers["idempotent-replayed"]).toBe("true");
      expect((retry.json() as { id: string }).id).toBe(first.id);
    }
  }

  it(`${ROUNDS} rounds of POST /v1/instances: one instance each`, { timeout: 120_000 }, async () => {
    for (let round = 0; round < ROUNDS; round += 1) await race("/v1/instances", { name: `round ${round}` }, "instances");
  });

  it(`${ROUNDS} rounds of POST /v1/instances/:id/messages: one message each (a retried send sends once)`, { timeout: 120_000 }, async () => {
    const instance = await nodes[0].inject({ method: "POST", url: "/v1/instances", headers: bearer(acme.secret), payload: { name: "sender" } });
    const url = `/v1/instances/${(instance.json() as { id: string }).id}/messages`;
    for (let round = 0; round < ROUNDS; round += 1) {
      await race(url, { type: "text", to: "+15551234567", text: `round ${round}` }, "messages", 202);
    }
  });

  it(`${ROUNDS} rounds of POST /v1/webhook-endpoints: one endpoint each`, { timeout: 120_000 }, async () => {
    for (let round = 0; round < ROUNDS; round += 1) {
      await race("/v1/webhook-endpoints", { url: `${HOOK_URL}/${round}`, events: ["message.sent"] }, "webhook_endpoints");
    }
  });
});
