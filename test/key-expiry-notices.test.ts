import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { claimExpiredNotices, claimExpiringNotices } from "../src/api-keys/api-key-repository.js";
import type { EventEnvelope } from "@whatisup/client";
import { ConfigError, loadConfig, type Config } from "../src/config.js";
import { openDatabase } from "../src/db/database.js";
import { migrateToLatest } from "../src/db/migrate.js";
import type { Db } from "../src/db/schema.js";
import type { App } from "../src/http/app-types.js";
import { LATE_EXPIRED_NOTICE_MS } from "../src/use-cases/notify-key-expiries.js";
import { KeyExpiryNotifier, NOTICE_BATCH_SIZE } from "../src/workers/key-expiry-notifier.js";
import {
  bearer,
  buildTestApp,
  createInstance,
  createTestCustomer,
  FULL_KEY,
  issueKey,
  writerOn,
  type TestCustomer,
} from "./helpers/test-app.js";
import { sqlitePlanOf } from "./helpers/sqlite-plan.js";
import { allowInserts, failInserts, persistentDatabase, removeDatabase, TEST_DIALECT } from "./helpers/test-database.js";

const DAY = 86_400_000;
type Envelope = Omit<EventEnvelope, "data"> & { data: Record<string, any> };
type Delivery = { event: string; instance_id: string | null; payload: Envelope };

/**
 * The app's own workers run once at start and then sleep, and deliveries wait an hour for their
 * first attempt: the tests tick notifiers by hand and read the outbox as it was written. The app's
 * own notifier sends no `expiring` notice: its first round, on the real clock, can run after a
 * test has issued a key expiring within days, and claim the notice the test's notifier is to claim.
 */
const IDLE: Partial<Config> = {
  webhooks: { allowLoopback: true, retryDelaysMs: [3_600_000], attemptTimeoutMs: 1000 },
  workerPollMs: 3_600_000,
  keyExpiryNoticeDays: 0,
  rateLimit: { burst: 1_000_000, refillPerSecond: 1_000_000 },
};

/** A notifier on `db` whose clock the test sets. */
function notifierOn(db: Db, clock: { now: number }, noticeDays = 7): KeyExpiryNotifier {
  return new KeyExpiryNotifier({ write: writerOn(db), noticeDays, clock: () => clock.now });
}

/** Ticks until a round finds nothing; returns how many keys it claimed in all. */
async function drain(notifier: KeyExpiryNotifier): Promise<number> {
  let claimed = 0;
  for (let handled = await notifier.runOnce(); handled > 0; handled = await notifier.runOnce()) claimed += handled;
  return claimed;
}

async function subscribe(app: App, secret: string, events: string[]): Promise<string> {
  const response = await app.inject({
    method: "POST",
    url: "/v1/webhook-endpoints",
    headers: bearer(secret),
    payload: { url: "http://127.0.0.1:9/hooks", events },
  });
  expect(response.statusCode, response.body).toBe(201);
  return response.json().id;
}

async function deliveries(db: Db, endpointId: string): Promise<Delivery[]> {
  const rows = await db
    .selectFrom("webhook_deliveries")
    .select(["event", "instance_id", "payload"])
    .where("endpoint_id", "=", endpointId)
    .orderBy("created_at")
    .orderBy("id")
    .execute();
  return rows.map((row) => ({ event: row.event, instance_id: row.instance_id, payload: JSON.parse(row.payload) as Envelope }));
}

/** "event key-name" per delivery, for exact comparisons. */
function summary(list: Delivery[]): string[] {
  return list.map((delivery) => `${delivery.event} ${delivery.payload.data.api_key.name}`);
}

