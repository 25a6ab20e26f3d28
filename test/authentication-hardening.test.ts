import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import type { Config } from "../src/config.js";
import { ConfigError, loadConfig } from "../src/config.js";
import { generateKey } from "../src/crypto/key-format.js";
import type { App } from "../src/http/app-types.js";
import { throttledNetwork } from "../src/rate-limit/client-network.js";
import { exchange } from "./helpers/raw-http.js";
import { bearer, buildTestApp, createTestCustomer, expectError } from "./helpers/test-app.js";

/**
 * Issue 11, rows 1, 2, 6 and 8: the failed-authentication throttle charges only keys that turn
 * out unknown, counts an IPv6 client by its /64, takes the client address only from proxies the
 * operator named, and a request with two Authorization headers is refused.
 */

let apps: App[] = [];
afterEach(async () => {
  await Promise.all(apps.map((app) => app.close()));
  apps = [];
});

async function appWith(overrides: Partial<Config>): Promise<App> {
  const app = await buildTestApp({ rateLimit: { burst: 100_000, refillPerSecond: 1 }, ...overrides });
  apps.push(app);
  return app;
}

describe("the failed-authentication throttle", () => {
  it("never charges a key that verifies: 200 concurrent requests with one uncached key all answer 200", async () => {
    const app = await appWith({ authFailureLimit: { burst: 30, refillPerSecond: 0.001 } });
    const acme = await createTestCustomer(app);
    const answers = await Promise.all(
      Array.from({ length: 200 }, () => app.inject({ url: "/v1/limits", headers: bearer(acme.secret) })),
    );
    expect(answers.filter((answer) => answer.statusCode !== 200).map((answer) => answer.statusCode)).toEqual([]);
    // The address's bucket is still full: 30 unknown keys are refused as unknown, the 31st is throttled.
    for (let attempt = 0; attempt < 30; attempt += 1) {
      expectError(await app.inject({ url: "/v1/limits", headers: bearer(generateKey()) }), 401, "auth_invalid");
    }
    expectError(await app.inject({ url: "/v1/limits", headers: bearer(generateKey()) }), 429, "rate_limited");
  });

  it("a repeated unknown key is answered from memory, still spending a token each time", async () => {
    const app = await appWith({ authFailureLimit: { burst: 3, refillPerSecond: 0.001 } });
    const guess = generateKey();
    for (let attempt = 0; attempt < 3; attempt += 1) {
      expectError(await app.inject({ url: "/v1/limits", headers: bearer(guess) }), 401, "auth_invalid");
    }
    expectError(await app.inject({ url: "/v1/limits", headers: bearer(guess) }), 429, "rate_limited");
  });

  it("concurrent new unknown keys cannot outrun the bucket: at most its tokens are read, the rest are 429", async () => {
    const app = await appWith({ authFailureLimit: { burst: 5, refillPerSecond: 0.001 } });
    const answers = await Promise.all(
      Array.from({ length: 40 }, () => app.inject({ url: "/v1/limits", headers: bearer(generateKey()) })),
    );
    const codes = answers.map((answer) => (answer.json() as { error: { code: string } }).error.code);
    expect(codes.filter((code) => code === "auth_invalid")).toHaveLength(5);
    expect(codes.filter((code) => code === "rate_limited")).toHaveLength(35);
  });

  it("counts an IPv6 client by its /64, and an IPv4-mapped address as its IPv4 address", () => {
    expect(throttledNetwork("2001:db8:1:2:aaaa::1")).toBe("2001:db8:1:2::/64");
    expect(throttledNetwork("2001:0db8:0001:0002:ffff:ffff:ffff:ffff")).toBe("2001:db8:1:2::/64");
    expect(throttledNetwork("2001:db8:1:3::1")).toBe("2001:db8:1:3::/64");
    expect(throttledNetwork("::1")).toBe("0:0:0:0::/64");
    expect(throttledNetwork("fe80::1%eth0")).toBe("fe80:0:0:0::/64");
    expect(throttledNetwork("::ffff:192.0.2.1")).toBe("192.0.2.1");
    expect(throttledNetwork("192.0.2.1")).toBe("192.0.2.1");
    expect(throttledNetwork("<img src=x onerror=alert(1)>")).toBe("unknown");
  });

  it("throttles the hosts of one IPv6 /64 together (behind one trusted proxy)", async () => {
    const app = await appWith({ trustProxy: 1, authFailureLimit: { burst: 4, refillPerSecond: 0.001 } });
    const from = (host: number) => ({ "x-forwarded-for": `2001:db8:7:7::${host.toString(16)}` });
    for (let host = 1; host <= 4; host += 1) {
      expectError(await app.inject({ url: "/v1/limits", headers: { ...bearer(generateKey()), ...from(host) } }), 401, "auth_invalid");
    }
    expectError(await app.inject({ url: "/v1/limits", headers: { ...bearer(generateKey()), ...from(99) } }), 429, "rate_limited");
    const otherNetwork = { "x-forwarded-for": "2001:db8:7:8::1" };
    expectError(await app.inject({ url: "/v1/limits", headers: { ...bearer(generateKey()), ...otherNetwork } }), 401, "auth_invalid");
  });
});

