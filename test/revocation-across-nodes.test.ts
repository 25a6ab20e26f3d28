import { performance } from "node:perf_hooks";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Config } from "../src/config.js";
import type { App } from "../src/http/app-types.js";
import { bearer, buildTestApp, createInstance, createTestCustomer, expectError, issueKey, type TestCustomer } from "./helpers/test-app.js";
import { persistentDatabase, removeDatabase, TEST_DIALECT } from "./helpers/test-database.js";

/**
 * Issue 10 across nodes on PostgreSQL: the 204 of a revocation means every node refuses the key
 * on its very next request, and no key is ever live on an instance that was deleted. Three apps
 * in this process share one schema, as three nodes would (each has its own cache, channel and
 * pool). The real-process variant, with a node frozen by SIGSTOP, is test/e2e/frozen-node.test.ts.
 */

const ROUNDS = 1_000;
const BACKGROUND_LOOPS = 4;
const BOUND_ISSUES = 24;
const DELETION_ROUNDS = 3;

const settings: Partial<Config> = { rateLimit: { burst: 1_000_000, refillPerSecond: 1_000_000 } };

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((x, y) => x - y);
  return sorted[Math.max(0, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

describe.skipIf(TEST_DIALECT !== "postgres")("three nodes on one PostgreSQL database", () => {
  const database = persistentDatabase();
  let nodes: [App, App, App];
  let acme: TestCustomer;

  beforeAll(async () => {
    nodes = [await buildTestApp({ ...settings, database }), await buildTestApp({ ...settings, database }), await buildTestApp({ ...settings, database })];
    acme = await createTestCustomer(nodes[0]);
  });

  afterAll(async () => {
    await Promise.all(nodes.map((node) => node.close()));
    await removeDatabase(database);
  });

  /** Rounds of "warm on B and C, revoke on A, next request on B and C at once"; returns the served count. */
  async function revocationRounds(label: string): Promise<number> {
    const [a, b, c] = nodes;
    const latencies: number[] = [];
    let served = 0;
    for (let round = 0; round < ROUNDS; round += 1) {
      const key = await issueKey(a, acme.secret, { name: `round ${round}` });
      const warm = await Promise.all([b, c].map((node) => node.inject({ url: "/v1/limits", headers: bearer(key.secret) })));
      expect(warm.map((response) => response.statusCode)).toEqual([200, 200]);
      const startedAt = performance.now();
      const revoked = await a.inject({ method: "DELETE", url: `/v1/api-keys/${key.id}`, headers: bearer(acme.secret) });
      latencies.push(performance.now() - startedAt);
      expect(revoked.statusCode).toBe(204);
      const next = await Promise.all([b, c].map((node) => node.inject({ url: "/v1/limits", headers: bearer(key.secret) })));
      for (const response of next) {
        if (response.statusCode === 200) served += 1;
        else expectError(response, 401, "auth_expired");
      }
    }
    const fixed = (ms: number) => ms.toFixed(1);
    console.log(
      `[revocation] ${label}: ${served} of ${ROUNDS * 2} next requests served; DELETE p50 ${fixed(percentile(latencies, 50))} ms, ` +
        `p99 ${fixed(percentile(latencies, 99))} ms, max ${fixed(Math.max(...latencies))} ms`,
    );
    return served;
  }

  it(`${ROUNDS} rounds: a key revoked on A is refused by B and C on the next request, every time`, { timeout: 300_000 }, async () => {
    expect(await revocationRounds("quiet")).toBe(0);
  });

  it(`${ROUNDS} rounds under a background load on B and C: still never served`, { timeout: 300_000 }, async () => {
    const [, b, c] = nodes;
    let running = true;
    let requests = 0;
    const load = Array.from({ length: BACKGROUND_LOOPS }, async (_, loop) => {
      const node = loop % 2 === 0 ? b : c;
      while (running) {
        const response = await node.inject({ url: "/v1/api-keys", headers: bearer(acme.secret) });
        expect(response.statusCode).toBe(200);
        requests += 1;
      }
    });
    try {
      expect(await revocationRounds(`loaded (${BACKGROUND_LOOPS} loops of GET /v1/api-keys on B and C)`)).toBe(0);
    } finally {
      running = false;
      await Promise.all(load);
    }
    expect(requests).toBeGreaterThan(ROUNDS);
  });

  it(`${DELETION_ROUNDS} rounds of ${BOUND_ISSUES} concurrent bound issues over two nodes with the instance deleted (through a third) in the middle: no live key on it`, { timeout: 120_000 }, async () => {
    const [a, b, c] = nodes;
    for (let round = 0; round < DELETION_ROUNDS; round += 1) {
      const instance = await createInstance(a, acme.secret, `doomed ${round}`);
      // All 24 issues start at once over A and B; the deletion goes through C (a pool of its
      // own, so it does not queue behind them) once a third of them are acknowledged.
      let acknowledged = 0;
      let deletion: Promise<{ statusCode: number }> | undefined;
      const answers = await Promise.all(
        Array.from({ length: BOUND_ISSUES }, async (_, index) => {
          const answer = await (index % 2 === 0 ? a : b).inject({
            method: "POST",
            url: "/v1/api-keys",
            headers: bearer(acme.secret),
            payload: { name: `bound ${index}`, instance_id: instance.id },
          });
          if (answer.statusCode === 201) acknowledged += 1;
          if (acknowledged >= BOUND_ISSUES / 3) {
            deletion ??= c.inject({ method: "DELETE", url: `/v1/instances/${instance.id}`, headers: bearer(acme.secret) });
          }
          return answer;
        }),
      );
      expect((await deletion)?.statusCode).toBe(204);

      const issued = answers.filter((answer) => answer.statusCode === 201).map((answer) => answer.json() as { id: string; secret: string });
      for (const refused of answers.filter((answer) => answer.statusCode !== 201)) expectError(refused, 404, "instance_not_found");
      const live = await a.db
        .selectFrom("api_keys")
        .select("id")
        .where("instance_id", "=", instance.id)
        .where("revoked_at", "is", null)
        .execute();
      expect(live).toEqual([]);
      for (const key of issued) {
        for (const node of [a, b]) expectError(await node.inject({ url: `/v1/instances/${instance.id}`, headers: bearer(key.secret) }), 401, "auth_expired");
      }
      const refusals = answers.length - issued.length;
      console.log(`[revocation] deletion round ${round}: ${issued.length} bound keys acknowledged (all revoked), ${refusals} refused 404`);
    }
  });
});
