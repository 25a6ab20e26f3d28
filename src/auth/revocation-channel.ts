import { randomBytes } from "node:crypto";
import { performance } from "node:perf_hooks";
import type { FastifyBaseLogger } from "fastify";
import pg from "pg";
import { sql } from "kysely";
import type { Tx } from "../db/schema.js";
import type { VerifiedKeyCache } from "./verified-key-cache.js";

/**
 * How the nodes of a deployment keep their caches of verified keys from outliving a revocation
 * (docs/revocation.md). A node may serve a key from its cache only while `healthy()`: while it is
 * sure to have heard of every revocation committed up to a moment less than the distrust window
 * ago. A revocation is announced inside its transaction, and once that has committed its
 * `settle` resolves only when no live node honours the keys any more.
 */
export interface RevocationChannel {
  healthy(): boolean;
  start(): Promise<void>;
  stop(): Promise<void>;
  /** Inside the revoking transaction. Returns what the write awaits once it has committed. */
  announce(tx: Tx, keyIds: string[]): Promise<() => Promise<void>>;
}

/**
 * Embedded mode: one server process is the only node, and it evicts its own cache when it
 * revokes. There is nothing to hear.
 */
export class SingleNodeRevocationChannel implements RevocationChannel {
  constructor(private readonly cache: VerifiedKeyCache) {}

  healthy(): boolean {
    return true;
  }
  async start(): Promise<void> {}
  async stop(): Promise<void> {}

  async announce(_tx: Tx, keyIds: string[]): Promise<() => Promise<void>> {
    return async () => this.cache.evict(keyIds);
  }
}

export const REVOCATION_CHANNEL = "whatisup_key_events";
/** Each node sends a heartbeat through the channel this often... */
export const HEARTBEAT_MS = 150;
/**
 * ...and trusts its cache only while it has heard back one of its own heartbeats sent less than
 * this long ago: the distrust window. A revocation waits at most this long for a silent node.
 */
export const DISTRUST_AFTER_MS = 500;
/**
 * Timers may fire a little early or late and clocks drift a little between nodes: the revoking
 * node waits this much beyond the distrust window before it counts on the heartbeat rule.
 */
const DISTRUST_MARGIN_MS = 25;
/** Far longer than any revoking transaction: an announced revocation not heard back by then rolled back. */
const UNSETTLED_AFTER_MS = 60_000;
/** PostgreSQL refuses NOTIFY payloads from 8000 bytes; ids go in batches well under that. */
const IDS_PER_NOTIFICATION = 150;

type ChannelMessage =
  /** `connection` tells this node's connections apart: a heartbeat counts only on the one that sent it. */
  | { type: "heartbeat"; node: string; connection: number; sent_at: number }
  /** One batch of a revocation's keys; the node acknowledges the last batch. */
  | { type: "revoked"; id: string; origin: string; key_ids: string[]; last: boolean }
  | { type: "ack"; id: string; node: string };

/** Where a node reports how long each of its revocations waited (the metrics implement it). */
export type RevocationWaits = {
  revocationSettled(waitedMs: number, by: "acknowledged" | "distrust_window"): void;
};

/** A revocation this node made, waiting for the other nodes to acknowledge it. */
type PendingRevocation = {
  announcedAt: number;
  /** Set once this node heard its own notice: every heartbeat committed before it was heard too. */
  awaiting: Set<string> | null;
  acknowledged: Set<string>;
  done: () => void;
};

/**
 * PostgreSQL LISTEN/NOTIFY, the protocol of docs/revocation.md. In short:
 * - PostgreSQL delivers notifications in commit order. A node that has heard back its own
 *   heartbeat sent at time s has heard every revocation committed before s. So it trusts its cache
 *   only while its latest heartbeat heard back was sent less than DISTRUST_AFTER_MS ago, checked
 *   on every lookup: a node that stalls (a long pause, SIGSTOP, a dead connection) distrusts
 *   its cache by then without having to notice anything.
 * - Heartbeats name their node, so each node knows who is alive.
 * - A revocation is pg_notify inside the revoking transaction. Each other node evicts the keys
 *   and acknowledges. The revoking node answers once it has heard its own notice back (so it knows
 *   every node alive at the commit) and every node alive then has acknowledged, or once the
 *   distrust window has passed since the commit: a node silent that long has stopped trusting
 *   its cache.
 * - A node that comes back to health (connected again, or heard again after a gap) empties its
 *   cache: revocations in the gap may not have reached it.
 */
