import type { FastifyBaseLogger } from "fastify";
import pg from "pg";
import { sql } from "kysely";
import type { SqlDialect } from "../db/dialect.js";
import type { Tx } from "../db/schema.js";
import type { VerifiedKeyCache } from "./verified-key-cache.js";

/**
 * How a node learns of revocations made on other nodes, so that its cache of verified keys never
 * outlives one. A node may serve a key from its cache only while `healthy()`: while it is sure to
 * hear of every revocation.
 */
export interface RevocationChannel {
  healthy(): boolean;
  start(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * Embedded mode: one server process is the only node, and it evicts its own cache when it
 * revokes. There is nothing to hear.
 */
export class SingleNodeRevocationChannel implements RevocationChannel {
  healthy(): boolean {
    return true;
  }
  async start(): Promise<void> {}
  async stop(): Promise<void> {}
}

export const REVOCATION_CHANNEL = "whatisup_key_events";
/** A heartbeat goes round the channel this often... */
export const HEARTBEAT_MS = 150;
/** ...and a channel not heard from for this long is not trusted: well inside the 1 s bound. */
export const STALE_AFTER_MS = 500;
/** PostgreSQL refuses NOTIFY payloads from 8000 bytes; ids go in batches well under that. */
const IDS_PER_NOTIFICATION = 150;

type ChannelMessage = { type: "revoked"; key_ids: string[] } | { type: "heartbeat" };

/**
 * The revocation notice: tells every node, when `tx` commits (and not before), that these keys
 * stopped working. On PostgreSQL it is pg_notify inside the transaction; with SQLite there is one
 * node, which evicts its own cache after the commit (see use-cases/write.ts).
 */
export async function announceRevocation(tx: Tx, dialect: SqlDialect, keyIds: string[]): Promise<void> {
  if (dialect !== "postgres") return;
  for (let start = 0; start < keyIds.length; start += IDS_PER_NOTIFICATION) {
    const message: ChannelMessage = { type: "revoked", key_ids: keyIds.slice(start, start + IDS_PER_NOTIFICATION) };
    await sql`select pg_notify(${REVOCATION_CHANNEL}, ${JSON.stringify(message)})`.execute(tx);
  }
}

/**
 * PostgreSQL LISTEN/NOTIFY. Revocations are sent with pg_notify inside the revoking transaction,
 * so every node hears them at commit and not before. The listening connection proves itself
 * alive with a heartbeat it sends through the channel and hears back; a connection that dies,
 * even silently, stops hearing within STALE_AFTER_MS, and from then on the cache is ignored
 * (keys are verified against the database) until the node has re-subscribed and heard again.
 * On every return to health the cache is emptied: revocations in the gap were not heard.
 */
export class PostgresRevocationChannel implements RevocationChannel {
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
      this.log.warn("revocation channel silent; reconnecting");
      this.drop(client);
      return;
    }
    if (this.heartbeatInFlight) return;
    this.heartbeatInFlight = true;
    client
      .query("select pg_notify($1, $2)", [REVOCATION_CHANNEL, JSON.stringify({ type: "heartbeat" })])
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
    await client.query("select pg_notify($1, $2)", [REVOCATION_CHANNEL, JSON.stringify({ type: "heartbeat" })]).catch(
      () => this.drop(client),
    );
  }

  private hear(payload: string | undefined): void {
    if (!this.healthy()) this.cache.clear();
    this.lastHeard = Date.now();
    let message: ChannelMessage;
    try {
      message = JSON.parse(payload ?? "") as ChannelMessage;
    } catch {
      return;
    }
    if (message.type === "revoked") this.cache.evict(message.key_ids);
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
