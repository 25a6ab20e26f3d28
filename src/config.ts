import { isIP } from "node:net";
export type DatabaseConfig =
  | { dialect: "sqlite"; path: string }
  | {
      dialect: "postgres";
      url: string;
      /** The schema holding the tables (created if missing); null: the server's default (public). */
      schema: string | null;
      poolSize: number;
    };

export type Config = {
  host: string;
  port: number;
  database: DatabaseConfig;
  /** Unset means: generate one beside the SQLite file (embedded mode only). */
  keyPepper: string | null;
  rateLimit: { burst: number; refillPerSecond: number };
  authFailureLimit: { burst: number; refillPerSecond: number };
  /** One bucket for all of a customer's keys together, beside each key's own. */
  customerRateLimit: { burst: number; refillPerSecond: number };
  /** Keys a customer may hold that are neither revoked nor expired. */
  maxActiveKeys: number;
  /** Verified keys each node keeps in memory (KEY_CACHE_SIZE). */
  keyCacheSize: number;
  /** In-memory token buckets each node keeps per family: keys, customers, client networks. */
  maxBuckets: number;
  /** Well-formed keys that matched no key, each node remembers for 10 s (UNKNOWN_KEY_CACHE_SIZE). */
  unknownKeyCacheSize: number;
  lastUsedFlushMs: number;
  /** Days of per-key usage kept; older hourly rows are deleted (USAGE_RETENTION_DAYS). */
  usageRetentionDays: number;
  /** The whole request, headers and body, must arrive within this; it also bounds an idle keep-alive connection. */
  requestTimeoutMs: number;
  /** How long shutdown waits for open requests before it closes their connections. */
  shutdownTimeoutMs: number;
  /**
   * Which proxies in front of the server may name the client in `X-Forwarded-For`: none (false),
   * the nearest N hops, or the proxies at these addresses and networks. Never every hop.
   */
  trustProxy: false | number | string[];
  logLevel: string;
  webhooks: {
    /** Lets endpoint URLs resolve to loopback: local development and tests only. */
    allowLoopback: boolean;
    /** The delay before each of the (six) attempts; the first is normally 0. */
    retryDelaysMs: number[];
    /** How long one attempt may take before it counts as failed. */
    attemptTimeoutMs: number;
  };
  /** How often the background workers (dispatcher, sandbox clock) look for due work. */
  workerPollMs: number;
  /** Days before a key's `expires_at` its `api_key.expiring` notice is sent; 0 sends none. */
  keyExpiryNoticeDays: number;
  sandboxStepMs: number;
  cloudApi: CloudApiConfig | null;
  /** Shared rate limits across nodes; null keeps them in each node's memory. */
  redis: { url: string; keyPrefix: string } | null;
  /** Serves Prometheus metrics at `/metrics`; without it the route does not exist (404). */
  metricsEnabled: boolean;
  /** The browser origins (`scheme://host[:port]`) allowed to call the API (CORS_ORIGINS); none: no CORS. */
  corsOrigins: string[];
};

/** The WhatsApp Cloud API account the `cloud_api` transport uses; null when not configured. */
export type CloudApiConfig = {
  baseUrl: string;
  version: string;
  accessToken: string;
  /** Verifies the X-Hub-Signature-256 of the status callbacks Meta sends. */
  appSecret: string;
  /** Answers Meta's subscription handshake (GET hub.verify_token). */
  verifyToken: string;
};

export class ConfigError extends Error {}

/** The SQLite path of a database that lives in memory only (tests, one-off tools). */
export const IN_MEMORY_SQLITE = ":memory:";