describe("TRUST_PROXY", () => {
  it("takes a hop count or proxy addresses and networks, and refuses a bare true", () => {
    expect(loadConfig({}).trustProxy).toBe(false);
    expect(loadConfig({ TRUST_PROXY: "false" }).trustProxy).toBe(false);
    expect(loadConfig({ TRUST_PROXY: "2" }).trustProxy).toBe(2);
    expect(loadConfig({ TRUST_PROXY: "10.0.0.0/8, 192.0.2.7,2001:db8::/32" }).trustProxy).toEqual(["10.0.0.0/8", "192.0.2.7", "2001:db8::/32"]);
    for (const bad of ["true", "11", "10.0.0.0/33", "proxy.internal", "10.0.0.1/8/8", "2001:db8::/129"]) {
      expect(() => loadConfig({ TRUST_PROXY: bad }), bad).toThrow(ConfigError);
      expect(() => loadConfig({ TRUST_PROXY: bad }), bad).toThrow(/TRUST_PROXY/);
    }
  });

  async function auditedAddress(app: App, forwardedFor: string | undefined): Promise<string | null> {
    const acme = await createTestCustomer(app);
    const headers = { ...bearer(acme.secret), ...(forwardedFor === undefined ? {} : { "x-forwarded-for": forwardedFor }) };
    const issued = await app.inject({ method: "POST", url: "/v1/api-keys", headers, payload: { name: "audited" } });
    expect(issued.statusCode, issued.body).toBe(201);
    const events = await app.inject({ url: "/v1/audit-events", headers: bearer(acme.secret) });
    const issuedEvent = (events.json() as { data: { action: string; ip: string | null }[] }).data.find((event) => event.action === "api_key.issued");
    return issuedEvent?.ip ?? null;
  }

  it("without it, X-Forwarded-For is ignored", async () => {
    const app = await appWith({});
    expect(await auditedAddress(app, "203.0.113.9")).toBe("127.0.0.1");
  });

  it("with one hop, the address the proxy appended counts, not the client-written left-most one", async () => {
    const app = await appWith({ trustProxy: 1 });
    expect(await auditedAddress(app, "198.51.100.66, 203.0.113.9")).toBe("203.0.113.9");
  });

  it("with a proxy list, only those proxies are believed", async () => {
    const app = await appWith({ trustProxy: ["10.0.0.0/8"] });
    // The test's socket peer is 127.0.0.1, not a listed proxy: its header is not believed.
    expect(await auditedAddress(app, "203.0.113.9")).toBe("127.0.0.1");
    const loopbackProxy = await appWith({ trustProxy: ["127.0.0.1"] });
    expect(await auditedAddress(loopbackProxy, "203.0.113.9")).toBe("203.0.113.9");
  });

  it("a forwarded entry that is not an IP address is never used: the peer address stands in", async () => {
    const app = await appWith({ trustProxy: 1 });
    expect(await auditedAddress(app, "<img src=x onerror=alert(1)>")).toBe("127.0.0.1");
    expect(await auditedAddress(app, "x".repeat(8_000))).toBe("127.0.0.1");
  });
});

describe("two Authorization headers", () => {
  async function rawStatus(port: number, headers: string[]): Promise<{ status: number; code: string }> {
    const answer = await exchange(port, `GET /v1/limits HTTP/1.1\r\nhost: x\r\n${headers.map((header) => `${header}\r\n`).join("")}connection: close\r\n\r\n`);
    return { status: answer.status, code: (JSON.parse(answer.body) as { error: { code: string } }).error.code };
  }

  it("are refused 401 auth_malformed, whichever of the two holds the valid key", async () => {
    const app = await appWith({});
    const acme = await createTestCustomer(app);
    const other = generateKey();
    await app.listen({ port: 0, host: "127.0.0.1" });
    const port = (app.server.address() as AddressInfo).port;
    for (const pair of [
      [`authorization: Bearer ${acme.secret}`, `authorization: Bearer ${other}`],
      [`Authorization: Bearer ${other}`, `AUTHORIZATION: Bearer ${acme.secret}`],
      [`authorization: Bearer ${acme.secret}`, `authorization: Bearer ${acme.secret}`],
    ]) {
      expect(await rawStatus(port, pair)).toEqual({ status: 401, code: "auth_malformed" });
    }
  });
});
