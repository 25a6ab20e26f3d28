import { Writable } from "node:stream";
import type { InjectOptions, LightMyRequestResponse } from "fastify";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ApiKey, IssuedApiKey } from "@whatisup/client";
import type { Config } from "../src/config.js";
import type { App } from "../src/http/app-types.js";
import { allowsAddress, entriesOutside, readAllowlist } from "../src/net/ip-allowlist.js";
import { bearer, buildTestApp, createTestCustomer, expectError, type TestCustomer } from "./helpers/test-app.js";
import { rowCounts } from "./helpers/test-database.js";

/** Where the test's allowed client calls from, and an address outside every list below. */
const INSIDE = "203.0.113.7";
const OUTSIDE = "198.51.100.1";
const WRITTEN_TABLES = ["api_keys", "audit_events", "webhook_deliveries"] as const;

type FieldProblem = { field: string; message: string };

function fieldsOf(response: LightMyRequestResponse): FieldProblem[] {
  return expectError(response, 400, "validation_failed").error.details!.fields as FieldProblem[];
}

describe("reading an allowlist", () => {
  it("keeps addresses and blocks in one canonical form: IPv6 in lower case with ::, a /32 or /128 as the bare address", () => {
    const read = readAllowlist(["203.0.113.0/24", "2001:DB8::/32", "198.51.100.7", "192.0.2.9/32", "2001:0db8:0000:0000:0000:0000:0000:0001/128", "::/0", "0.0.0.0/0", "2001:db8:0:0:1::/80"]);
    expect(read.problems).toEqual([]);
    expect(read.entries).toEqual(["203.0.113.0/24", "2001:db8::/32", "198.51.100.7", "192.0.2.9", "2001:db8::1", "::/0", "0.0.0.0/0", "2001:db8:0:0:1::/80"]);
  });

  it.each([
    ["10.0.0.1/33", /prefix longer than \/32/],
    ["::1/129", /prefix longer than \/128/],
    ["1.2.3", /not an IPv4 or IPv6 address/],
    ["01.2.3.4", /not an IPv4 or IPv6 address/],
    [" 1.2.3.4", /not an IPv4 or IPv6 address/],
    ["1.2.3.4/24 ", /not an IPv4 or IPv6 address/],
    ["1.2.3.4/08", /not an IPv4 or IPv6 address/],
    ["1.2.3.4/", /not an IPv4 or IPv6 address/],
    ["1.2.3.4/-1", /not an IPv4 or IPv6 address/],
    ["256.1.1.1", /not an IPv4 or IPv6 address/],
    ["", /not an IPv4 or IPv6 address/],
    ["localhost", /not an IPv4 or IPv6 address/],
    ["fe80::1%eth0", /not an IPv4 or IPv6 address/],
    ["2001:db8::/32/8", /not an IPv4 or IPv6 address/],
    ["203.0.113.7/24", /bits set past its \/24 prefix: the block is 203\.0\.113\.0\/24, the address alone is 203\.0\.113\.7/],
    ["2001:db8::1/32", /bits set past its \/32 prefix: the block is 2001:db8::\/32/],
    ["::ffff:203.0.113.7", /IPv4-mapped IPv6 address: write it as IPv4/],
    ["::ffff:cb00:7100/120", /IPv4-mapped IPv6 address: write it as IPv4/],
  ])("refuses %j", (entry, message) => {
    const read = readAllowlist(["192.0.2.1", entry]);
    expect(read.problems).toEqual([{ index: 1, message: expect.stringMatching(message) }]);
  });

  it("refuses an entry that repeats an earlier one once both are canonical, and allows overlapping blocks", () => {
    expect(readAllowlist(["2001:db8::/32", "10.0.0.0/8", "2001:DB8:0::/32", "10.1.0.0/16"]).problems).toEqual([
      { index: 2, message: "is 2001:db8::/32 again (entry 0)" },
    ]);
  });

  it("matches a client address inside any entry, an IPv4-mapped IPv6 address as its IPv4 address", () => {
    const list = Object.freeze(readAllowlist(["203.0.113.0/24", "2001:db8::/32", "198.51.100.7"]).entries);
    for (const address of ["203.0.113.0", "203.0.113.255", "::ffff:203.0.113.7", "::FFFF:cb00:7107", "198.51.100.7", "2001:db8::", "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff"]) {
      expect(allowsAddress(list, address), address).toBe(true);
    }
    for (const address of ["203.0.114.0", "203.0.112.255", "198.51.100.8", "::ffff:198.51.100.8", "2001:db9::", "2001:db7:ffff::", "::", "unknown", ""]) {
      expect(allowsAddress(list, address), address).toBe(false);
    }
  });

  it("answers each address for itself, whatever address came before (the last answer is kept)", () => {
    const list = Object.freeze(["2001:db8::/32"]);
    for (const [address, allowed] of [["2001:db8::1", true], ["2001:db8::1", true], ["2001:db9::1", false], ["2001:db9::1", false], ["2001:db8::1", true]] as const) {
      expect(allowsAddress(list, address), address).toBe(allowed);
    }
    // Another list with the same entries is compiled on its own and answers the same.
    expect(allowsAddress(Object.freeze(["2001:db8::/32"]), "2001:db9::1")).toBe(false);
  });

  it("lets ::/0 match IPv6 clients only: an IPv4 client, mapped or not, needs an IPv4 entry", () => {
    const list = Object.freeze(["::/0"]);
    expect(allowsAddress(list, "2001:db8::1")).toBe(true);
    expect(allowsAddress(list, "203.0.113.7")).toBe(false);
    expect(allowsAddress(list, "::ffff:203.0.113.7")).toBe(false);
  });

  it("tells which entries of a list lie inside no single entry of another", () => {
    const issuer = Object.freeze(["203.0.113.0/24", "203.0.114.0/24", "2001:db8::/32"]);
    expect(entriesOutside(issuer, ["203.0.113.128/25", "203.0.114.9", "2001:db8:1::/48", "203.0.113.0/24"])).toEqual([]);
    // 203.0.112.0/23 spans two issuer entries' worth of addresses but lies inside neither alone.
    expect(entriesOutside(issuer, ["203.0.112.0/23", "203.0.113.0/23", "2001::/16", "0.0.0.0/0", "::/0", "192.0.2.1"])).toEqual([
      "203.0.112.0/23",
      "203.0.113.0/23",
      "2001::/16",
      "0.0.0.0/0",
      "::/0",
      "192.0.2.1",
    ]);
  });
});

