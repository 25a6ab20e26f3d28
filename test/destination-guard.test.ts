import http from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import {
  blockedReason,
  checkDestination,
  DestinationError,
  guardedConnection,
  guardedLookup,
  urlShapeProblem,
} from "../src/webhook-endpoints/destination-guard.js";
import { fakeDnsZone } from "./helpers/fake-dns.js";

const STRICT = { allowLoopback: false };
const LOOPBACK_ALLOWED = { allowLoopback: true };

/** Names under .guard.test answer these AAAA records; every other name resolves as usual. */
const fakeZone = new Map<string, string>();
fakeDnsZone(fakeZone);

/**
 * IPv6 addresses that carry an IPv4 address, with what they carry. Each is judged by that IPv4
 * address: a 6to4 address of 8.8.8.8 is as public as 8.8.8.8.
 */
const EMBEDDING: Array<[form: string, address: string, embedded: string]> = [
  ["IPv4-compatible", "::127.0.0.1", "127.0.0.1"],
  ["IPv4-compatible", "::10.0.0.1", "10.0.0.1"],
  ["IPv4-compatible", "::8.8.8.8", "8.8.8.8"],
  ["IPv4-mapped, hex", "::ffff:7f00:1", "127.0.0.1"],
  ["IPv4-mapped", "::ffff:169.254.169.254", "169.254.169.254"],
  ["IPv4-translated", "::ffff:0:127.0.0.1", "127.0.0.1"],
  ["IPv4-translated", "::ffff:0:192.168.0.1", "192.168.0.1"],
  ["IPv4-translated", "::ffff:0:8.8.8.8", "8.8.8.8"],
  ["6to4", "2002:7f00:1::", "127.0.0.1"],
  ["6to4", "2002:a9fe:a9fe::1", "169.254.169.254"],
  ["6to4", "2002:0808:0808::", "8.8.8.8"],
  ["Teredo, client", "2001:0:4136:e378:8000:63bf:80ff:fffe", "127.0.0.1"],
  ["Teredo, client", "2001:0:4136:e378:8000:63bf:3fff:fdd2", "192.0.2.45"],
  ["Teredo, server", "2001:0:7f00:1:8000:63bf:f7f7:f7f7", "127.0.0.1"],
  ["Teredo, server", "2001:0:a00:1:8000:63bf:f7f7:f7f7", "10.0.0.1"],
  ["Teredo", "2001:0:4136:e378:8000:63bf:f7f7:f7f7", "65.54.227.120 and 8.8.8.8"],
  ["NAT64", "64:ff9b::127.0.0.1", "127.0.0.1"],
  ["NAT64", "64:ff9b::a64:1", "10.100.0.1"],
  ["NAT64", "64:ff9b::8.8.8.8", "8.8.8.8"],
];
const PUBLIC = ["8.8.8.8", "65.54.227.120 and 8.8.8.8"];
const embedsLoopback = EMBEDDING.filter(([, , embedded]) => embedded === "127.0.0.1");
const embedsInternal = EMBEDDING.filter(([, , embedded]) => embedded !== "127.0.0.1" && !PUBLIC.includes(embedded));
const embedsPublic = EMBEDDING.filter(([, , embedded]) => PUBLIC.includes(embedded));

/** What refuses an address carrying `embedded` when loopback is not allowed, or null. */
function strictReason(embedded: string): string | null {
  if (PUBLIC.includes(embedded)) return null;
  if (embedded === "127.0.0.1") return "embeds 127.0.0.1, which is a loopback address";
  return `embeds ${embedded}, which is a private, link-local or reserved address`;
}