const DEFAULT_DATABASE_URL = "sqlite:./data/whatisup.db";
const MIN_PEPPER_LENGTH = 32;
/** The longest delay a Node timer takes; longer ones fire at once. */
const MAX_TIMER_MS = 2_147_483_647;
/** Leaves room below MAX_TIMER_MS for the hard-exit timer that server.ts sets a little after the deadline. */
const MAX_SHUTDOWN_TIMEOUT_MS = 3_600_000;

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const pepper = env.WHATISUP_KEY_PEPPER || null;
  if (pepper !== null && pepper.length < MIN_PEPPER_LENGTH) {
    throw new ConfigError(`WHATISUP_KEY_PEPPER must be at least ${MIN_PEPPER_LENGTH} characters`);
  }
  const database = readDatabase(env);
  if (database.dialect === "postgres" && pepper === null) {
    // Every node must digest keys with the same pepper; none may invent its own.
    throw new ConfigError("WHATISUP_KEY_PEPPER is required with PostgreSQL (every node must share it)");
  }
  return {
    host: env.HOST || "127.0.0.1",
    port: readInteger(env, "PORT", 8080, 0, 65_535),
    database,
    keyPepper: pepper,
    rateLimit: {
      burst: readInteger(env, "RATE_LIMIT_BURST", 60, 1),
      refillPerSecond: readDecimal(env, "RATE_LIMIT_REFILL_PER_SEC", 1),
    },
    authFailureLimit: {
      burst: readInteger(env, "AUTH_FAILURE_BURST", 30, 1),
      refillPerSecond: readDecimal(env, "AUTH_FAILURE_REFILL_PER_SEC", 0.5),
    },
    customerRateLimit: {
      burst: readInteger(env, "CUSTOMER_RATE_LIMIT_BURST", 600, 1),
      refillPerSecond: readDecimal(env, "CUSTOMER_RATE_LIMIT_REFILL_PER_SEC", 10),
    },
    maxActiveKeys: readInteger(env, "MAX_ACTIVE_KEYS", 1_000, 1),
    keyCacheSize: readInteger(env, "KEY_CACHE_SIZE", 125_000, 1, 10_000_000),
    maxBuckets: readInteger(env, "RATE_LIMIT_MAX_BUCKETS", 100_000, 1, 10_000_000),
    unknownKeyCacheSize: readInteger(env, "UNKNOWN_KEY_CACHE_SIZE", 10_000, 1, 10_000_000),
    lastUsedFlushMs: readInteger(env, "LAST_USED_FLUSH_MS", 10_000, 1, MAX_TIMER_MS),
    usageRetentionDays: readInteger(env, "USAGE_RETENTION_DAYS", 90, 1, 36_500),
    requestTimeoutMs: readInteger(env, "REQUEST_TIMEOUT_MS", 30_000, 1, MAX_TIMER_MS),
    shutdownTimeoutMs: readInteger(env, "SHUTDOWN_TIMEOUT_MS", 10_000, 1, MAX_SHUTDOWN_TIMEOUT_MS),
    trustProxy: readTrustProxy(env.TRUST_PROXY),
    logLevel: env.LOG_LEVEL || "info",
    webhooks: {
      allowLoopback: env.WEBHOOK_ALLOW_LOOPBACK === "true",
      retryDelaysMs: readDelays(env, "WEBHOOK_RETRY_DELAYS_MS", [0, 10_000, 60_000, 300_000, 1_800_000, 7_200_000]),
      attemptTimeoutMs: readInteger(env, "WEBHOOK_TIMEOUT_MS", 10_000, 1, MAX_TIMER_MS),
    },
    workerPollMs: readInteger(env, "WORKER_POLL_MS", 250, 1, MAX_TIMER_MS),
    keyExpiryNoticeDays: readInteger(env, "KEY_EXPIRY_NOTICE_DAYS", 7, 0, 365),
    sandboxStepMs: readInteger(env, "SANDBOX_STEP_MS", 1_000, 0, MAX_TIMER_MS),
    cloudApi: readCloudApi(env),
    redis: env.REDIS_URL ? { url: env.REDIS_URL, keyPrefix: env.REDIS_KEY_PREFIX || "whatisup" } : null,
    metricsEnabled: env.METRICS_ENABLED === "true",
    corsOrigins: readCorsOrigins(env.CORS_ORIGINS),
  };
}

/**
 * Each entry must be exactly what a browser sends as `Origin`, since requests are matched by
 * equality: a scheme, a lower-case host, a port only when not the scheme's default, and nothing
 * after. A wildcard or `null` (the origin of sandboxed and file pages) would let any page in.
 */
function readCorsOrigins(raw: string | undefined): string[] {
  if (raw === undefined || raw.trim() === "") return [];
  return raw.split(",").map((entry) => {
    const origin = entry.trim();
    const refuse = (why: string) => new ConfigError(`CORS_ORIGINS: "${origin}" ${why}`);
    if (origin.includes("*")) throw refuse("has a wildcard: list each origin, e.g. https://app.example.com");
    let url: URL;
    try {
      url = new URL(origin);
    } catch {
      throw refuse("is not an origin: write scheme://host[:port], e.g. https://app.example.com");
    }
    if (url.protocol !== "https:" && url.protocol !== "http:") throw refuse("must be an http or https origin");
    if (url.origin !== origin) {
      throw refuse(`is not an origin as browsers send it (no path, user, query or trailing slash, a lower-case host, no default port): write ${url.origin}`);
    }
    return origin;
  });
}