describe("IP allowlists over HTTP", () => {
  let app: App;
  let acme: TestCustomer;

  beforeAll(async () => {
    app = await buildTestApp({
      rateLimit: { burst: 10_000, refillPerSecond: 1 },
      authFailureLimit: { burst: 10_000, refillPerSecond: 1 },
    });
    acme = await createTestCustomer(app);
  });
  afterAll(() => app.close());

  function inject(secret: string, options: InjectOptions & { remoteAddress?: string }): Promise<LightMyRequestResponse> {
    return app.inject({ ...options, headers: { ...bearer(secret), ...options.headers } });
  }

  function issue(secret: string, body: Record<string, unknown>, remoteAddress = INSIDE): Promise<LightMyRequestResponse> {
    return inject(secret, { method: "POST", url: "/v1/api-keys", payload: { name: "listed", ...body }, remoteAddress });
  }

  async function issued(secret: string, body: Record<string, unknown>, remoteAddress = INSIDE): Promise<IssuedApiKey> {
    const response = await issue(secret, body, remoteAddress);
    expect(response.statusCode, response.body).toBe(201);
    return response.json();
  }

  function listKeys(secret: string, remoteAddress: string, headers: Record<string, string> = {}): Promise<LightMyRequestResponse> {
    return inject(secret, { method: "GET", url: "/v1/api-keys", remoteAddress, headers });
  }

  describe("issuing a key with allowed_ips", () => {
    it("stores the list in canonical form and shows it on the key, its reads, its audit event", async () => {
      const key = await issued(acme.secret, { allowed_ips: ["203.0.113.0/24", "2001:DB8::/32", "198.51.100.7/32"] });
      expect(key.allowed_ips).toEqual(["203.0.113.0/24", "2001:db8::/32", "198.51.100.7"]);
      const read = await listKeys(acme.secret, INSIDE);
      expect((read.json() as ApiKey[]).find((listed) => listed.id === key.id)?.allowed_ips).toEqual(key.allowed_ips);
      const one = await inject(acme.secret, { method: "GET", url: `/v1/api-keys/${key.id}` });
      expect(one.json()).toMatchObject({ allowed_ips: key.allowed_ips });
      const audit = await inject(acme.secret, { method: "GET", url: "/v1/audit-events?limit=1" });
      expect(audit.json()).toMatchObject({ data: [{ action: "api_key.issued", target: { id: key.id }, metadata: { allowed_ips: key.allowed_ips } }] });
    });

    it("gives a key without allowed_ips, or with null, no list: usable from anywhere", async () => {
      expect((await issued(acme.secret, {})).allowed_ips).toBeNull();
      expect((await issued(acme.secret, { allowed_ips: null })).allowed_ips).toBeNull();
    });

    it("takes 100 entries", async () => {
      const entries = Array.from({ length: 100 }, (_, index) => `10.${index}.0.0/16`);
      expect((await issued(acme.secret, { allowed_ips: entries })).allowed_ips).toEqual(entries);
    });

    it.each([
      ["10.0.0.1/33"],
      ["::1/129"],
      ["1.2.3"],
      ["01.2.3.4"],
      [" 1.2.3.4"],
      ["1.2.3.4/24 "],
      ["203.0.113.7/24"],
      ["::ffff:203.0.113.7"],
      ["fe80::1%eth0"],
      ["203.0.113.0/24"],
    ])("refuses the entry %j: 400 validation_failed naming body.allowed_ips.3, nothing stored", async (entry) => {
      const before = await rowCounts(app.db, WRITTEN_TABLES);
      const response = await issue(acme.secret, { allowed_ips: ["203.0.113.0/24", "2001:db8::/32", "198.51.100.7", entry] });
      expect(fieldsOf(response)).toEqual([{ field: "body.allowed_ips.3", message: expect.any(String) }]);
      expect(await rowCounts(app.db, WRITTEN_TABLES)).toEqual(before);
    });

    it("names every bad entry at once", async () => {
      const response = await issue(acme.secret, { allowed_ips: ["1.2.3", "203.0.113.0/24", "10.0.0.1/33", "203.0.113.0/24"] });
      expect(fieldsOf(response).map((problem) => problem.field)).toEqual(["body.allowed_ips.0", "body.allowed_ips.2", "body.allowed_ips.3"]);
    });

    it.each([
      ["101 entries", Array.from({ length: 101 }, (_, index) => `10.${index}.0.0/16`)],
      ["an empty list (a key usable from nowhere)", []],
      ["an entry that is not a string", ["203.0.113.0/24", 203]],
      ["a list that is not a list", "203.0.113.0/24"],
      ["an entry longer than 64 characters", [`${"1".repeat(70)}`]],
    ])("refuses %s: 400 validation_failed naming allowed_ips, nothing stored", async (_label, allowed) => {
      const before = await rowCounts(app.db, WRITTEN_TABLES);
      const fields = fieldsOf(await issue(acme.secret, { allowed_ips: allowed }));
      expect(fields.length).toBeGreaterThan(0);
      for (const problem of fields) expect(problem.field).toMatch(/^body\.allowed_ips(\.\d+)?$/);
      expect(await rowCounts(app.db, WRITTEN_TABLES)).toEqual(before);
    });
  });

  describe("using a key with an allowlist", () => {
    let v4: IssuedApiKey;
    let v6: IssuedApiKey;

    beforeAll(async () => {
      v4 = await issued(acme.secret, { name: "v4", allowed_ips: ["203.0.113.0/24", "192.0.2.9"] });
      v6 = await issued(acme.secret, { name: "v6", allowed_ips: ["2001:db8::/32"] });
    });

    it.each([INSIDE, "203.0.113.255", "192.0.2.9", "::ffff:203.0.113.7", "::ffff:192.0.2.9"])("is accepted from %s", async (address) => {
      const response = await listKeys(v4.secret, address);
      expect(response.statusCode, response.body).toBe(200);
    });

    it.each([OUTSIDE, "192.0.2.10", "::ffff:198.51.100.1", "2001:db8::1", "127.0.0.1"])(
      "is refused from %s: 403 ip_not_allowed naming the address, no token spent, no rate-limit headers",
      async (address) => {
        const response = await listKeys(v4.secret, address);
        const body = expectError(response, 403, "ip_not_allowed");
        expect(body.error.details).toEqual({ ip: address });
        expect(response.headers["x-ratelimit-remaining"]).toBeUndefined();
        expect(JSON.stringify(body)).not.toContain("203.0.113.0/24");
      },
    );

    it("spends no token and notes no use when refused", async () => {
      const key = await issued(acme.secret, { name: "counted", allowed_ips: ["203.0.113.0/24"] });
      for (let i = 0; i < 5; i++) expectError(await listKeys(key.secret, OUTSIDE), 403, "ip_not_allowed");
      await app.keyUses.flush();
      expect(await app.db.selectFrom("api_key_last_used").select("last_used_at").where("key_id", "=", key.id).executeTakeFirst()).toBeUndefined();
      const limits = await inject(key.secret, { method: "GET", url: "/v1/limits", remoteAddress: INSIDE });
      expect(limits.json()).toMatchObject({ per_key: { remaining: 10_000 } });
    });

    it("matches IPv6 clients against IPv6 blocks", async () => {
      expect((await listKeys(v6.secret, "2001:db8:1234::1")).statusCode).toBe(200);
      expectError(await listKeys(v6.secret, "2001:db9::1"), 403, "ip_not_allowed");
      expectError(await listKeys(v6.secret, INSIDE), 403, "ip_not_allowed");
    });

    it("is refused from outside on an unknown path and with a wrong method too: the address is checked before routing", async () => {
      expectError(await inject(v4.secret, { method: "GET", url: "/v1/nope", remoteAddress: OUTSIDE }), 403, "ip_not_allowed");
      expectError(await inject(v4.secret, { method: "PATCH", url: `/v1/api-keys/${v4.id}`, payload: {}, remoteAddress: OUTSIDE }), 403, "ip_not_allowed");
      expectError(await inject(v4.secret, { method: "GET", url: "/v1/nope", remoteAddress: INSIDE }), 404, "not_found");
    });

    it("is refused from outside before its body is read: a bad body is 403, not 400, 413 or 415", async () => {
      const response = await inject(v4.secret, {
        method: "POST",
        url: "/v1/api-keys",
        headers: { "content-type": "text/plain" },
        payload: "not json",
        remoteAddress: OUTSIDE,
      });
      expectError(response, 403, "ip_not_allowed");
    });

    it("answers authentication first: a revoked key with a list is 401 auth_expired from anywhere", async () => {
      const key = await issued(acme.secret, { name: "to revoke", allowed_ips: ["203.0.113.0/24"] });
      expect((await inject(acme.secret, { method: "DELETE", url: `/v1/api-keys/${key.id}` })).statusCode).toBe(204);
      expectError(await listKeys(key.secret, OUTSIDE), 401, "auth_expired");
    });

    it("ignores X-Forwarded-For without TRUST_PROXY: the socket's address decides", async () => {
      expectError(await listKeys(v4.secret, OUTSIDE, { "x-forwarded-for": INSIDE }), 403, "ip_not_allowed");
      expect((await listKeys(v4.secret, INSIDE, { "x-forwarded-for": OUTSIDE })).statusCode).toBe(200);
    });
  });

  describe("issuing from a key with an allowlist", () => {
    let issuer: IssuedApiKey;

    beforeAll(async () => {
      issuer = await issued(acme.secret, { name: "listed issuer", allowed_ips: ["203.0.113.0/24", "2001:db8::/32"] });
    });

    it("gives a key without allowed_ips the issuer's list, as it gives it the issuer's scopes", async () => {
      expect((await issued(issuer.secret, { name: "inherits" })).allowed_ips).toEqual(["203.0.113.0/24", "2001:db8::/32"]);
    });

    it("allows a list whose every entry lies inside one of the issuer's", async () => {
      const key = await issued(issuer.secret, { allowed_ips: ["203.0.113.128/25", "203.0.113.7", "2001:db8:ab::/48"] });
      expect(key.allowed_ips).toEqual(["203.0.113.128/25", "203.0.113.7", "2001:db8:ab::/48"]);
    });

    it.each([
      ["a wider block", ["203.0.112.0/23"], ["203.0.112.0/23"]],
      ["an address elsewhere", ["203.0.113.7", "198.51.100.7"], ["198.51.100.7"]],
      ["every IPv4 address", ["0.0.0.0/0"], ["0.0.0.0/0"]],
      ["a wider IPv6 block", ["2001:db8::/31", "2001:db8::/32"], ["2001:db8::/31"]],
    ])("refuses %s: 403 scope_escalation naming the entries outside, nothing stored", async (_label, allowed, outside) => {
      const before = await rowCounts(app.db, WRITTEN_TABLES);
      const body = expectError(await issue(issuer.secret, { allowed_ips: allowed }), 403, "scope_escalation");
      expect(body.error.details).toEqual({ allowed_ips: outside, issuer_allowed_ips: ["203.0.113.0/24", "2001:db8::/32"] });
      expect(await rowCounts(app.db, WRITTEN_TABLES)).toEqual(before);
    });

    it("refuses allowed_ips null (anywhere): 403 scope_escalation, nothing stored", async () => {
      const before = await rowCounts(app.db, WRITTEN_TABLES);
      const body = expectError(await issue(issuer.secret, { allowed_ips: null }), 403, "scope_escalation");
      expect(body.error.details).toEqual({ issuer_allowed_ips: ["203.0.113.0/24", "2001:db8::/32"] });
      expect(await rowCounts(app.db, WRITTEN_TABLES)).toEqual(before);
    });

    it("lets a key without a list issue any list, or none", async () => {
      expect((await issued(acme.secret, { allowed_ips: ["0.0.0.0/0", "::/0"] }, OUTSIDE)).allowed_ips).toEqual(["0.0.0.0/0", "::/0"]);
    });
  });
});