describe("key expiry notices", () => {
  let app: App;
  let acme: TestCustomer;
  let endpointId: string;

  beforeEach(async () => {
    app = await buildTestApp(IDLE);
    acme = await createTestCustomer(app);
    endpointId = await subscribe(app, acme.secret, ["api_key.expiring", "api_key.expired"]);
  });
  afterEach(() => app.close());

  /** A key expiring `inMs` from now (real time: the API refuses a past expiry). */
  async function keyExpiringIn(name: string, inMs: number, body: Record<string, unknown> = {}) {
    return issueKey(app, acme.secret, { name, expires_at: new Date(Date.now() + inMs).toISOString(), ...body });
  }

  it(`emits api_key.expiring once from ${7} days before expires_at, then api_key.expired once from expires_at`, async () => {
    const key = await keyExpiringIn("ci", 30 * DAY);
    const expiresAt = Date.parse(key.expires_at!);
    const clock = { now: expiresAt - 7 * DAY - 1 };
    const notifier = notifierOn(app.db, clock);

    expect(await drain(notifier)).toBe(0);
    clock.now = expiresAt - 7 * DAY;
    expect(await drain(notifier)).toBe(1);
    clock.now = expiresAt - 1;
    expect(await drain(notifier)).toBe(0);
    expect(summary(await deliveries(app.db, endpointId))).toEqual(["api_key.expiring ci"]);
    clock.now = expiresAt;
    expect(await drain(notifier)).toBe(1);
    clock.now = expiresAt + DAY;
    expect(await drain(notifier)).toBe(0);
    expect(summary(await deliveries(app.db, endpointId))).toEqual(["api_key.expiring ci", "api_key.expired ci"]);

    const row = await app.db.selectFrom("api_keys").select(["expiring_notice_at", "expired_notice_at"]).where("id", "=", key.id).executeTakeFirstOrThrow();
    expect(row).toEqual({ expiring_notice_at: new Date(expiresAt - 7 * DAY).toISOString(), expired_notice_at: new Date(expiresAt).toISOString() });
  });

  it("sends the key as the API shows it, on the key's instance, and never its secret or digest", async () => {
    const instance = await createInstance(app, acme.secret, "main");
    const key = await keyExpiringIn("bound", 3 * DAY, { instance_id: instance.id, scopes: ["messages:send"] });
    const clock = { now: Date.now() };
    await drain(notifierOn(app.db, clock));
    clock.now = Date.parse(key.expires_at!);
    await drain(notifierOn(app.db, clock));

    const sent = await deliveries(app.db, endpointId);
    expect(sent.map((delivery) => delivery.event)).toEqual(["api_key.expiring", "api_key.expired"]);
    const { secret, ...shown } = key;
    for (const delivery of sent) {
      expect(delivery.instance_id).toBe(instance.id);
      expect(delivery.payload).toMatchObject({ event: delivery.event, api_version: "2026-04", instance_id: instance.id });
      expect(delivery.payload.event_id).toMatch(/^[0-9A-HJKMNP-TV-Z]{26}$/);
      expect(Object.keys(delivery.payload.data)).toEqual(["api_key"]);
      expect(delivery.payload.data.api_key).toEqual(shown);
      expect(JSON.stringify(delivery.payload)).not.toContain(secret);
      expect(JSON.stringify(delivery.payload)).not.toMatch(FULL_KEY);
      expect(JSON.stringify(delivery.payload)).not.toContain("digest");
    }
    // The API shows the same key the same way.
    const shownNow = await app.inject({ url: `/v1/api-keys/${key.id}`, headers: bearer(acme.secret) });
    expect(shownNow.statusCode).toBe(200);
    expect(shownNow.json()).toEqual(shown);
  });

  it("a key issued with less than the notice period to live gets api_key.expiring on the next round, once", async () => {
    const key = await keyExpiringIn("short", 2 * DAY);
    const clock = { now: Date.now() };
    const notifier = notifierOn(app.db, clock);
    expect(await drain(notifier)).toBe(1);
    expect(await drain(notifier)).toBe(0);
    clock.now = Date.parse(key.expires_at!);
    expect(await drain(notifier)).toBe(1);
    expect(summary(await deliveries(app.db, endpointId))).toEqual(["api_key.expiring short", "api_key.expired short"]);
  });

  it("a key first seen expired gets api_key.expired alone, and never api_key.expiring after it (a node whose clock lags)", async () => {
    const key = await keyExpiringIn("missed", 30 * DAY);
    const expiresAt = Date.parse(key.expires_at!);
    expect(await drain(notifierOn(app.db, { now: expiresAt + 60_000 }))).toBe(1);
    expect(await drain(notifierOn(app.db, { now: expiresAt - DAY }))).toBe(0);
    expect(await drain(notifierOn(app.db, { now: expiresAt + 2 * DAY }))).toBe(0);
    expect(summary(await deliveries(app.db, endpointId))).toEqual(["api_key.expired missed"]);
  });

  it("sends nothing for revoked keys, keys without expiry, or keys that expire later than the notice period", async () => {
    const revoke = async (id: string) => {
      const response = await app.inject({ method: "DELETE", url: `/v1/api-keys/${id}`, headers: bearer(acme.secret) });
      expect(response.statusCode).toBe(204);
    };
    const revoked = await keyExpiringIn("revoked", 2 * DAY);
    await revoke(revoked.id);
    const warned = await keyExpiringIn("warned", 2 * DAY);
    await issueKey(app, acme.secret, { name: "forever" });
    await keyExpiringIn("later", 30 * DAY);
    const clock = { now: Date.now() };
    const notifier = notifierOn(app.db, clock);
    expect(await drain(notifier)).toBe(1);
    // Revoked after its expiring notice: no expired notice follows.
    await revoke(warned.id);
    clock.now = Date.parse(warned.expires_at!) + 60_000;
    expect(await drain(notifier)).toBe(0);
    expect(summary(await deliveries(app.db, endpointId))).toEqual(["api_key.expiring warned"]);
    const told = await app.db
      .selectFrom("api_keys")
      .select("name")
      .where((eb) => eb.or([eb("expiring_notice_at", "is not", null), eb("expired_notice_at", "is not", null)]))
      .execute();
    expect(told).toEqual([{ name: "warned" }]);
  });

  it(`marks keys that expired more than ${LATE_EXPIRED_NOTICE_MS / DAY} days ago without an event: no flood of old news`, async () => {
    const old = await keyExpiringIn("old", 20 * DAY);
    const recent = await keyExpiringIn("recent", 21 * DAY);
    // Both expired while nothing ran (before this feature, or every node down): one 8 days ago,
    // one exactly 7 days ago.
    const now = Date.parse(recent.expires_at!) + LATE_EXPIRED_NOTICE_MS;
    expect(Date.parse(old.expires_at!)).toBeLessThan(now - LATE_EXPIRED_NOTICE_MS);
    const notifier = notifierOn(app.db, { now });
    expect(await drain(notifier)).toBe(2);
    expect(summary(await deliveries(app.db, endpointId))).toEqual(["api_key.expired recent"]);
    const marked = await app.db.selectFrom("api_keys").select(["expired_notice_at", "expiring_notice_at"]).where("id", "=", old.id).executeTakeFirstOrThrow();
    expect(marked).toEqual({ expired_notice_at: new Date(now).toISOString(), expiring_notice_at: new Date(now).toISOString() });
  });

  it("KEY_EXPIRY_NOTICE_DAYS=0 sends api_key.expired only", async () => {
    const key = await keyExpiringIn("ci", 2 * DAY);
    const clock = { now: Date.now() };
    const notifier = notifierOn(app.db, clock, 0);
    expect(await drain(notifier)).toBe(0);
    clock.now = Date.parse(key.expires_at!);
    expect(await drain(notifier)).toBe(1);
    expect(summary(await deliveries(app.db, endpointId))).toEqual(["api_key.expired ci"]);
  });

  it("claims in batches, each round at most one batch per notice, until none is left", async () => {
    const count = NOTICE_BATCH_SIZE + 5;
    const expiresAt = new Date(Date.now() + 30 * DAY).toISOString();
    for (let index = 0; index < count; index += 1) await issueKey(app, acme.secret, { name: `k${index}`, expires_at: expiresAt });
    const notifier = notifierOn(app.db, { now: Date.parse(expiresAt) - DAY });
    expect(await notifier.runOnce()).toBe(NOTICE_BATCH_SIZE);
    expect(await notifier.runOnce()).toBe(5);
    expect(await notifier.runOnce()).toBe(0);
    expect(new Set(summary(await deliveries(app.db, endpointId))).size).toBe(count);
  }, 30_000);

  it("claims a notice and writes its event in one transaction: when the outbox write fails, neither is kept", async () => {
    const key = await keyExpiringIn("ci", 2 * DAY);
    const notifier = notifierOn(app.db, { now: Date.now() });
    await failInserts(app.db, app.dialect, "webhook_deliveries");
    await expect(notifier.runOnce()).rejects.toThrow(/boom/);
    await allowInserts(app.db, app.dialect, "webhook_deliveries");
    const row = await app.db.selectFrom("api_keys").select("expiring_notice_at").where("id", "=", key.id).executeTakeFirstOrThrow();
    expect(row.expiring_notice_at).toBeNull();
    expect(await drain(notifier)).toBe(1);
    expect(summary(await deliveries(app.db, endpointId))).toEqual(["api_key.expiring ci"]);
  });

  it("the app runs the notifier on its own clock", async () => {
    const running = await buildTestApp({ ...IDLE, workerPollMs: 10, keyExpiryNoticeDays: 7 });
    try {
      const owner = await createTestCustomer(running);
      const endpoint = await subscribe(running, owner.secret, ["*"]);
      await issueKey(running, owner.secret, { name: "soon", expires_at: new Date(Date.now() + DAY).toISOString() });
      await expect.poll(async () => (await deliveries(running.db, endpoint)).map((delivery) => delivery.event), { timeout: 5_000 }).toContain("api_key.expiring");
      expect((await deliveries(running.db, endpoint)).map((delivery) => delivery.event)).toEqual(["api_key.issued", "api_key.expiring"]);
    } finally {
      await running.close();
    }
  });
});

