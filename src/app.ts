import { randomBytes } from "node:crypto";
import Fastify, { type FastifyBaseLogger } from "fastify";
import { Redis } from "ioredis";
import type { TypeBoxTypeProvider } from "@fastify/type-provider-typebox";
import { LastUsedRecorder } from "./auth/last-used-recorder.js";
import { PostgresRevocationChannel, SingleNodeRevocationChannel } from "./auth/revocation-channel.js";
import { UsageCounters } from "./auth/usage-counters.js";
import { VerifiedKeyCache } from "./auth/verified-key-cache.js";
import { KeyVerifier } from "./auth/verify-key.js";
import type { Config } from "./config.js";
import { resolvePepper } from "./crypto/pepper.js";
import { openDatabase } from "./db/database.js";
import type { SqlDialect } from "./db/dialect.js";
import { migrateToLatest } from "./db/migrate.js";
import type { Db } from "./db/schema.js";
import type { App } from "./http/app-types.js";
import { installAuthentication } from "./http/authentication.js";
import { installCors } from "./http/cors.js";
import { answerClientError } from "./http/client-errors.js";
import { frameworkErrorHandler, installErrorHandler } from "./http/error-handler.js";
import { installJsonBodyParser } from "./http/json-body.js";
import { createLoggers, RequestLog } from "./http/logging.js";
import { createNotFoundHandler } from "./http/not-found.js";
import { newRequestId } from "./http/request-id.js";
import { RouteTable } from "./http/route-table.js";
import { installUsageCounting } from "./http/usage-counting.js";
import { validatorCompiler } from "./http/validation.js";
import { installIdempotency } from "./idempotency/idempotency-hooks.js";
import { AppMetrics } from "./metrics/metrics.js";
import { FallbackRateLimiter, REDIS_COMMAND_TIMEOUT_MS, RedisRateLimiter } from "./rate-limit/redis-rate-limiter.js";
import { MemoryRateLimiter, type BucketSettings, type RateLimiter } from "./rate-limit/token-buckets.js";
import { registerApiKeyRoutes } from "./routes/api-keys/index.js";
import { registerListAuditEvents } from "./routes/audit-events/list-audit-events.js";
import { registerInstanceRoutes } from "./routes/instances/index.js";
import { registerGetLimits } from "./routes/limits/get-limits.js";
import { registerMessageRoutes } from "./routes/messages/index.js";
import { registerDashboard } from "./routes/public/dashboard.js";
import { registerHealth } from "./routes/public/healthz.js";
import { registerLeakedKeys } from "./routes/public/leaked-keys.js";
import { registerMetrics } from "./routes/public/metrics.js";
import { registerOpenApi } from "./routes/public/openapi.js";
import { registerReadiness } from "./routes/public/readyz.js";
import { registerWhatsAppCallbacks } from "./routes/public/whatsapp-callbacks.js";
import type { RouteDependencies } from "./routes/route-dependencies.js";
import { registerWebhookDeliveryRoutes } from "./routes/webhook-deliveries/index.js";
import { registerWebhookEndpointRoutes } from "./routes/webhook-endpoints/index.js";
import { createWriter, writeDependencies } from "./use-cases/write.js";
import { IdempotencyPurge, PURGE_POLL_MS } from "./workers/idempotency-purge.js";
import { KeyExpiryNotifier } from "./workers/key-expiry-notifier.js";
import { MessagePump } from "./workers/message-pump.js";
import { SandboxClock } from "./workers/sandbox-clock.js";
import { WebhookDispatcher } from "./workers/webhook-dispatcher.js";
import { WorkerLoop } from "./workers/worker-loop.js";

declare module "fastify" {
  interface FastifyInstance {
    /** The app's database, for the tools and tests that share the app's connection. */
    db: Db;
    dialect: SqlDialect;
    /** Every route the app registered (see http/route-table.ts). */
    routeTable: RouteTable;
    /** Writes `last_used_at` and the per-key usage behind the requests; tests flush it. */
    keyUses: LastUsedRecorder;
  }
}

export const BODY_LIMIT_BYTES = 64 * 1024;

export type AppOptions = {
  /** false silences the log (tests); a stream receives the JSON lines instead of stdout. */
  logger?: false | { stream: NodeJS.WritableStream };
};