describe("blockedReason", () => {
  it.each(["127.0.0.1", "127.255.255.254", "::1", "::ffff:127.0.0.1", "::ffff:7f00:1"])(
    "refuses the loopback address %s, unless loopback is allowed",
    (address) => {
      expect(blockedReason(address, STRICT)).toMatch(/loopback/);
      expect(blockedReason(address, LOOPBACK_ALLOWED)).toBeNull();
    },
  );

  it.each([
    "10.0.0.1",
    "172.16.0.1",
    "192.168.1.1",
    "169.254.169.254",
    "100.64.0.1",
    "0.0.0.0",
    "224.0.0.1",
    "255.255.255.255",
    "::",
    "::ffff:10.0.0.1",
    "::ffff:169.254.169.254",
    "fd00:ec2::254",
    "fc00::1",
    "fe80::1",
    "ff02::1",
  ])("refuses the internal address %s, even when loopback is allowed", (address) => {
    expect(blockedReason(address, STRICT)).toMatch(/private, link-local or reserved/);
    expect(blockedReason(address, LOOPBACK_ALLOWED)).toMatch(/private, link-local or reserved/);
  });

  it.each(["8.8.8.8", "1.1.1.1", "2606:4700::1111", "2001:4860:4860::8888", "::ffff:8.8.8.8"])(
    "allows the public address %s",
    (address) => {
      expect(blockedReason(address, STRICT)).toBeNull();
      expect(blockedReason(address, LOOPBACK_ALLOWED)).toBeNull();
    },
  );

  it.each(embedsLoopback)("refuses the %s address %s, which carries %s, unless loopback is allowed", (_, address, embedded) => {
    expect(blockedReason(address, STRICT)).toBe(strictReason(embedded));
    expect(blockedReason(address, LOOPBACK_ALLOWED)).toBeNull();
  });

  it.each(embedsInternal)("refuses the %s address %s, which carries %s, even when loopback is allowed", (_, address, embedded) => {
    expect(blockedReason(address, STRICT)).toBe(strictReason(embedded));
    expect(blockedReason(address, LOOPBACK_ALLOWED)).toBe(strictReason(embedded));
  });

  it.each(embedsPublic)("allows the %s address %s, which carries %s", (_, address) => {
    expect(blockedReason(address, STRICT)).toBeNull();
  });

  it("refuses a Teredo address when either of its IPv4 addresses is refused, loopback allowed or not", () => {
    const loopbackServerPrivateClient = "2001:0:7f00:1:8000:63bf:f5ff:fffe"; // client 10.0.0.1
    expect(blockedReason(loopbackServerPrivateClient, LOOPBACK_ALLOWED)).toBe(
      "embeds 10.0.0.1, which is a private, link-local or reserved address",
    );
  });

  it("refuses NAT64 for local use whatever it carries: where the IPv4 address sits cannot be known", () => {
    expect(blockedReason("64:ff9b:1::8.8.8.8", LOOPBACK_ALLOWED)).toMatch(/private, link-local or reserved/);
    expect(blockedReason("64:ff9b:1:808:800::", LOOPBACK_ALLOWED)).toMatch(/private, link-local or reserved/);
  });

  it("reads :: and ::1 as themselves, not as the IPv4-compatible 0.0.0.0 and 0.0.0.1", () => {
    expect(blockedReason("::1", LOOPBACK_ALLOWED)).toBeNull();
    expect(blockedReason("::0.0.0.1", LOOPBACK_ALLOWED)).toBeNull();
    expect(blockedReason("::", LOOPBACK_ALLOWED)).toBe("is a private, link-local or reserved address");
    expect(blockedReason("::2", LOOPBACK_ALLOWED)).toBe("embeds 0.0.0.2, which is a private, link-local or reserved address");
  });

  it.each(["example.com", "", "999.1.1.1"])("refuses %j, which is not an IP address", (text) => {
    expect(blockedReason(text, LOOPBACK_ALLOWED)).toBe("is not an IP address");
  });
});