describe("key expiry notices across a restart", () => {
  const database = persistentDatabase();
  afterAll(() => removeDatabase(database));

  it("a new app on the same database sends no notice again", async () => {
    const first = await buildTestApp({ ...IDLE, database });
    const acme = await createTestCustomer(first);
    const endpointId = await subscribe(first, acme.secret, ["api_key.expiring", "api_key.expired"]);
    const key = await issueKey(first, acme.secret, { name: "ci", expires_at: new Date(Date.now() + 2 * DAY).toISOString() });
    const expiresAt = Date.parse(key.expires_at!);
    expect(await drain(notifierOn(first.db, { now: Date.now() }))).toBe(1);
    await first.close();

    const second = await buildTestApp({ ...IDLE, database });
    try {
      expect(await drain(notifierOn(second.db, { now: Date.now() }))).toBe(0);
      expect(await drain(notifierOn(second.db, { now: expiresAt }))).toBe(1);
      expect(await drain(notifierOn(second.db, { now: expiresAt + DAY }))).toBe(0);
      expect(summary(await deliveries(second.db, endpointId))).toEqual(["api_key.expiring ci", "api_key.expired ci"]);
    } finally {
      await second.close();
    }
  });
});

describe("KEY_EXPIRY_NOTICE_DAYS", () => {
  it("is 7 by default, takes 0 to 365 whole days, and refuses anything else", () => {
    expect(loadConfig({}).keyExpiryNoticeDays).toBe(7);
    expect(loadConfig({ KEY_EXPIRY_NOTICE_DAYS: "0" }).keyExpiryNoticeDays).toBe(0);
    expect(loadConfig({ KEY_EXPIRY_NOTICE_DAYS: "365" }).keyExpiryNoticeDays).toBe(365);
    for (const refused of ["366", "-1", "1.5", "seven"]) {
      expect(() => loadConfig({ KEY_EXPIRY_NOTICE_DAYS: refused })).toThrow(ConfigError);
      expect(() => loadConfig({ KEY_EXPIRY_NOTICE_DAYS: refused })).toThrow(/KEY_EXPIRY_NOTICE_DAYS/);
    }
  });
});