function readCloudApi(env: NodeJS.ProcessEnv): CloudApiConfig | null {
  const accessToken = env.WHATSAPP_CLOUD_API_TOKEN || null;
  if (accessToken === null) return null;
  const appSecret = env.WHATSAPP_APP_SECRET;
  const verifyToken = env.WHATSAPP_VERIFY_TOKEN;
  if (!appSecret || !verifyToken) {
    throw new ConfigError("WHATSAPP_CLOUD_API_TOKEN needs WHATSAPP_APP_SECRET and WHATSAPP_VERIFY_TOKEN too");
  }
  return {
    baseUrl: (env.WHATSAPP_CLOUD_API_BASE_URL || "https://graph.facebook.com").replace(/\/+$/, ""),
    version: env.WHATSAPP_CLOUD_API_VERSION || "v21.0",
    accessToken,
    appSecret,
    verifyToken,
  };
}

function readDelays(env: NodeJS.ProcessEnv, name: string, fallback: number[]): number[] {
  const raw = env[name];
  if (raw === undefined || raw === "") return fallback;
  const parts = raw.split(",").map((part) => part.trim());
  if (parts.length === 0 || parts.some((part) => !/^\d+$/.test(part) || Number(part) > MAX_TIMER_MS)) {
    throw new ConfigError(`${name} must be comma-separated whole milliseconds, got "${raw}"`);
  }
  return parts.map(Number);
}

function readDatabase(env: NodeJS.ProcessEnv): DatabaseConfig {
  const url = env.DATABASE_URL || DEFAULT_DATABASE_URL;
  if (url.startsWith("sqlite:")) {
    const path = url.slice("sqlite:".length);
    if (path === "") throw new ConfigError("DATABASE_URL sqlite: needs a path, e.g. sqlite:./data/whatisup.db");
    return { dialect: "sqlite", path };
  }
  if (url.startsWith("postgres://") || url.startsWith("postgresql://")) {
    const schema = env.DATABASE_SCHEMA || null;
    if (schema !== null && !/^[a-z_][a-z0-9_]{0,62}$/.test(schema)) {
      throw new ConfigError(`DATABASE_SCHEMA must be a lower-case SQL identifier, got "${schema}"`);
    }
    return { dialect: "postgres", url, schema, poolSize: readInteger(env, "DATABASE_POOL_SIZE", 10, 1, 1_000) };
  }
  throw new ConfigError("DATABASE_URL must be sqlite:<path> or postgres://…");
}

const MAX_PROXY_HOPS = 10;

function readTrustProxy(raw: string | undefined): false | number | string[] {
  if (raw === undefined || raw === "" || raw === "false" || raw === "0") return false;
  if (raw === "true") {
    throw new ConfigError(
      "TRUST_PROXY=true would let any client choose its own address: give the number of proxies in front of the server (e.g. 1) or their addresses (e.g. 10.0.0.0/8,192.0.2.7)",
    );
  }
  if (/^\d+$/.test(raw)) {
    const hops = Number(raw);
    if (hops > MAX_PROXY_HOPS) throw new ConfigError(`TRUST_PROXY must be from 1 to ${MAX_PROXY_HOPS} hops, got "${raw}"`);
    return hops;
  }
  const entries = raw.split(",").map((entry) => entry.trim());
  for (const entry of entries) {
    if (!isAddressOrNetwork(entry)) {
      throw new ConfigError(`TRUST_PROXY must be a number of hops or comma-separated addresses and networks (CIDR), got "${entry}"`);
    }
  }
  return entries;
}

function isAddressOrNetwork(entry: string): boolean {
  const [address = "", prefix, extra] = entry.split("/");
  const family = isIP(address);
  if (family === 0 || extra !== undefined) return false;
  if (prefix === undefined) return true;
  return /^\d{1,3}$/.test(prefix) && Number(prefix) <= (family === 4 ? 32 : 128);
}

function readInteger(
  env: NodeJS.ProcessEnv,
  name: string,
  fallback: number,
  min: number,
  max = Number.MAX_SAFE_INTEGER,
): number {
  const raw = env[name];
  if (raw === undefined || raw === "") return fallback;
  if (!/^\d+$/.test(raw) || Number(raw) < min || Number(raw) > max) {
    throw new ConfigError(`${name} must be a whole number from ${min} to ${max}, got "${raw}"`);
  }
  return Number(raw);
}

function readDecimal(env: NodeJS.ProcessEnv, name: string, fallback: number): number {
  const raw = env[name];
  if (raw === undefined || raw === "") return fallback;
  const value = Number(raw);
  if (!/^\d+(\.\d+)?$/.test(raw) || value <= 0) {
    throw new ConfigError(`${name} must be a positive decimal number, got "${raw}"`);
  }
  return value;
}
