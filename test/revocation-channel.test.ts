import { sql } from "kysely";
import { afterEach, describe, expect, it } from "vitest";
import type { KeyCredential } from "../src/api-keys/api-key-repository.js";
import { DISTRUST_AFTER_MS, PostgresRevocationChannel, REVOCATION_CHANNEL, type RevocationWaits } from "../src/auth/revocation-channel.js";
import { VerifiedKeyCache } from "../src/auth/verified-key-cache.js";
import { openDatabase } from "../src/db/database.js";
import type { Db } from "../src/db/schema.js";
import type { App } from "../src/http/app-types.js";
import { bearer, buildTestApp, createTestCustomer, expectError, issueKey } from "./helpers/test-app.js";
import { freshDatabase, persistentDatabase, TEST_DIALECT } from "./helpers/test-database.js";
import { waitFor } from "./helpers/webhook-fixtures.js";

/** The bound of issue 4: a revocation is refused by every node within this, whatever happens. */
const REVOCATION_BOUND_MS = 1_000;

const silentLog = { warn() {}, error() {}, info() {}, debug() {} } as never;

function credential(id: string): KeyCredential {
  return { id, customer_id: id, instance_id: null, prefix: "zpk_live_x", mode: "live", scopes: ["*"], expires_at: null, allowed_ips: null, revoked_at: null };
}

/** The pg client a PostgresRevocationChannel listens on (private: reached into only by these tests). */
function listeningClient(events: PostgresRevocationChannel): { processID: number; connection: { stream: { pause(): void } } } {
  return (events as unknown as { client: never }).client;
}

/** Ends the node's listening connection (from another database session) and waits until it has subscribed again. */
async function cutAndResubscribe(events: PostgresRevocationChannel, from: Db): Promise<void> {
  const cut = listeningClient(events);
  await sql`select pg_terminate_backend(${cut.processID})`.execute(from);
  await waitFor(() => listeningClient(events) !== null && listeningClient(events) !== cut && events.healthy(), "the node to subscribe again", 5_000);
}

