import type { FastifyBaseLogger } from "fastify";
import pg from "pg";
import { sql } from "kysely";
import type { Tx } from "../db/schema.js";
import type { VerifiedKeyCache } from "./verified-key-cache.js";

/**
 * How revocations reach every node's cache of verified keys. A node may serve a key from its
 * cache only while `healthy()`: while it is sure to hear of every revocation.
 */
export interface KeyEvents {
  healthy(): boolean;
  /** Tells every node, when `tx` commits, that these keys stopped working. */
  announceRevoked(tx: Tx, keyIds: string[]): Promise<void>;
  start(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * Embedded mode: one server process is the only node, and it evicts its own cache when it
 * revokes (the CLI creates keys, never revokes them). There is nothing to hear.
 */
export class SingleNodeKeyEvents implements KeyEvents {
  healthy(): boolean {
    return true;
  }
  async announceRevoked(): Promise<void> {}
  async start(): Promise<void> {}
  async stop(): Promise<void> {}
}

export const KEY_EVENTS_CHANNEL = "whatisup_key_events";
/** A heartbeat goes round the channel this often... */
export const HEARTBEAT_MS = 150;
/** ...and a channel not heard from for this long is not trusted: well inside the 1 s bound. */
export const STALE_AFTER_MS = 500;
/** PostgreSQL refuses NOTIFY payloads from 8000 bytes; ids go in batches well under that. */
const IDS_PER_NOTIFICATION = 150;

type KeyEvent = { type: "revoked"; key_ids: string[] } | { type: "heartbeat" };

/**
 * PostgreSQL LISTEN/NOTIFY. Revocations are sent with pg_notify inside the revoking transaction,
 * so every node hears them at commit and not before. The listening connection proves itself
 * alive with a heartbeat it sends through the channel and hears back; a connection that dies,
 * even silently, stops hearing within STALE_AFTER_MS, and from then on the cache is ignored
 * (keys are verified against the database) until the node has re-subscribed and heard again.
 * On every return to health the cache is emptied: revocations in the gap were not heard.
 */
export class PostgresKeyEvents implements KeyEvents {
  private client: pg.Client | null = null;
  private connecting: Promise<void> | null = null;
  private lastHeard = 0;
  private timer: NodeJS.Timeout | null = null;
  private stopped = false;
  private heartbeatInFlight = false;

  constructor(
    private readonly connectionString: string,
    private readonly cache: VerifiedKeyCache,
    private readonly log: FastifyBaseLogger,
  ) {}

  healthy(): boolean {
    return this.client !== null && Date.now() - this.lastHeard < STALE_AFTER_MS;
  }

  async announceRevoked(tx: Tx, keyIds: string[]): Promise<void> {
    for (let start = 0; start < keyIds.length; start += IDS_PER_NOTIFICATION) {
      const event: KeyEvent = { type: "revoked", key_ids: keyIds.slice(start, start + IDS_PER_NOTIFICATION) };
      await sql`select pg_notify(${KEY_EVENTS_CHANNEL}, ${JSON.stringify(event)})`.execute(tx);
    }
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

  private tick(): void {
    if (this.stopped) return;
    const client = this.client;
    if (client === null) {
      void this.reconnect().catch(() => undefined);
      return;
    }
    if (Date.now() - this.lastHeard > STALE_AFTER_MS * 3) {
      // Not even our own heartbeats come back: the connection is gone, whatever it claims.
      this.log.warn("key events channel silent; reconnecting");
      this.drop(client);
      return;
    }
    if (this.heartbeatInFlight) return;
    this.heartbeatInFlight = true;
    client
      .query("select pg_notify($1, $2)", [KEY_EVENTS_CHANNEL, JSON.stringify({ type: "heartbeat" })])
      .catch(() => this.drop(client))
      .finally(() => {
        this.heartbeatInFlight = false;
      });
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
    client.on("notification", (message) => this.hear(message.payload));
    client.on("error", (error) => {
      this.log.warn({ err: error }, "key events channel failed; reconnecting");
      this.drop(client);
    });
    client.on("end", () => this.drop(client));
    try {
      await client.connect();
      await client.query(`listen ${KEY_EVENTS_CHANNEL}`);
    } catch (error) {
      this.log.warn({ err: error }, "could not subscribe to key events; keys are verified against the database");
      await client.end().catch(() => undefined);
      return;
    }
    if (this.stopped) {
      await client.end().catch(() => undefined);
      return;
    }
    this.client = client;
    await client.query("select pg_notify($1, $2)", [KEY_EVENTS_CHANNEL, JSON.stringify({ type: "heartbeat" })]).catch(
      () => this.drop(client),
    );
  }

  private hear(payload: string | undefined): void {
    if (!this.healthy()) this.cache.clear();
    this.lastHeard = Date.now();
    let event: KeyEvent;
    try {
      event = JSON.parse(payload ?? "") as KeyEvent;
    } catch {
      return;
    }
    if (event.type === "revoked") this.cache.evict(event.key_ids);
  }

  private drop(client: pg.Client): void {
    if (this.client !== client) return;
    this.client = null;
    this.heartbeatInFlight = false;
    this.cache.clear();
    client.removeAllListeners("notification");
    void client.end().catch(() => undefined);
  }
}