export class PostgresRevocationChannel implements RevocationChannel {
  readonly nodeId = `node_${randomBytes(6).toString("hex")}`;
  private client: pg.Client | null = null;
  private connections = 0;
  private connectedAt = 0;
  private connecting: Promise<void> | null = null;
  /** When this node sent the latest of its own heartbeats that it has heard back. */
  private freshAsOf = Number.NEGATIVE_INFINITY;
  /** The other nodes, with when this node last heard from each. */
  private readonly peers = new Map<string, number>();
  private readonly pending = new Map<string, PendingRevocation>();
  private timer: NodeJS.Timeout | null = null;
  private stopped = false;
  private heartbeatInFlight = false;

  constructor(
    private readonly connectionString: string,
    private readonly cache: VerifiedKeyCache,
    private readonly log: FastifyBaseLogger,
    /** Where the time each revocation waited is reported; absent when metrics are off. */
    private readonly metrics?: RevocationWaits,
  ) {}

  healthy(): boolean {
    return this.client !== null && performance.now() - this.freshAsOf < DISTRUST_AFTER_MS;
  }

  async start(): Promise<void> {
    this.stopped = false;
    await this.reconnect();
    this.timer = setInterval(() => this.tick(), HEARTBEAT_MS);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.connecting?.catch(() => undefined);
    const client = this.client;
    this.client = null;
    await client?.end().catch(() => undefined);
  }

  async announce(tx: Tx, keyIds: string[]): Promise<() => Promise<void>> {
    const id = randomBytes(8).toString("hex");
    for (let start = 0; start < keyIds.length; start += IDS_PER_NOTIFICATION) {
      const message: ChannelMessage = {
        type: "revoked",
        id,
        origin: this.nodeId,
        key_ids: keyIds.slice(start, start + IDS_PER_NOTIFICATION),
        last: start + IDS_PER_NOTIFICATION >= keyIds.length,
      };
      await sql`select pg_notify(${REVOCATION_CHANNEL}, ${JSON.stringify(message)})`.execute(tx);
    }
    // Registered before the commit, so that no acknowledgement can arrive unseen.
    const settled = this.expect(id);
    return async () => {
      this.cache.evict(keyIds);
      await settled();
    };
  }

  /** Starts waiting for revocation `id`; the returned function, called after commit, awaits it. */
  private expect(id: string): () => Promise<void> {
    let done!: () => void;
    const finished = new Promise<void>((resolve) => {
      done = resolve;
    });
    this.pending.set(id, { announcedAt: performance.now(), awaiting: null, acknowledged: new Set(), done });
    return async () => {
      const committedAt = performance.now();
      let window: NodeJS.Timeout | undefined;
      const by = await Promise.race([
        finished.then(() => "acknowledged" as const),
        new Promise<"distrust_window">((resolve) => {
          window = setTimeout(() => resolve("distrust_window"), DISTRUST_AFTER_MS + DISTRUST_MARGIN_MS);
        }),
      ]);
      clearTimeout(window);
      this.pending.delete(id);
      this.metrics?.revocationSettled(performance.now() - committedAt, by);
    };
  }

  private tick(): void {
    if (this.stopped) return;
    this.forgetRolledBack();
    const client = this.client;
    if (client === null) {
      void this.reconnect().catch(() => undefined);
      return;
    }
    if (performance.now() - Math.max(this.freshAsOf, this.connectedAt) > DISTRUST_AFTER_MS * 3) {
      // Not even our own heartbeats come back: the connection is gone, whatever it claims.
      this.log.warn("revocation channel silent; reconnecting");
      this.drop(client);
      return;
    }
    if (this.heartbeatInFlight) return;
    this.heartbeatInFlight = true;
    this.sendHeartbeat(client).finally(() => {
      this.heartbeatInFlight = false;
    });
  }