describe.skipIf(TEST_DIALECT !== "postgres")("the revocation channel over PostgreSQL LISTEN/NOTIFY", () => {
  const cleanups: (() => Promise<unknown>)[] = [];
  afterEach(async () => {
    while (cleanups.length > 0) await cleanups.pop()!();
  });

  type Settled = Parameters<RevocationWaits["revocationSettled"]>;
  async function node(): Promise<{ events: PostgresRevocationChannel; cache: VerifiedKeyCache; db: Db; settled: Settled[] }> {
    const config = freshDatabase();
    if (config.dialect !== "postgres") throw new Error("unreachable");
    const { db } = await openDatabase(config);
    const cache = new VerifiedKeyCache(1_000);
    const settled: Settled[] = [];
    const events = new PostgresRevocationChannel(config.url, cache, silentLog, {
      revocationSettled: (...args) => settled.push(args),
    });
    await events.start();
    cleanups.push(() => db.destroy(), () => events.stop());
    await waitFor(() => events.healthy(), "the channel to be heard");
    return { events, cache, db, settled };
  }

  /** Revokes `keyIds` from node `from` and returns once the revocation has settled. */
  async function revoke(from: { events: PostgresRevocationChannel; db: Db }, keyIds: string[]): Promise<void> {
    const settle = await from.db.transaction().execute((tx) => from.events.announce(tx, keyIds));
    await settle();
  }

  it("a revocation announced in a transaction reaches another node's cache when it commits, not before", async () => {
    const a = await node();
    const b = await node();
    b.cache.set("digest-1", credential("key-1"), b.cache.generation);

    const settle = await a.db.transaction().execute(async (tx) => {
      const announced = await a.events.announce(tx, ["key-1"]);
      await new Promise((resolve) => setTimeout(resolve, 100));
      expect(b.cache.get("digest-1")).toBeDefined();
      return announced;
    });
    await settle();
    expect(b.cache.get("digest-1")).toBeUndefined();
  });

  it("a revocation settles once every other node has evicted the keys and acknowledged", async () => {
    const [a, b, c] = [await node(), await node(), await node()];
    // Each node knows the others from their heartbeats before the revocation, and A has listened
    // for a whole window (before that it cannot know it has heard of every node, and waits it out).
    await waitFor(() => (a.events as unknown as { peers: Map<string, number> }).peers.size === 2, "node A to hear B and C");
    await new Promise((resolve) => setTimeout(resolve, DISTRUST_AFTER_MS));
    for (const peer of [b, c]) peer.cache.set("digest-5", credential("key-5"), peer.cache.generation);
    await revoke(a, ["key-5"]);
    expect(b.cache.get("digest-5")).toBeUndefined();
    expect(c.cache.get("digest-5")).toBeUndefined();
    expect(a.settled).toHaveLength(1);
    expect(a.settled[0]![1]).toBe("acknowledged");
  });

  it("a node that stops hearing holds a revocation up no longer than the distrust window, and distrusts its cache by then", async () => {
    const a = await node();
    const b = await node();
    await waitFor(() => (a.events as unknown as { peers: Map<string, number> }).peers.size === 1, "node A to hear B");
    b.cache.set("digest-6", credential("key-6"), b.cache.generation);
    listeningClient(b.events).connection.stream.pause();
    await revoke(a, ["key-6"]);
    // B never heard the revocation, but it no longer serves anything from its cache.
    expect(b.events.healthy()).toBe(false);
    expect(a.settled[0]![1]).toBe("distrust_window");
    expect(a.settled[0]![0]).toBeGreaterThanOrEqual(DISTRUST_AFTER_MS);
  });

  it("a rolled-back revocation is never heard", async () => {
    const a = await node();
    const b = await node();
    b.cache.set("digest-2", credential("key-2"), b.cache.generation);
    await expect(
      a.db.transaction().execute(async (tx) => {
        await a.events.announce(tx, ["key-2"]);
        throw new Error("rolled back");
      }),
    ).rejects.toThrow("rolled back");
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(b.cache.get("digest-2")).toBeDefined();
  });

  it("a killed connection makes the node distrust (and empty) its cache at once, then re-subscribe", async () => {
    const a = await node();
    const b = await node();
    b.cache.set("digest-3", credential("key-3"), b.cache.generation);
    await sql`select pg_terminate_backend(${listeningClient(b.events).processID})`.execute(a.db);
    await waitFor(() => !b.events.healthy(), "node B to notice", REVOCATION_BOUND_MS);
    expect(b.cache.size).toBe(0);
    await waitFor(() => b.events.healthy(), "node B to re-subscribe", 5_000);

    b.cache.set("digest-4", credential("key-4"), b.cache.generation);
    await revoke(a, ["key-4"]);
    expect(b.cache.get("digest-4")).toBeUndefined();
  });

  it("a node that has just subscribed again waits out the window: heartbeats sent before it listened went unheard", async () => {
    const a = await node();
    const b = await node();
    await waitFor(() => (a.events as unknown as { peers: Map<string, number> }).peers.size === 1, "node A to hear B");
    await cutAndResubscribe(a.events, b.db);

    // B acknowledges at once, but A cannot know yet that B is every node there is: a node whose
    // heartbeats all came before A's LISTEN, and whose notice is late, would still serve the key.
    b.cache.set("digest-7", credential("key-7"), b.cache.generation);
    await revoke(a, ["key-7"]);
    expect(b.cache.get("digest-7")).toBeUndefined();
    expect(a.settled).toHaveLength(1);
    expect(a.settled[0]![1]).toBe("distrust_window");
    expect(a.settled[0]![0]).toBeGreaterThanOrEqual(DISTRUST_AFTER_MS);
  });

  it("a heartbeat counts only on the connection that sent it", async () => {
    const a = await node();
    const b = await node();
    const privateState = a.events as unknown as { connections: number };
    const firstConnection = privateState.connections;
    await cutAndResubscribe(a.events, b.db);

    // A heartbeat of the first connection, committed late: it says nothing of what the second heard.
    const late = { type: "heartbeat", node: a.events.nodeId, connection: firstConnection, sent_at: performance.now() + 60_000 };
    await sql`select pg_notify(${REVOCATION_CHANNEL}, ${JSON.stringify(late)})`.execute(b.db);
    // Notifications arrive in commit order: once A has evicted key-8, it has heard the heartbeat.
    a.cache.set("digest-8", credential("key-8"), a.cache.generation);
    const marker = { type: "revoked", id: "marker", origin: b.events.nodeId, key_ids: ["key-8"], last: false };
    await sql`select pg_notify(${REVOCATION_CHANNEL}, ${JSON.stringify(marker)})`.execute(b.db);
    await waitFor(() => a.cache.get("digest-8") === undefined, "node A to hear the late heartbeat");
    listeningClient(a.events).connection.stream.pause();
    await new Promise((resolve) => setTimeout(resolve, DISTRUST_AFTER_MS + 100));
    expect(a.events.healthy()).toBe(false);
  });

  it("a connection that dies silently (no longer read) is distrusted within the bound", async () => {
    const b = await node();
    listeningClient(b.events).connection.stream.pause();
    const pausedAt = Date.now();
    await waitFor(() => !b.events.healthy(), "node B to notice the silence", REVOCATION_BOUND_MS);
    expect(Date.now() - pausedAt).toBeLessThanOrEqual(DISTRUST_AFTER_MS + 200);
    // It gives up on that connection and subscribes again.
    await waitFor(() => b.events.healthy(), "node B to re-subscribe", 10_000);
  });
});

describe.skipIf(TEST_DIALECT !== "postgres")("two API nodes on one database", () => {
  let nodes: App[] = [];
  afterEach(async () => {
    await Promise.all(nodes.map((app) => app.close()));
    nodes = [];
  });

  it("a key revoked on node A is refused by node B, which had it cached, on the next request after the 204", async () => {
    const database = persistentDatabase();
    const a = await buildTestApp({ database });
    const b = await buildTestApp({ database });
    nodes = [a, b];
    const acme = await createTestCustomer(a);
    const key = await issueKey(a, acme.secret, { name: "shared" });
    expect((await b.inject({ url: "/v1/limits", headers: bearer(key.secret) })).statusCode).toBe(200);

    const revoked = await a.inject({ method: "DELETE", url: `/v1/api-keys/${key.id}`, headers: bearer(acme.secret) });
    expect(revoked.statusCode).toBe(204);
    expectError(await b.inject({ url: "/v1/limits", headers: bearer(key.secret) }), 401, "auth_expired");
  });
});