describe.each([
  ["a hop count", 1 as Config["trustProxy"]],
  ["the proxy's network", ["10.0.0.0/8"] as Config["trustProxy"]],
])("IP allowlists behind a proxy trusted by %s (TRUST_PROXY)", (_label, trustProxy) => {
  let app: App;
  let listed: IssuedApiKey;

  beforeAll(async () => {
    app = await buildTestApp({ trustProxy, rateLimit: { burst: 10_000, refillPerSecond: 1 } });
    const acme = await createTestCustomer(app);
    const response = await app.inject({ method: "POST", url: "/v1/api-keys", headers: bearer(acme.secret), payload: { name: "listed", allowed_ips: ["203.0.113.0/24"] } });
    listed = response.json();
  });
  afterAll(() => app.close());

  const list = (remoteAddress: string, forwardedFor: string) =>
    app.inject({ url: "/v1/api-keys", headers: { ...bearer(listed.secret), "x-forwarded-for": forwardedFor }, remoteAddress });

  it("checks the address the proxy names", async () => {
    expect((await list("10.0.0.1", INSIDE)).statusCode).toBe(200);
    expect((await list("10.0.0.1", `::ffff:${INSIDE}`)).statusCode).toBe(200);
    const body = expectError(await list("10.0.0.1", OUTSIDE), 403, "ip_not_allowed");
    expect(body.error.details).toEqual({ ip: OUTSIDE });
  });

  it("takes the proxy's own entry, not what the client wrote before it", async () => {
    expectError(await list("10.0.0.1", `${INSIDE}, ${OUTSIDE}`), 403, "ip_not_allowed");
  });

  it("falls back to the proxy's address when the entry is no address", async () => {
    expectError(await list("10.0.0.1", "not-an-address"), 403, "ip_not_allowed");
  });
});

describe("a refusal from outside the allowlist in the log", () => {
  it("is the key's request: its prefix and the address are on the line, never its secret", async () => {
    const lines: string[] = [];
    const stream = new Writable({
      write(chunk: Buffer | string, _encoding, callback) {
        lines.push(...chunk.toString().split("\n").filter((line) => line.length > 0));
        callback();
      },
    });
    const app = await buildTestApp({}, { logger: { stream } });
    const acme = await createTestCustomer(app);
    const issued = await app.inject({ method: "POST", url: "/v1/api-keys", headers: bearer(acme.secret), payload: { name: "listed", allowed_ips: ["203.0.113.0/24"] } });
    const listed = issued.json() as IssuedApiKey;
    const refused = await app.inject({ url: "/v1/instances", headers: bearer(listed.secret), remoteAddress: OUTSIDE });
    expectError(refused, 403, "ip_not_allowed");
    await app.close();
    const line = lines.map((text) => JSON.parse(text) as Record<string, unknown>).find((entry) => entry.request_id === refused.headers["x-request-id"] && entry.msg === "request completed");
    expect(line).toMatchObject({ status: 403, ip: OUTSIDE, key_prefix: listed.prefix });
    expect(lines.join("\n")).not.toContain(listed.secret);
  });
});