/**
 * Builds the whole API from a config: opens the database and migrates it, then assembles the
 * app. It never listens; `server.ts` does. Public routes are registered at the root, every other
 * one inside the authenticated `/v1` context. The app comes back ready: a Fastify instance is a
 * thenable, so resolving the promise with it loads every plugin.
 */
export async function buildApp(config: Config, options: AppOptions = {}): Promise<App> {
  const database = await openDatabase(config.database, { checkpointInBackground: true });
  const { db, dialect } = database;
  try {
    await migrateToLatest(database);
  } catch (error) {
    await db.destroy();
    throw error;
  }
  const pepper = resolvePepper(config);

  const loggers = options.logger === false ? undefined : createLoggers(config.logLevel, options.logger?.stream);
  const app = Fastify({
    ...(loggers ? { loggerInstance: loggers.logger } : { logger: false }),
    genReqId: newRequestId,
    requestIdHeader: false,
    ...(loggers ? { logController: new RequestLog(config.logLevel, loggers.output) } : {}),
    bodyLimit: BODY_LIMIT_BYTES,
    trustProxy: trustedProxies(config.trustProxy),
    // Node refuses request lines over 16 KiB, so the router's own limit never answers first: a
    // long id goes through authentication and then validation like any other bad id.
    routerOptions: { maxParamLength: 16 * 1024 },
    frameworkErrors: frameworkErrorHandler,
    // Node bounds the arrival of the request (headers and body), not the handler. Fastify copies
    // requestTimeout onto the server after createServer; `http` carries it too because Node
    // refuses a headersTimeout above the requestTimeout it is created with. Node only looks for
    // late requests every connectionsCheckingInterval (30 s by default): a tenth of the timeout
    // keeps the overshoot within 10%.
    requestTimeout: config.requestTimeoutMs,
    http: {
      requestTimeout: config.requestTimeoutMs,
      headersTimeout: config.requestTimeoutMs,
      connectionsCheckingInterval: Math.ceil(config.requestTimeoutMs / 10),
    },
    // An idle connection waits for its next request no longer than a request may take to arrive.
    keepAliveTimeout: config.requestTimeoutMs,
    clientErrorHandler: answerClientError,
  }).withTypeProvider<TypeBoxTypeProvider>();

  const routeTable = new RouteTable(app);
  app.decorate("db", db);
  app.decorate("dialect", dialect);
  app.decorate("routeTable", routeTable);
  app.setValidatorCompiler(validatorCompiler);
  installJsonBodyParser(app);
  installErrorHandler(app);
  app.addHook("onRequest", (request, reply, done) => {
    reply.header("x-request-id", request.id);
    done();
  });
  const notFound = createNotFoundHandler(routeTable);
  app.setNotFoundHandler(notFound);

  // The document collects routes through onRoute: it must be in place before the first route.
  await registerOpenApi(app);
  installCors(app, config.corsOrigins, routeTable);

  const cache = new VerifiedKeyCache(config.keyCacheSize);
  const metrics = config.metricsEnabled ? new AppMetrics(db, cache) : undefined;
  const redis =
    config.redis &&
    new Redis(config.redis.url, {
      keyPrefix: `${config.redis.keyPrefix}:`,
      maxRetriesPerRequest: 1,
      commandTimeout: REDIS_COMMAND_TIMEOUT_MS,
    });
  redis?.on("error", (error) => app.log.warn({ err: error }, "redis failed"));
  const revocations =
    config.database.dialect === "postgres"
      ? new PostgresRevocationChannel(config.database.url, cache, app.log, metrics)
      : new SingleNodeRevocationChannel(cache);
  const writes = writeDependencies(config, dialect, pepper, revocations);
  const write = createWriter(db, writes);
  const keyLimits = rateLimiter(redis, "keys", config.rateLimit, config.maxBuckets, app.log);
  const customerLimits = rateLimiter(redis, "customers", config.customerRateLimit, config.maxBuckets, app.log);
  const usage = new UsageCounters();
  const lastUsed = new LastUsedRecorder(db, dialect, config.lastUsedFlushMs, app.log, {
    counters: usage,
    retentionDays: config.usageRetentionDays,
  });
  lastUsed.start();
  app.decorate("keyUses", lastUsed);
  // Before the server closes, so neither a held request nor a hard exit at the deadline can lose it.
  app.addHook("preClose", () => lastUsed.flush());

  const workers = [
    new WebhookDispatcher({
      db,
      dialect,
      nodeId: `node_${randomBytes(6).toString("hex")}`,
      secrets: writes.secrets,
      webhooks: config.webhooks,
      ...(metrics ? { metrics } : {}),
    }),
    new SandboxClock({ db, write, stepMs: config.sandboxStepMs, destinations: { allowLoopback: config.webhooks.allowLoopback } }),
    new MessagePump({ db, write, cloudApi: config.cloudApi }),
    new KeyExpiryNotifier({ write, noticeDays: config.keyExpiryNoticeDays, clock: Date.now }),
  ].map((worker) => new WorkerLoop(worker, config.workerPollMs, app.log));
  workers.push(new WorkerLoop(new IdempotencyPurge({ db, clock: Date.now }), PURGE_POLL_MS, app.log));
  app.addHook("onReady", async () => {
    await revocations.start();
    for (const worker of workers) worker.start();
  });
  app.addHook("onClose", async () => {
    await Promise.all(workers.map((worker) => worker.stop()));
    await revocations.stop();
    await lastUsed.stop();
    await redis?.quit().catch(() => undefined);
    await db.destroy();
    loggers?.close();
  });

  if (metrics) registerMetrics(app, metrics);
  registerHealth(app);
  registerReadiness(app, database);
  registerDashboard(app);
  registerWhatsAppCallbacks(app, { cloudApi: config.cloudApi, write });
  // Reports are throttled like failed authentications (the same settings and per-network names),
  // in buckets of their own: a busy reporter must not starve its network's key verifications.
  const leakReports = rateLimiter(redis, "leak-reports", config.authFailureLimit, config.maxBuckets, app.log);
  registerLeakedKeys(app, { db, write, keyDigests: writes.keyDigests, reports: leakReports });

  const routes: RouteDependencies = {
    db,
    write,
    cloudApi: config.cloudApi,
    webhookDestinations: { allowLoopback: config.webhooks.allowLoopback },
    keyLimits,
    customerLimits,
  };
  const authentication = {
    verifier: new KeyVerifier(
      db,
      writes.keyDigests,
      cache,
      revocations,
      rateLimiter(redis, "auth-failures", config.authFailureLimit, config.maxBuckets, app.log),
      config.unknownKeyCacheSize,
    ),
    db,
    lastUsed,
    keyLimits,
    customerLimits,
    ...(metrics ? { metrics } : {}),
  };
  app.register(
    async (v1: App) => {
      installAuthentication(v1, authentication);
      installUsageCounting(v1, usage);
      installIdempotency(v1, db);
      v1.setNotFoundHandler(notFound);
      registerApiKeyRoutes(v1, routes);
      registerInstanceRoutes(v1, routes);
      registerListAuditEvents(v1, routes);
      registerGetLimits(v1, routes);
      registerMessageRoutes(v1, routes);
      registerWebhookEndpointRoutes(v1, routes);
      registerWebhookDeliveryRoutes(v1, routes);
    },
    { prefix: "/v1" },
  );
  return app;
}

/** A hop count as proxy-addr reads it: the nearest `hops` hops, counted from the socket. */
function trustedProxies(setting: Config["trustProxy"]): boolean | string[] | ((address: string, hop: number) => boolean) {
  if (typeof setting !== "number") return setting;
  return (_address, hop) => hop < setting;
}

/** Each node's own buckets, or with Redis the buckets all nodes share. */
function rateLimiter(redis: Redis | null, family: string, settings: BucketSettings, maxBuckets: number, log: FastifyBaseLogger): RateLimiter {
  const local = new MemoryRateLimiter(settings, maxBuckets);
  if (redis === null) return local;
  return new FallbackRateLimiter(new RedisRateLimiter(redis, `rate:${family}`, settings), local, {
    failed: (error) => log.warn({ err: error, family }, "shared rate limits unavailable; limiting on this node alone"),
    recovered: () => log.info({ family }, "shared rate limits available again"),
  });
}