describe.skipIf(TEST_DIALECT !== "postgres")("two nodes notifying on one PostgreSQL database", () => {
  const database = persistentDatabase();
  const KEYS = 300;
  const LOOPS_PER_NODE = 3;
  let nodes: [App, App];
  let acme: TestCustomer;
  let endpointId: string;

  beforeAll(async () => {
    nodes = [await buildTestApp({ ...IDLE, database }), await buildTestApp({ ...IDLE, database })];
    acme = await createTestCustomer(nodes[0]);
    endpointId = await subscribe(nodes[0], acme.secret, ["api_key.expiring", "api_key.expired"]);
  });
  afterAll(async () => {
    await Promise.all(nodes.map((node) => node.close()));
    await removeDatabase(database);
  });

  it(`${KEYS} keys, ${LOOPS_PER_NODE} notifier loops on each of two nodes at once: exactly one api_key.expiring and one api_key.expired per key`, async () => {
    const base = Date.now() + 30 * DAY;
    const keys = [];
    for (let index = 0; index < KEYS; index += 1) {
      // Spread over an hour, some sharing an instant, so that claims interleave.
      const expiresAt = new Date(base + (index % 60) * 60_000).toISOString();
      keys.push(await issueKey(nodes[index % 2]!, acme.secret, { name: `k${index}`, expires_at: expiresAt }));
    }

    async function race(now: number): Promise<number[]> {
      const clock = { now };
      return Promise.all(
        nodes.flatMap((node) => Array.from({ length: LOOPS_PER_NODE }, () => drain(notifierOn(node.db, clock)))),
      );
    }
    const expiring = await race(base - DAY);
    const expired = await race(base + 2 * 3_600_000);
    expect(expiring.reduce((sum, claimed) => sum + claimed, 0)).toBe(KEYS);
    expect(expired.reduce((sum, claimed) => sum + claimed, 0)).toBe(KEYS);
    console.log(`[key-expiry] claims per loop: expiring ${expiring.join(", ")}; expired ${expired.join(", ")}`);

    const sent = await deliveries(nodes[1].db, endpointId);
    const perKeyAndEvent = new Map<string, number>();
    for (const delivery of sent) {
      const label = `${delivery.payload.data.api_key.id} ${delivery.event}`;
      perKeyAndEvent.set(label, (perKeyAndEvent.get(label) ?? 0) + 1);
    }
    expect(sent).toHaveLength(2 * KEYS);
    expect(perKeyAndEvent.size).toBe(2 * KEYS);
    for (const key of keys) {
      expect(perKeyAndEvent.get(`${key.id} api_key.expiring`)).toBe(1);
      expect(perKeyAndEvent.get(`${key.id} api_key.expired`)).toBe(1);
    }
  }, 120_000);
});

