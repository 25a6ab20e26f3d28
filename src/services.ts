import type { AuthenticatedContext } from "./http/authentication.js";
import type { Config } from "./config.js";
import type { SqlDialect } from "./db/dialect.js";
import type { Outbox } from "./webhook-deliveries/outbox.js";
import type { MetricsSink } from "./metrics/metrics.js";
import type { SecretBox } from "./crypto/webhook-signature.js";

/** What route handlers and workers need beyond the request: built once per app in `app.ts`. */
export type Services = AuthenticatedContext & {
  /** This process, as it signs its leases (`claimed_by`). */
  nodeId: string;
  config: Config;
  dialect: SqlDialect;
  outbox: Outbox;
  secrets: SecretBox;
  /** Absent when METRICS_ENABLED is not true. */
  metrics?: MetricsSink;
};