  /** A revocation whose transaction rolled back is never settled: its entry is dropped here. */
  private forgetRolledBack(): void {
    const now = performance.now();
    for (const [id, revocation] of this.pending) {
      if (revocation.awaiting === null && now - revocation.announcedAt > UNSETTLED_AFTER_MS) this.pending.delete(id);
    }
  }

  private sendHeartbeat(client: pg.Client): Promise<void> {
    return this.send(client, { type: "heartbeat", node: this.nodeId, connection: this.connections, sent_at: performance.now() });
  }

  private send(client: pg.Client, message: ChannelMessage): Promise<void> {
    return client.query("select pg_notify($1, $2)", [REVOCATION_CHANNEL, JSON.stringify(message)]).then(
      () => undefined,
      () => this.drop(client),
    );
  }

  private reconnect(): Promise<void> {
    this.connecting ??= this.connect().finally(() => {
      this.connecting = null;
    });
    return this.connecting;
  }

  private async connect(): Promise<void> {
    const client = new pg.Client({
      connectionString: this.connectionString,
      keepAlive: true,
      application_name: "whatisup-key-events",
    });
    client.on("notification", (message) => this.hear(client, message.payload));
    client.on("error", (error) => {
      this.log.warn({ err: error }, "revocation channel failed; reconnecting");
      this.drop(client);
    });
    client.on("end", () => this.drop(client));
    try {
      await client.connect();
      await client.query(`listen ${REVOCATION_CHANNEL}`);
    } catch (error) {
      this.log.warn({ err: error }, "could not subscribe to the revocation channel; keys are verified against the database");
      await client.end().catch(() => undefined);
      return;
    }
    if (this.stopped) {
      await client.end().catch(() => undefined);
      return;
    }
    this.client = client;
    this.connections += 1;
    // Taken once LISTEN has answered, so it is no earlier than the subscription: a heartbeat
    // committed before it may have gone unheard.
    this.connectedAt = performance.now();
    await this.sendHeartbeat(client);
  }

  private hear(client: pg.Client, payload: string | undefined): void {
    let message: ChannelMessage;
    try {
      message = JSON.parse(payload ?? "") as ChannelMessage;
    } catch {
      return;
    }
    switch (message.type) {
      case "heartbeat":
        if (message.node !== this.nodeId) {
          this.peers.set(message.node, performance.now());
        } else if (message.connection === this.connections && message.sent_at > this.freshAsOf) {
          if (!this.healthy()) this.cache.clear();
          this.freshAsOf = message.sent_at;
        }
        return;
      case "revoked":
        this.cache.evict(message.key_ids);
        if (!message.last) return;
        if (message.origin === this.nodeId) this.heardOwn(message.id);
        else void this.send(client, { type: "ack", id: message.id, node: this.nodeId });
        return;
      case "ack": {
        const revocation = this.pending.get(message.id);
        if (!revocation) return;
        revocation.acknowledged.add(message.node);
        this.settleIfAcknowledged(revocation);
        return;
      }
    }
  }

  /**
   * Every heartbeat committed before the revocation has been heard by now, so the nodes heard
   * within the distrust window are all that might still trust a cache holding the keys.
   */
  private heardOwn(id: string): void {
    const revocation = this.pending.get(id);
    if (!revocation) return;
    const now = performance.now();
    // Heartbeats sent before this connection subscribed were not heard: until it has listened
    // for a whole window, the list of live nodes may miss one, and the window decides.
    if (now - this.connectedAt < DISTRUST_AFTER_MS) return;
    for (const [node, heardAt] of this.peers) {
      if (now - heardAt >= DISTRUST_AFTER_MS) this.peers.delete(node);
    }
    revocation.awaiting = new Set(this.peers.keys());
    this.settleIfAcknowledged(revocation);
  }

  private settleIfAcknowledged(revocation: PendingRevocation): void {
    if (revocation.awaiting === null) return;
    for (const node of revocation.awaiting) if (!revocation.acknowledged.has(node)) return;
    revocation.done();
  }

  private drop(client: pg.Client): void {
    if (this.client !== client) return;
    this.client = null;
    this.freshAsOf = Number.NEGATIVE_INFINITY;
    this.heartbeatInFlight = false;
    this.cache.clear();
    client.removeAllListeners("notification");
    void client.end().catch(() => undefined);
  }
}
