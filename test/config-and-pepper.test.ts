import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { buildApp } from "../src/app.js";
import { PEPPER_FILE_NAME, resolvePepper } from "../src/crypto/pepper.js";
import { ConfigError, loadConfig, type Config } from "../src/config.js";
import type { App } from "../src/http/app-types.js";
import { bearer, createCustomerOn, TEST_PEPPER, testConfig } from "./helpers/test-app.js";
import { persistentDatabase, removeDatabase, TEST_DIALECT } from "./helpers/test-database.js";

const LONG_PEPPER = "a-pepper-of-at-least-thirty-two-characters!!";

describe("loadConfig", () => {
  it("has the documented defaults", () => {
    expect(loadConfig({})).toEqual({
      host: "127.0.0.1",
      port: 8080,
      database: { dialect: "sqlite", path: "./data/whatisup.db" },
      keyPepper: null,
      rateLimit: { burst: 60, refillPerSecond: 1 },
      authFailureLimit: { burst: 30, refillPerSecond: 0.5 },
      customerRateLimit: { burst: 600, refillPerSecond: 10 },
      maxActiveKeys: 1_000,
      keyCacheSize: 125_000,
      maxBuckets: 100_000,
      unknownKeyCacheSize: 10_000,
      lastUsedFlushMs: 10_000,
      usageRetentionDays: 90,
      requestTimeoutMs: 30_000,
      shutdownTimeoutMs: 10_000,
      trustProxy: false,
      logLevel: "info",
      webhooks: {
        allowLoopback: false,
        retryDelaysMs: [0, 10_000, 60_000, 300_000, 1_800_000, 7_200_000],
        attemptTimeoutMs: 10_000,
      },
      workerPollMs: 250,
      keyExpiryNoticeDays: 7,
      sandboxStepMs: 1_000,
      cloudApi: null,
      redis: null,
      metricsEnabled: false,
      corsOrigins: [],
    });
  });

  it("treats empty variables as unset", () => {
    expect(
      loadConfig({ PORT: "", HOST: "", DATABASE_URL: "", WHATISUP_KEY_PEPPER: "", RATE_LIMIT_BURST: "", LAST_USED_FLUSH_MS: "" }),
    ).toEqual(loadConfig({}));
  });

  it("takes every documented setting from the environment", () => {
    const config = loadConfig({
      PORT: "9090",
      HOST: "0.0.0.0",
      DATABASE_URL: "sqlite:/var/lib/whatisup/db.sqlite",
      WHATISUP_KEY_PEPPER: LONG_PEPPER,
      RATE_LIMIT_BURST: "5",
      RATE_LIMIT_REFILL_PER_SEC: "0.25",
      AUTH_FAILURE_BURST: "7",
      AUTH_FAILURE_REFILL_PER_SEC: "2",
      LAST_USED_FLUSH_MS: "250",
      USAGE_RETENTION_DAYS: "14",
      REQUEST_TIMEOUT_MS: "5000",
      SHUTDOWN_TIMEOUT_MS: "2000",
      KEY_CACHE_SIZE: "5000",
      RATE_LIMIT_MAX_BUCKETS: "6000",
      UNKNOWN_KEY_CACHE_SIZE: "7000",
      LOG_LEVEL: "debug",
      CORS_ORIGINS: "https://console.example.com, http://localhost:5173",
    });
    expect(config).toMatchObject({
      host: "0.0.0.0",
      port: 9090,
      database: { dialect: "sqlite", path: "/var/lib/whatisup/db.sqlite" },
      keyPepper: LONG_PEPPER,
      rateLimit: { burst: 5, refillPerSecond: 0.25 },
      authFailureLimit: { burst: 7, refillPerSecond: 2 },
      lastUsedFlushMs: 250,
      usageRetentionDays: 14,
      requestTimeoutMs: 5_000,
      shutdownTimeoutMs: 2_000,
      keyCacheSize: 5_000,
      maxBuckets: 6_000,
      unknownKeyCacheSize: 7_000,
      logLevel: "debug",
      corsOrigins: ["https://console.example.com", "http://localhost:5173"],
    });
  });

  it("accepts a relative sqlite path", () => {
    expect(loadConfig({ DATABASE_URL: "sqlite:./elsewhere/x.db" }).database).toEqual({ dialect: "sqlite", path: "./elsewhere/x.db" });
  });

  const refusals: Array<[string, Record<string, string>]> = [
    ["a PORT that is not a number", { PORT: "abc" }],
    ["a negative PORT", { PORT: "-1" }],
    ["a fractional PORT", { PORT: "80.5" }],
    ["a PORT beyond 65535", { PORT: "65536" }],
    ["a RATE_LIMIT_BURST of 0", { RATE_LIMIT_BURST: "0" }],
    ["a RATE_LIMIT_BURST that is not a whole number", { RATE_LIMIT_BURST: "1.5" }],
    ["a negative RATE_LIMIT_REFILL_PER_SEC", { RATE_LIMIT_REFILL_PER_SEC: "-1" }],
    ["a RATE_LIMIT_REFILL_PER_SEC of 0", { RATE_LIMIT_REFILL_PER_SEC: "0" }],
    ["a RATE_LIMIT_REFILL_PER_SEC that is not a number", { RATE_LIMIT_REFILL_PER_SEC: "fast" }],
    ["an AUTH_FAILURE_BURST that is not a number", { AUTH_FAILURE_BURST: "many" }],
    ["a negative AUTH_FAILURE_REFILL_PER_SEC", { AUTH_FAILURE_REFILL_PER_SEC: "-0.5" }],
    ["a LAST_USED_FLUSH_MS of 0", { LAST_USED_FLUSH_MS: "0" }],
    ["a USAGE_RETENTION_DAYS of 0", { USAGE_RETENTION_DAYS: "0" }],
    ["an UNKNOWN_KEY_CACHE_SIZE of 0", { UNKNOWN_KEY_CACHE_SIZE: "0" }],
    ["a LAST_USED_FLUSH_MS longer than a timer can wait", { LAST_USED_FLUSH_MS: "3000000000" }],
    ["a REQUEST_TIMEOUT_MS of 0 (no deadline)", { REQUEST_TIMEOUT_MS: "0" }],
    ["a REQUEST_TIMEOUT_MS that is not a whole number", { REQUEST_TIMEOUT_MS: "1.5" }],
    ["a REQUEST_TIMEOUT_MS in seconds", { REQUEST_TIMEOUT_MS: "30s" }],
    ["a REQUEST_TIMEOUT_MS longer than a timer can wait", { REQUEST_TIMEOUT_MS: "3000000000" }],
    ["a SHUTDOWN_TIMEOUT_MS of 0", { SHUTDOWN_TIMEOUT_MS: "0" }],
    ["a negative SHUTDOWN_TIMEOUT_MS", { SHUTDOWN_TIMEOUT_MS: "-1" }],
    ["a SHUTDOWN_TIMEOUT_MS over an hour", { SHUTDOWN_TIMEOUT_MS: "3600001" }],
    ["a short WHATISUP_KEY_PEPPER", { WHATISUP_KEY_PEPPER: "too-short" }],
    ["a pepper one character short", { WHATISUP_KEY_PEPPER: "p".repeat(31) }],
    ["a mysql DATABASE_URL", { DATABASE_URL: "mysql://user:pass@localhost/whatisup" }],
    ["a DATABASE_URL without a scheme", { DATABASE_URL: "./data/whatisup.db" }],
    ["a sqlite DATABASE_URL without a path", { DATABASE_URL: "sqlite:" }],
  ];
  it.each(refusals)("refuses %s with a ConfigError", (_label, env) => {
    expect(() => loadConfig(env)).toThrow(ConfigError);
  });

  it("names the offending variable in its message", () => {
    expect(() => loadConfig({ PORT: "abc" })).toThrow(/PORT/);
    expect(() => loadConfig({ RATE_LIMIT_REFILL_PER_SEC: "-1" })).toThrow(/RATE_LIMIT_REFILL_PER_SEC/);
    expect(() => loadConfig({ WHATISUP_KEY_PEPPER: "short" })).toThrow(/WHATISUP_KEY_PEPPER/);
    expect(() => loadConfig({ DATABASE_URL: "mysql://x" })).toThrow(/DATABASE_URL/);
    expect(() => loadConfig({ REQUEST_TIMEOUT_MS: "0" })).toThrow(/REQUEST_TIMEOUT_MS/);
    expect(() => loadConfig({ SHUTDOWN_TIMEOUT_MS: "soon" })).toThrow(/SHUTDOWN_TIMEOUT_MS/);
  });

  it("never puts the pepper in its error messages", () => {
    const shortPepper = "secret-but-short";
    try {
      loadConfig({ WHATISUP_KEY_PEPPER: shortPepper });
      expect.unreachable("a short pepper must be refused");
    } catch (error) {
      expect((error as Error).message).not.toContain(shortPepper);
    }
  });

  it("accepts a pepper of exactly 32 characters", () => {
    expect(loadConfig({ WHATISUP_KEY_PEPPER: "p".repeat(32) }).keyPepper).toBe("p".repeat(32));
  });
});