/**
 * Every node runs both claims every WORKER_POLL_MS. Each reads only the keys still waiting for its
 * notice, through that notice's partial index and in its order, and the UPDATE finds the rows by
 * their ids. SQLite's plans say which index a statement goes through.
 */
describe.runIf(TEST_DIALECT === "sqlite")("the expiry notices' indexes", () => {
  it("let each claim read its own partial index in order, with no sort", async () => {
    const database = await openDatabase({ dialect: "sqlite", path: ":memory:" });
    try {
      await migrateToLatest(database);
      const now = new Date().toISOString();
      const plans = [
        await sqlitePlanOf(database, "UpdateQueryNode", (db) => db.transaction().execute((tx) => claimExpiredNotices(tx, "sqlite", now, 100))),
        await sqlitePlanOf(database, "UpdateQueryNode", (db) => db.transaction().execute((tx) => claimExpiringNotices(tx, "sqlite", now, now, 100))),
      ];
      const [expired, expiring] = plans as [string, string];
      expect(expired).toContain("SEARCH api_keys USING INDEX api_keys_expired_notice_idx (expires_at<?)");
      expect(expiring).toContain("SEARCH api_keys USING INDEX api_keys_expiring_notice_idx (expires_at>? AND expires_at<?)");
      for (const plan of plans) {
        expect(plan).not.toContain("TEMP B-TREE");
        expect(plan).toContain("SEARCH api_keys USING INDEX sqlite_autoindex_api_keys_1 (id=?)");
      }
    } finally {
      await database.db.destroy();
    }
  });
});