describe("urlShapeProblem", () => {
  it.each([
    ["hook", "must be an absolute URL"],
    ["", "must be an absolute URL"],
    ["ftp://example.com/hook", "must use http or https"],
    ["file:///etc/passwd", "must use http or https"],
    ["javascript:alert(1)", "must use http or https"],
    ["http://user:pw@example.com/hook", "must not carry credentials"],
    ["https://user@example.com/hook", "must not carry credentials"],
  ])("refuses %j: %s", (text, problem) => {
    expect(urlShapeProblem(text)).toBe(problem);
  });

  it.each(["http://example.com/hook", "https://example.com:8443/a/b?c=d", "HTTPS://EXAMPLE.COM", "http://[2606:4700::1111]/"])(
    "accepts %s",
    (text) => {
      expect(urlShapeProblem(text)).toBeNull();
    },
  );
});

describe("checkDestination", () => {
  it("refuses http://localhost/ by default and allows it when loopback is allowed", async () => {
    await expect(checkDestination("http://localhost/", STRICT)).rejects.toThrow(/resolves to 127\.0\.0\.1, which is a loopback/);
    await expect(checkDestination("http://localhost/", STRICT)).rejects.toBeInstanceOf(DestinationError);
    await expect(checkDestination("http://localhost/", LOOPBACK_ALLOWED)).resolves.toBeUndefined();
  });

  it("checks IP literals, bracketed IPv6 included, and the forms the URL parser normalises", async () => {
    await expect(checkDestination("http://[::1]:8080/", STRICT)).rejects.toThrow(/loopback/);
    await expect(checkDestination("http://2130706433/", STRICT)).rejects.toThrow(/loopback/);
    await expect(checkDestination("http://0x7f.1/", STRICT)).rejects.toThrow(/loopback/);
    await expect(checkDestination("http://169.254.169.254/", LOOPBACK_ALLOWED)).rejects.toThrow(/link-local/);
    await expect(checkDestination("http://[fd00:ec2::254]/", LOOPBACK_ALLOWED)).rejects.toThrow(/private/);
    await expect(checkDestination("http://8.8.8.8/", STRICT)).resolves.toBeUndefined();
  });

  it.each(EMBEDDING)("judges the %s literal [%s] by the %s it carries", async (_, address, embedded) => {
    const url = `http://[${address}]/hook`;
    const reason = strictReason(embedded);
    if (reason === null) {
      await expect(checkDestination(url, STRICT)).resolves.toBeUndefined();
      expect(() => guardedConnection(url, STRICT)).not.toThrow();
    } else {
      await expect(checkDestination(url, STRICT)).rejects.toThrow(`, which ${reason}`);
      expect(() => guardedConnection(url, STRICT)).toThrow(reason);
    }
  });

  it.each(EMBEDDING)("judges a name whose AAAA answer is the %s %s by the %s it carries", async (_, address, embedded) => {
    const host = `${address.replace(/[:.]/g, "-")}.guard.test`;
    fakeZone.set(host, address);
    const reason = strictReason(embedded);
    if (reason === null) await expect(checkDestination(`https://${host}/hook`, STRICT)).resolves.toBeUndefined();
    else await expect(checkDestination(`https://${host}/hook`, STRICT)).rejects.toThrow(`resolves to ${address}, which ${reason}`);
    const answer = await new Promise<unknown>((resolve) =>
      guardedLookup(STRICT)(host, { all: true }, (error, addresses) => resolve(error ?? addresses)),
    );
    if (reason === null) expect(answer).toEqual([{ address, family: 6 }]);
    else expect(String(answer)).toContain(`${host} resolves to ${address}, which ${reason}`);
  });

  it("lets loopback carried by a resolved AAAA through only when loopback is allowed", async () => {
    fakeZone.set("six-to-four-loopback.guard.test", "2002:7f00:1::");
    await expect(checkDestination("http://six-to-four-loopback.guard.test/", STRICT)).rejects.toThrow(/embeds 127\.0\.0\.1/);
    await expect(checkDestination("http://six-to-four-loopback.guard.test/", LOOPBACK_ALLOWED)).resolves.toBeUndefined();
  });

  it("refuses a host that does not resolve", async () => {
    const refusal = checkDestination("https://no-such-host.invalid/hook", LOOPBACK_ALLOWED);
    await expect(refusal).rejects.toBeInstanceOf(DestinationError);
    await expect(refusal).rejects.toThrow("host no-such-host.invalid does not resolve");
  });

  it("refuses a URL of the wrong shape before any lookup", async () => {
    await expect(checkDestination("ftp://localhost/", LOOPBACK_ALLOWED)).rejects.toThrow("must use http or https");
  });
});