describe("the key pepper", () => {
  const directories: string[] = [];
  const databases: Config["database"][] = [];
  const apps: App[] = [];
  afterEach(async () => {
    for (const app of apps.splice(0)) await app.close();
    for (const directory of directories.splice(0)) rmSync(directory, { recursive: true, force: true });
    for (const database of databases.splice(0)) await removeDatabase(database);
  });

  function temporaryDirectory(): string {
    const directory = mkdtempSync(join(tmpdir(), "whatisup-pepper-"));
    directories.push(directory);
    return directory;
  }

  /** A config on a file database in a fresh directory, with no pepper configured. */
  function fileConfig(directory = temporaryDirectory(), overrides: Partial<Config> = {}): Config {
    return testConfig({ database: { dialect: "sqlite", path: join(directory, "whatisup.db") }, keyPepper: null, ...overrides });
  }

  /**
   * A config on a database several apps open in turn or at once. Embedded SQLite: a file with no
   * pepper configured, so the one generated beside it is what the apps share. PostgreSQL: a
   * schema of its own, and the configured pepper every node must be given (there is no file).
   */
  function sharedConfig(database = persistentDatabase(), overrides: Partial<Config> = {}): Config {
    if (!databases.includes(database)) databases.push(database);
    const keyPepper = database.dialect === "sqlite" ? null : TEST_PEPPER;
    return testConfig({ database, keyPepper, ...overrides });
  }

  async function startApp(config: Config): Promise<App> {
    const app = await buildApp(config, { logger: false });
    apps.push(app);
    await app.ready();
    return app;
  }

  // The pepper file is embedded mode's alone: with PostgreSQL the pepper must be configured.
  describe.skipIf(TEST_DIALECT === "postgres")("in a file beside the SQLite database", () => {
    it("is the configured one when WHATISUP_KEY_PEPPER is set, and no file is written", () => {
      const directory = temporaryDirectory();
      expect(resolvePepper(fileConfig(directory, { keyPepper: LONG_PEPPER }))).toBe(LONG_PEPPER);
      expect(readdirSync(directory)).toEqual([]);
    });

    it("is generated once beside the SQLite file, with mode 0600", () => {
      const directory = temporaryDirectory();
      const config = fileConfig(directory);
      const pepper = resolvePepper(config);
      const file = join(directory, PEPPER_FILE_NAME);

      expect(existsSync(file)).toBe(true);
      expect(statSync(file).mode & 0o777).toBe(0o600);
      expect(pepper.length).toBeGreaterThanOrEqual(32);
      expect(readFileSync(file, "utf8").trim()).toBe(pepper);
      // Nothing else is left behind (no temporary file).
      expect(readdirSync(directory)).toEqual([PEPPER_FILE_NAME]);

      expect(resolvePepper(config)).toBe(pepper);
      expect(resolvePepper(fileConfig(directory))).toBe(pepper);
    });

    it("creates the database's directory when it does not exist yet", () => {
      const directory = join(temporaryDirectory(), "nested", "data");
      const pepper = resolvePepper(fileConfig(directory));
      expect(readFileSync(join(directory, PEPPER_FILE_NAME), "utf8").trim()).toBe(pepper);
    });

    it("differs between databases in different directories", () => {
      expect(resolvePepper(fileConfig())).not.toBe(resolvePepper(fileConfig()));
    });

    it("refuses a damaged pepper file rather than replacing it", () => {
      const directory = temporaryDirectory();
      const file = join(directory, PEPPER_FILE_NAME);
      writeFileSync(file, "short\n", { mode: 0o600 });
      expect(() => resolvePepper(fileConfig(directory))).toThrow(/damaged/);
      expect(readFileSync(file, "utf8")).toBe("short\n");
    });
  });

  it("is kept by the server across restarts: a key still works after the app is rebuilt", async () => {
    const config = sharedConfig();
    const first = await startApp(config);
    const created = await createCustomerOn(first.db, resolvePepper(config), "Acme");
    expect((await first.inject({ url: "/v1/api-keys", headers: bearer(created.api_key.secret) })).statusCode).toBe(200);
    await apps.splice(0)[0]!.close();

    const second = await startApp(config);
    expect((await second.inject({ url: "/v1/api-keys", headers: bearer(created.api_key.secret) })).statusCode).toBe(200);
  });

  it("is shared by two apps on the same database: each authenticates the other's keys", async () => {
    const config = sharedConfig();
    const one = await startApp(config);
    const two = await startApp(config);
    const created = await createCustomerOn(one.db, resolvePepper(config), "Acme");
    const firstSecret = created.api_key.secret;

    const issuedByTwo = await two.inject({
      method: "POST",
      url: "/v1/api-keys",
      headers: bearer(firstSecret),
      payload: { name: "from two" },
    });
    expect(issuedByTwo.statusCode, issuedByTwo.body).toBe(201);
    const secondSecret = (issuedByTwo.json() as { secret: string }).secret;

    const usedOnOne = await one.inject({ url: "/v1/api-keys", headers: bearer(secondSecret) });
    expect(usedOnOne.statusCode, usedOnOne.body).toBe(200);
    expect((usedOnOne.json() as Array<{ name: string }>).map((key) => key.name).sort()).toEqual(["first key", "from two"]);
  });

  it("is not shared by apps configured with different peppers", async () => {
    const database = persistentDatabase();
    const one = await startApp(sharedConfig(database, { keyPepper: LONG_PEPPER }));
    const two = await startApp(sharedConfig(database, { keyPepper: `${LONG_PEPPER}-other` }));
    const created = await createCustomerOn(one.db, LONG_PEPPER, "Acme");
    expect((await one.inject({ url: "/v1/api-keys", headers: bearer(created.api_key.secret) })).statusCode).toBe(200);
    const refused = await two.inject({ url: "/v1/api-keys", headers: bearer(created.api_key.secret) });
    expect(refused.statusCode).toBe(401);
    expect(refused.json().error.code).toBe("auth_invalid");
  });
});
