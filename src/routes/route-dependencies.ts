import type { CloudApiConfig } from "../config.js";
import type { Db } from "../db/schema.js";
import type { RateLimiter } from "../rate-limit/token-buckets.js";
import type { Writer } from "../use-cases/write.js";
import type { DestinationPolicy } from "../webhook-endpoints/destination-guard.js";

/** What the `/v1` routes use; each route's register function names the part it needs. */
export type RouteDependencies = {
  /** Reads go to the database directly, through the repositories. */
  db: Db;
  /** Writes go through a use case, in one transaction. */
  write: Writer;
  /** Creating a `cloud_api` instance verifies its number first. */
  cloudApi: CloudApiConfig | null;
  /** Creating a webhook endpoint checks where its URL resolves. */
  webhookDestinations: DestinationPolicy;
  /** `GET /v1/limits` reports the calling key's bucket and its customer's. */
  keyLimits: RateLimiter;
  customerLimits: RateLimiter;
};