describe("guarding the connection itself", () => {
  let server: http.Server;
  let port: number;
  let received: string[];

  beforeAll(async () => {
    server = http.createServer((request, response) => {
      received.push(request.url ?? "");
      response.end("ok");
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    port = (server.address() as AddressInfo).port;
  });
  beforeEach(() => {
    received = [];
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  /** Sends a GET through the guard; resolves with the status or rejects with the error. */
  function send(url: string, policy: { allowLoopback: boolean }): Promise<number> {
    return new Promise((resolve, reject) => {
      try {
        const request = http.request(url, { ...guardedConnection(url, policy), agent: false }, (response) => {
          response.resume();
          resolve(response.statusCode ?? 0);
        });
        request.on("error", reject);
        request.end();
      } catch (error) {
        reject(error);
      }
    });
  }

  it("Node does not consult `lookup` for an IP-literal host: the reason guardedConnection checks literals itself", async () => {
    let consulted = false;
    const status = await new Promise<number>((resolve, reject) => {
      const request = http.request(
        `http://127.0.0.1:${port}/literal`,
        {
          agent: false,
          lookup: (...args: Parameters<ReturnType<typeof guardedLookup>>) => {
            consulted = true;
            guardedLookup(STRICT)(...args);
          },
        },
        (response) => {
          response.resume();
          resolve(response.statusCode ?? 0);
        },
      );
      request.on("error", reject);
      request.end();
    });
    expect(consulted).toBe(false);
    expect(status).toBe(200);
  });

  it("refuses an IP-literal loopback URL before connecting: the server receives nothing", async () => {
    const refusal = send(`http://127.0.0.1:${port}/refused`, STRICT);
    await expect(refusal).rejects.toBeInstanceOf(DestinationError);
    await expect(refusal).rejects.toThrow("127.0.0.1 is a loopback address");
    await expect(send(`http://[::ffff:127.0.0.1]:${port}/refused`, STRICT)).rejects.toThrow(/loopback/);
    expect(received).toEqual([]);
  });

  it("refuses a name that resolves to loopback as it connects: the server receives nothing", async () => {
    const refusal = send(`http://localhost:${port}/refused`, STRICT);
    await expect(refusal).rejects.toBeInstanceOf(DestinationError);
    await expect(refusal).rejects.toThrow("localhost resolves to 127.0.0.1, which is a loopback address");
    expect(received).toEqual([]);
  });

  it("refuses internal literals whatever the policy, and URLs of the wrong shape", () => {
    expect(() => guardedConnection("http://10.0.0.1/hook", LOOPBACK_ALLOWED)).toThrow(DestinationError);
    expect(() => guardedConnection("http://[fe80::1]/hook", LOOPBACK_ALLOWED)).toThrow(/link-local/);
    expect(() => guardedConnection("http://user:pw@127.0.0.1/", LOOPBACK_ALLOWED)).toThrow("must not carry credentials");
  });

  it("connects to loopback, by address and by name, when loopback is allowed", async () => {
    expect(await send(`http://127.0.0.1:${port}/by-address`, LOOPBACK_ALLOWED)).toBe(200);
    expect(await send(`http://localhost:${port}/by-name`, LOOPBACK_ALLOWED)).toBe(200);
    expect(received).toEqual(["/by-address", "/by-name"]);
  });

  it("passes a lookup failure on as a refusal", async () => {
    await expect(send("http://no-such-host.invalid/hook", LOOPBACK_ALLOWED)).rejects.toThrow("does not resolve");
  });
});
