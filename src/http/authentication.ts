import type { FastifyReply, FastifyRequest } from "fastify";
import type { KeyCredential } from "../api-keys/api-key-repository.js";
import type { LastUsedRecorder } from "../auth/last-used-recorder.js";
import type { KeyVerifier } from "../auth/verify-key.js";
import { holdsScope } from "../contract/scopes.js";
import type { Db } from "../db/schema.js";
import { AppError } from "../errors/app-error.js";
import { isUuid } from "../ids/uuid-v7.js";
import { findInstance } from "../instances/instance-repository.js";
import type { MetricsSink } from "../metrics/metrics.js";
import type { BucketState, RateLimiter } from "../rate-limit/token-buckets.js";
import { nowTimestamp } from "../time/timestamps.js";
import type { App } from "./app-types.js";
import { clientAddress } from "./client-address.js";
import type { RouteAccess } from "./route-access.js";

/** What the authentication hook uses. */
export type AuthenticationDependencies = {
  verifier: KeyVerifier;
  /** Reads instances for routes whose `:id` is one (`param`). */
  db: Db;
  lastUsed: LastUsedRecorder;
  keyLimits: RateLimiter;
  /** One bucket per customer, spent beside the key's. */
  customerLimits: RateLimiter;
  /** Where authentication outcomes and 429s are counted; absent when metrics are off. */
  metrics?: Pick<MetricsSink, "authOutcome" | "rateLimited">;
};

/**
 * Makes `app` (an encapsulated context) authenticated: every route registered in it must declare
 * its access policy, or start-up fails, and every request passes authentication, the per-key
 * bucket and that policy in `onRequest`, before its body is read, and the key is verified again
 * once the body has arrived.
 */
export function installAuthentication(app: App, context: AuthenticationDependencies): void {
  app.decorateRequest("apiKey", null as unknown as KeyCredential);
  app.decorateRequest("keyDigest", "");

  app.addHook("onRoute", (route) => {
    if (!route.config?.access) {
      throw new Error(`${String(route.method)} ${route.url} declares no access policy (config.access)`);
    }
  });

  app.addHook("onRequest", async (request, reply) => {
    reply.header("cache-control", "no-store");
    const now = nowTimestamp();
    let key: KeyCredential;
    try {
      request.keyDigest = context.verifier.digestOf(authorizationHeader(request));
      key = await currentKey(context, request, now);
    } catch (error) {
      countRefusal(context, error);
      throw error;
    }
    context.metrics?.authOutcome("ok");
    request.apiKey = key;
    context.lastUsed.noteUse(key.id, now);

    const access = request.is404 ? undefined : request.routeOptions.config.access;
    // A route that only reports the buckets answers even when they are empty: that is how a
    // throttled client learns when to come back.
    if (access?.spendsToken === false) {
      setRateLimitHeaders(reply, await context.keyLimits.peek(key.id));
    } else {
      const bucket = await context.keyLimits.take(key.id);
      setRateLimitHeaders(reply, bucket);
      if (!bucket.allowed) {
        context.metrics?.rateLimited("key");
        throw rateLimited(bucket, `This API key has used its ${bucket.limit} requests of burst.`);
      }
      // A customer's keys share one more bucket, so that minting keys does not multiply its rate.
      const shared = await context.customerLimits.take(key.customer_id);
      if (!shared.allowed) {
        context.metrics?.rateLimited("customer");
        throw rateLimited(shared, `This customer's keys together have used their ${shared.limit} requests of burst.`);
      }
    }

    if (access) await authorize(context, request, access);
  });

  // The body may arrive long after the headers: a key revoked or expired meanwhile must not reach
  // validation or the handler. A cached key costs a map lookup here, and a revocation evicts it.
  app.addHook("preValidation", async (request) => {
    const now = nowTimestamp();
    try {
      request.apiKey = await currentKey(context, request, now);
    } catch (error) {
      countRefusal(context, error);
      throw error;
    }
  });
}

/**
 * The one Authorization header. Node keeps the first of several and drops the rest, while a proxy
 * in front may read the last: two headers are refused rather than let the two disagree.
 */
function authorizationHeader(request: FastifyRequest): string | undefined {
  const raw = request.raw.rawHeaders;
  let count = 0;
  for (let index = 0; index < raw.length; index += 2) {
    const name = raw[index]!;
    if (name.length === 13 && name.toLowerCase() === "authorization") count += 1;
  }
  if (count > 1) throw new AppError("auth_malformed", "Send exactly one Authorization header.");
  return request.headers.authorization;
}

/** The request's key as it stands now: from the cache without a promise, else from the database. */
function currentKey(context: AuthenticationDependencies, request: FastifyRequest, now: string): KeyCredential | Promise<KeyCredential> {
  return (
    context.verifier.cachedCredentialFor(request.keyDigest, now) ??
    context.verifier.storedCredentialFor(request.keyDigest, clientAddress(request), now)
  );
}

/** A refusal of authentication, counted by its code. */
function countRefusal(context: AuthenticationDependencies, error: unknown): void {
  if (error instanceof AppError) {
    context.metrics?.authOutcome(error.code);
    if (error.code === "rate_limited") context.metrics?.rateLimited("auth_failures");
  }
}

export function setRateLimitHeaders(reply: FastifyReply, bucket: BucketState): void {
  reply.header("x-ratelimit-limit", String(bucket.limit));
  reply.header("x-ratelimit-remaining", String(bucket.remaining));
  reply.header("x-ratelimit-reset", String(Math.ceil(bucket.resetAt / 1000)));
}

function rateLimited(bucket: BucketState, what: string): AppError {
  const seconds = Math.max(1, Math.ceil(bucket.retryAfterMs / 1000));
  return new AppError(
    "rate_limited",
    `${what} Retry in ${seconds} s.`,
    { retry_after_seconds: seconds },
    { "retry-after": String(seconds) },
  );
}

async function authorize(context: AuthenticationDependencies, request: FastifyRequest, access: RouteAccess): Promise<void> {
  const key = request.apiKey;
  if (access.instances === "multi" && key.instance_id !== null) {
    throw new AppError(
      "instance_scoped_key",
      "This key is bound to one instance and cannot call a route that spans instances.",
      { instance_id: key.instance_id },
    );
  }
  if (access.scope !== null && !holdsScope(key.scopes, access.scope)) {
    throw new AppError("insufficient_scope", `This key lacks the scope ${access.scope}.`, {
      required: access.scope,
    });
  }
  if (access.instances === "param" && key.instance_id !== null) {
    const instanceId = (request.params as { id?: string }).id ?? "";
    // A malformed id is left to validation (400); a well-formed other id is told apart only as
    // far as tenancy allows: the customer's own other instance is 403, anything else 404.
    if (!isUuid(instanceId) || instanceId === key.instance_id) return;
    if (await findInstance(context.db, key.customer_id, instanceId)) {
      throw new AppError("instance_access_denied", "This key is bound to another instance.", {
        instance_id: key.instance_id,
      });
    }
    throw new AppError("instance_not_found", "No such instance.");
  }
}
