import type { FastifyReply, FastifyRequest } from "fastify";
import type { KeyCredential } from "../api-keys/api-key-repository.js";
import type { LastUsedRecorder } from "../auth/last-used-recorder.js";
import type { KeyVerifier } from "../auth/verify-key.js";
import { holdsScope } from "../contract/scopes.js";
import type { Db } from "../db/schema.js";
import { AppError, rateLimitedError } from "../errors/app-error.js";
import { isUuid } from "../ids/uuid-v7.js";
import { findInstance } from "../instances/instance-repository.js";
import type { MetricsSink } from "../metrics/metrics.js";
import { allowsAddress } from "../net/ip-allowlist.js";
import type { BucketState, RateLimiter } from "../rate-limit/token-buckets.js";
import { nowTimestamp } from "../time/timestamps.js";
import type { App } from "./app-types.js";
import { clientAddress } from "./client-address.js";
import { lowerCaseIdParam } from "./id-param.js";
import { finishHook, thenMaybe, type MaybePromise } from "./maybe-promise.js";
import { addRouteHook, takesBody } from "./route-hooks.js";
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
 * its access policy, or start-up fails, and every request has its `:id` lowered, then passes
 * authentication, the per-key bucket and that policy in `onRequest`, before its body is read, and
 * the key is verified again once the body has arrived.
 */
export function installAuthentication(app: App, context: AuthenticationDependencies): void {
  app.decorateRequest("apiKey", null as unknown as KeyCredential);
  app.decorateRequest("keyDigest", "");

  app.addHook("onRoute", (route) => {
    if (!route.config?.access) {
      throw new Error(`${String(route.method)} ${route.url} declares no access policy (config.access)`);
    }
  });

  // Callback-style hooks that finish synchronously for a cached key and in-memory buckets: the
  // path every request takes costs no promise (see maybe-promise.ts).
  app.addHook("onRequest", (request, reply, done) => {
    lowerCaseIdParam(request);
    reply.header("cache-control", "no-store");
    const now = nowTimestamp();
    try {
      request.keyDigest = context.verifier.digestOf(authorizationHeader(request));
    } catch (error) {
      refuse(context, error);
    }
    finishHook(
      thenMaybe(currentKey(context, request, now), (key) => admit(context, request, reply, key, now)),
      done,
    );
  });

  // The body may arrive long after the headers: a key revoked or expired meanwhile must not reach
  // validation or the handler. A cached key costs a map lookup here, and a revocation evicts it.
  // Fastify reads no body for GET and HEAD: nothing can have arrived since onRequest, and their
  // routes go without this hook.
  addRouteHook(app, "preValidation", takesBody, function verifyKeyAgainOnceBodyArrived(request, _reply, done) {
    finishHook(
      thenMaybe(currentKey(context, request, nowTimestamp()), (key) => {
        request.apiKey = key;
      }),
      done,
    );
  });
}

/**
 * A verified key's way in: its address allowed, its use noted, its tokens spent and the route's
 * policy applied. A request from outside the key's allowlist is refused before it is noted as a
 * use or spends a token, so whoever holds the key elsewhere cannot drain its owner's buckets; it
 * is still the key's request in the log line and the usage counts. The address and the list
 * cannot change while the body arrives: the re-check in preValidation need not look again.
 */
function admit(context: AuthenticationDependencies, request: FastifyRequest, reply: FastifyReply, key: KeyCredential, now: string): MaybePromise<void> {
  request.apiKey = key;
  if (key.allowed_ips !== null) refuseOutsideAllowlist(context, request, key.allowed_ips);
  context.metrics?.authOutcome("ok");
  context.lastUsed.noteUse(key.id, now);
  const access = request.is404 ? undefined : request.routeOptions.config.access;
  return thenMaybe(spendTokens(context, reply, key, access), () => (access ? authorize(context, request, access) : undefined));
}

function refuseOutsideAllowlist(context: AuthenticationDependencies, request: FastifyRequest, allowedIps: readonly string[]): void {
  const address = clientAddress(request);
  if (allowsAddress(allowedIps, address)) return;
  context.metrics?.authOutcome("ip_not_allowed");
  throw new AppError("ip_not_allowed", "This API key may not be used from this address.", { ip: address });
}

/**
 * The key's token and its customer's, with the rate-limit headers. A route that only reports the
 * buckets answers even when they are empty: that is how a throttled client learns when to come
 * back.
 */
function spendTokens(context: AuthenticationDependencies, reply: FastifyReply, key: KeyCredential, access: RouteAccess | undefined): MaybePromise<void> {
  if (access?.spendsToken === false) {
    return thenMaybe(context.keyLimits.peek(key.id), (bucket) => setRateLimitHeaders(reply, bucket));
  }
  return thenMaybe(context.keyLimits.take(key.id), (bucket) => {
    setRateLimitHeaders(reply, bucket);
    if (!bucket.allowed) {
      context.metrics?.rateLimited("key");
      throw rateLimited(bucket, `This API key has used its ${bucket.limit} requests of burst.`);
    }
    // A customer's keys share one more bucket, so that minting keys does not multiply its rate.
    return thenMaybe(context.customerLimits.take(key.customer_id), (shared) => {
      if (!shared.allowed) {
        context.metrics?.rateLimited("customer");
        throw rateLimited(shared, `This customer's keys together have used their ${shared.limit} requests of burst.`);
      }
    });
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

/**
 * The request's key as it stands now: from the cache without a promise, else from the database.
 * A refusal is counted by its code, thrown or rejected as it comes.
 */
function currentKey(context: AuthenticationDependencies, request: FastifyRequest, now: string): MaybePromise<KeyCredential> {
  try {
    const key =
      context.verifier.cachedCredentialFor(request.keyDigest, now) ??
      context.verifier.storedCredentialFor(request.keyDigest, clientAddress(request), now);
    return key instanceof Promise ? key.catch((error: unknown) => refuse(context, error)) : key;
  } catch (error) {
    return refuse(context, error);
  }
}

/** Counts a refusal of authentication by its code, and throws it on. */
function refuse(context: AuthenticationDependencies, error: unknown): never {
  if (error instanceof AppError) {
    context.metrics?.authOutcome(error.code);
    if (error.code === "rate_limited") context.metrics?.rateLimited("auth_failures");
  }
  throw error;
}

export function setRateLimitHeaders(reply: FastifyReply, bucket: BucketState): void {
  reply.header("x-ratelimit-limit", String(bucket.limit));
  reply.header("x-ratelimit-remaining", String(bucket.remaining));
  reply.header("x-ratelimit-reset", String(Math.ceil(bucket.resetAt / 1000)));
}

function rateLimited(bucket: BucketState, what: string): AppError {
  return rateLimitedError(bucket.retryAfterMs, (seconds) => `${what} Retry in ${seconds} s.`);
}

/** The route's policy for this key; only telling a bound key's other instances apart waits on a read. */
function authorize(context: AuthenticationDependencies, request: FastifyRequest, access: RouteAccess): MaybePromise<void> {
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
    return findInstance(context.db, key.customer_id, instanceId).then((instance) => {
      if (instance) {
        throw new AppError("instance_access_denied", "This key is bound to another instance.", {
          instance_id: key.instance_id,
        });
      }
      throw new AppError("instance_not_found", "No such instance.");
    });
  }
}
