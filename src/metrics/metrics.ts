import { Counter, Gauge, Histogram, Registry } from "prom-client";
import type { VerifiedKeyCache } from "../auth/verified-key-cache.js";
import type { Db } from "../db/schema.js";

/** What authentication and the workers report. */
export type MetricsSink = {
  /** `ok`, or the error code authentication answered with. */
  authOutcome(outcome: string): void;
  rateLimited(bucket: "key" | "customer" | "auth_failures"): void;
  webhookAttempt(outcome: "success" | "failure"): void;
  /** How long a committed revocation waited before every node had stopped honouring its keys. */
  revocationSettled(waitedMs: number, by: "acknowledged" | "distrust_window"): void;
};

/** Deliveries still owed to an endpoint: the outbox's backlog. */
const OWED_STATUSES = ["pending", "retrying"];

/**
 * The Prometheus metrics of one app, in a registry of its own (never prom-client's global one),
 * so that several apps in one process, as in the tests, keep separate counts.
 */
export class AppMetrics implements MetricsSink {
  readonly registry = new Registry();
  private readonly requestDuration: Histogram<"method" | "route" | "status">;
  private readonly authOutcomes: Counter<"outcome">;
  private readonly rateLimitRefusals: Counter<"bucket">;
  private readonly webhookAttempts: Counter<"outcome">;
  private readonly revocationWaits: Histogram<"settled_by">;

  constructor(db: Db, cache: VerifiedKeyCache) {
    const registers = [this.registry];
    this.requestDuration = new Histogram({
      name: "whatisup_http_request_duration_seconds",
      help: "HTTP request duration by method, route pattern (never the raw URL) and status",
      labelNames: ["method", "route", "status"],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    });
    this.authOutcomes = new Counter({
      name: "whatisup_auth_outcomes_total",
      help: "Authentications on /v1 by outcome: ok, or the error code answered",
      labelNames: ["outcome"],
      registers,
    });
    this.rateLimitRefusals = new Counter({
      name: "whatisup_rate_limit_refusals_total",
      help: "Requests refused 429 rate_limited, by bucket: key (per API key), customer (all of a customer's keys) or auth_failures (per client network)",
      labelNames: ["bucket"],
      registers,
    });
    this.webhookAttempts = new Counter({
      name: "whatisup_webhook_attempts_total",
      help: "Webhook delivery attempts sent, by outcome",
      labelNames: ["outcome"],
      registers,
    });
    this.revocationWaits = new Histogram({
      name: "whatisup_revocation_settle_seconds",
      help: "Time from a revocation's commit until no node honoured its keys, by what settled it: every node acknowledged, or the distrust window passed",
      labelNames: ["settled_by"],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1],
      registers,
    });
    new Counter({
      name: "whatisup_key_cache_lookups_total",
      help: "Lookups in this node's verified-key cache, by result (a miss reads the database)",
      labelNames: ["result"],
      registers,
      collect() {
        this.reset();
        this.inc({ result: "hit" }, cache.hits);
        this.inc({ result: "miss" }, cache.misses);
      },
    });
    new Gauge({
      name: "whatisup_outbox_depth",
      help: "Webhook deliveries still owed (pending or retrying), read from the database on scrape",
      registers,
      async collect() {
        const row = await db
          .selectFrom("webhook_deliveries")
          .select((eb) => eb.fn.countAll<number | string>().as("count"))
          .where("status", "in", OWED_STATUSES)
          .executeTakeFirst();
        this.set(Number(row?.count ?? 0));
      },
    });
  }

  observeRequest(method: string, route: string, status: number, seconds: number): void {
    this.requestDuration.observe({ method, route, status: String(status) }, seconds);
  }

  authOutcome(outcome: string): void {
    this.authOutcomes.inc({ outcome });
  }

  rateLimited(bucket: "key" | "customer" | "auth_failures"): void {
    this.rateLimitRefusals.inc({ bucket });
  }

  webhookAttempt(outcome: "success" | "failure"): void {
    this.webhookAttempts.inc({ outcome });
  }

  revocationSettled(waitedMs: number, by: "acknowledged" | "distrust_window"): void {
    this.revocationWaits.observe({ settled_by: by }, waitedMs / 1000);
  }
}
