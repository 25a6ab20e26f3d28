import { toTimestamp } from "../time/timestamps.js";
import type { Config } from "../config.js";
import type { SecretBox } from "../crypto/secret-box.js";
import type { SqlDialect } from "../db/dialect.js";
import type { Db } from "../db/schema.js";
import type { MetricsSink } from "../metrics/metrics.js";
import { signatureHeader } from "../crypto/webhook-signature.js";
import type { Worker } from "./worker-loop.js";
import {
  claimDueDeliveries,
  findEndpointsForSending,
  recordAttempt,
  type AttemptRecord,
  type ClaimedDelivery,
  type Lease,
  type SendingEndpoint,
} from "../webhook-deliveries/delivery-queue.js";
import { postWebhook, type AttemptOutcome } from "./webhook-sender.js";

/** How many deliveries one node claims at a time (and sends concurrently). */
export const DISPATCH_BATCH_SIZE = 20;
/**
 * A lease outlives the attempt's timeout by this much: room for the result write and for clock
 * skew between nodes (each node stamps leases with its own clock).
 */
export const LEASE_MARGIN_MS = 5_000;
export const USER_AGENT = "WhatIsUp-Webhooks/1.0";
export const ENDPOINT_DELETED = "endpoint deleted";

/**
 * Sends the deliveries the outbox wrote. Each run claims a batch of due rows with a lease (see
 * `claimDueDeliveries`: one statement, so no two nodes hold the same row), sends them
 * concurrently, and records each result under that lease. Nothing is kept in memory between
 * runs: work pending at a restart, or held by a node that died, is simply still in the table
 * (the latter once its lease lapses). Delivery is at least once: only an attempt in flight when
 * its node dies, or one that outlives its lease, can be sent twice.
 */
export class WebhookDispatcher implements Worker {
  readonly name = "webhook-dispatcher";

  constructor(
    private readonly deps: {
      db: Db;
      dialect: SqlDialect;
      /** Signs the leases this process holds (`claimed_by`). */
      nodeId: string;
      secrets: SecretBox;
      webhooks: Config["webhooks"];
      metrics?: Pick<MetricsSink, "webhookAttempt">;
    },
  ) {}

  async runOnce(): Promise<number> {
    const { db, dialect, nodeId, webhooks } = this.deps;
    const now = Date.now();
    const lease: Lease = {
      nodeId,
      until: toTimestamp(now + webhooks.attemptTimeoutMs + LEASE_MARGIN_MS),
    };
    const claimed = await claimDueDeliveries(db, dialect, lease, toTimestamp(now), DISPATCH_BATCH_SIZE);
    if (claimed.length === 0) return 0;
    const endpoints = await findEndpointsForSending(
      db,
      claimed.map((delivery) => delivery.endpoint_id),
    );
    const results = await Promise.allSettled(
      claimed.map((delivery) => this.attempt(delivery, endpoints.get(delivery.endpoint_id), lease)),
    );
    const failed = results.find((result): result is PromiseRejectedResult => result.status === "rejected");
    if (failed) throw failed.reason;
    return claimed.length;
  }

  private async attempt(delivery: ClaimedDelivery, endpoint: SendingEndpoint | undefined, lease: Lease): Promise<void> {
    const { db, webhooks } = this.deps;
    if (!endpoint || endpoint.deleted_at !== null || endpoint.customer_id !== delivery.customer_id) {
      const at = toTimestamp(Date.now());
      await recordAttempt(db, lease, delivery.id, {
        status: "failed",
        attempt_count: delivery.attempt_count,
        last_error: ENDPOINT_DELETED,
        last_response_status: null,
        next_attempt_at: null,
        delivered_at: null,
        updated_at: at,
      });
      return;
    }
    const startedAt = toTimestamp(Date.now());
    const outcome = await this.send(delivery, endpoint);
    this.deps.metrics?.webhookAttempt(outcome.ok ? "success" : "failure");
    await recordAttempt(db, lease, delivery.id, nextState(delivery, outcome, webhooks.retryDelaysMs, Date.now()), { startedAt });
  }

  private async send(delivery: ClaimedDelivery, endpoint: SendingEndpoint): Promise<AttemptOutcome> {
    const { secrets, webhooks } = this.deps;
    let secret: string;
    try {
      secret = secrets.open(endpoint.sealed_secret);
    } catch {
      // The pepper changed since the endpoint was made: nothing can be signed for it.
      return { ok: false, status: null, error: "signing secret unreadable" };
    }
    const headers = {
      "content-type": "application/json",
      "user-agent": USER_AGENT,
      "x-whatisup-event": delivery.event,
      "x-whatisup-event-id": delivery.event_id,
      "x-whatisup-delivery": delivery.id,
      "x-whatisup-signature": signatureHeader(secret, delivery.payload, Math.floor(Date.now() / 1000)),
    };
    return postWebhook(endpoint.url, delivery.payload, headers, {
      allowLoopback: webhooks.allowLoopback,
      timeoutMs: webhooks.attemptTimeoutMs,
    });
  }
}

/**
 * The row after an attempt. `retryDelaysMs[n]` is the delay before attempt n+1 (the first, the
 * outbox's, is normally 0): after the n-th failed attempt the next one is due
 * `retryDelaysMs[n]` later, and when every delay is spent the delivery is `failed`.
 */
export function nextState(
  delivery: Pick<ClaimedDelivery, "attempt_count">,
  outcome: AttemptOutcome,
  retryDelaysMs: readonly number[],
  now: number,
): AttemptRecord {
  const attempts = delivery.attempt_count + 1;
  const at = toTimestamp(now);
  if (outcome.ok) {
    return {
      status: "success",
      attempt_count: attempts,
      last_error: null,
      last_response_status: outcome.status,
      next_attempt_at: null,
      delivered_at: at,
      updated_at: at,
    };
  }
  const delay = retryDelaysMs[attempts];
  return {
    status: delay === undefined ? "failed" : "retrying",
    attempt_count: attempts,
    last_error: outcome.error,
    last_response_status: outcome.status,
    next_attempt_at: delay === undefined ? null : toTimestamp(now + delay),
    delivered_at: null,
    updated_at: at,
  };
}
