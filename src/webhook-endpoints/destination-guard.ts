import { lookup as dnsLookup, type LookupAddress } from "node:dns";
import { BlockList, isIP } from "node:net";
import { ipv6Groups } from "../net/ip-address.js";

/**
 * Where webhooks may be sent. Endpoint URLs are checked when they are registered and again at
 * every send (DNS can change): http(s) only, and no address that reaches inside our network
 * (loopback, private, link-local, cloud metadata, ...). WEBHOOK_ALLOW_LOOPBACK lets loopback
 * through, for local development and tests; nothing else is ever allowed.
 */
export type DestinationPolicy = { allowLoopback: boolean };

export class DestinationError extends Error {}

const loopback = { ipv4: new BlockList(), ipv6: new BlockList() };
loopback.ipv4.addSubnet("127.0.0.0", 8, "ipv4");
loopback.ipv6.addAddress("::1", "ipv6");

// One list per family: a shared BlockList would judge IPv4-mapped addresses by the IPv4 rules on
// its own, and no other form that carries an IPv4 address; blockedReason reads them all alike.
const internal = { ipv4: new BlockList(), ipv6: new BlockList() };
for (const [network, prefix] of [
  ["0.0.0.0", 8],
  ["10.0.0.0", 8],
  ["100.64.0.0", 10],
  ["169.254.0.0", 16], // link-local, and the cloud metadata service at 169.254.169.254
  ["172.16.0.0", 12],
  ["192.0.0.0", 24],
  ["192.0.2.0", 24],
  ["192.168.0.0", 16],
  ["198.18.0.0", 15],
  ["198.51.100.0", 24],
  ["203.0.113.0", 24],
  ["224.0.0.0", 4],
  ["240.0.0.0", 4],
] as const) {
  internal.ipv4.addSubnet(network, prefix, "ipv4");
}
for (const [network, prefix] of [
  ["::", 128],
  // NAT64 for local use (RFC 8215): where the IPv4 address sits in it depends on how that
  // network's translator is set up, so it cannot be read back and judged.
  ["64:ff9b:1::", 48],
  ["100::", 64],
  ["2001:db8::", 32],
  ["fc00::", 7], // unique local, including AWS's metadata address fd00:ec2::254
  ["fe80::", 10],
  ["ff00::", 8],
] as const) {
  internal.ipv6.addSubnet(network, prefix, "ipv6");
}

/**
 * Why an address may not receive webhooks, or null when it may. An IPv6 address that carries
 * IPv4 addresses (embeddedIpv4) is refused when any of them would be, for the reason it would
 * be: a packet to it ends up at that IPv4 host, through the kernel, a 6to4 or Teredo relay or a
 * NAT64 translator. So one that carries 127.0.0.1 is loopback, allowed when loopback is.
 */
export function blockedReason(address: string, policy: DestinationPolicy): string | null {
  const family = isIP(address);
  if (family === 0) return "is not an IP address";
  if (family === 4) return familyReason(address, "ipv4", policy);
  const own = familyReason(address, "ipv6", policy);
  if (own !== null) return own;
  for (const embedded of embeddedIpv4(address)) {
    const reason = familyReason(embedded, "ipv4", policy);
    if (reason !== null) return `embeds ${embedded}, which ${reason}`;
  }
  return null;
}

function familyReason(address: string, family: "ipv4" | "ipv6", policy: DestinationPolicy): string | null {
  if (loopback[family].check(address, family)) return policy.allowLoopback ? null : "is a loopback address";
  if (internal[family].check(address, family)) return "is a private, link-local or reserved address";
  return null;
}

/**
 * The IPv4 addresses an IPv6 address carries, by the form its prefix says it has:
 * IPv4-mapped ::ffff:0:0/96 and IPv4-translated ::ffff:0:0:0/96 (the last 32 bits),
 * IPv4-compatible ::/96 (the last 32 bits; :: and ::1 are not IPv4 addresses),
 * 6to4 2002::/16 (bits 16 to 47), Teredo 2001::/32 (the server in bits 32 to 63, the client in
 * the last 32 bits inverted) and NAT64's well-known 64:ff9b::/96 (the last 32 bits).
 */
function embeddedIpv4(address: string): string[] {
  const groups = ipv6Groups(address);
  const [g0, g1, g2, g3, g4, g5, g6, g7] = groups as [number, number, number, number, number, number, number, number];
  const zero = (from: number, to: number) => groups.slice(from, to).every((group) => group === 0);
  const last = dotted(g6, g7);
  if (zero(0, 5) && g5 === 0xffff) return [last];
  if (zero(0, 4) && g4 === 0xffff && g5 === 0) return [last];
  if (zero(0, 6)) return g6 === 0 && g7 <= 1 ? [] : [last];
  if (g0 === 0x2002) return [dotted(g1, g2)];
  if (g0 === 0x2001 && g1 === 0) return [dotted(g2, g3), dotted(g6 ^ 0xffff, g7 ^ 0xffff)];
  if (g0 === 0x64 && g1 === 0xff9b && zero(2, 6)) return [last];
  return [];
}

function dotted(high: number, low: number): string {
  return [high >> 8, high & 0xff, low >> 8, low & 0xff].join(".");
}

/** The URL's own shape: absolute http(s), a host, no credentials. Returns the problem or null. */
export function urlShapeProblem(text: string): string | null {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return "must be an absolute URL";
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") return "must use http or https";
  if (url.username !== "" || url.password !== "") return "must not carry credentials";
  if (url.hostname === "") return "must have a host";
  return null;
}

/** Resolves the URL's host and checks every address it has; throws DestinationError if any is refused. */
export async function checkDestination(text: string, policy: DestinationPolicy): Promise<void> {
  const addresses = await resolveAll(shapelyHost(text));
  for (const { address } of addresses) {
    const reason = blockedReason(address, policy);
    if (reason) throw new DestinationError(`resolves to ${address}, which ${reason}`);
  }
}

/**
 * The options that keep an http.request to `text` where the policy allows; throws
 * DestinationError, before any connection, for a URL the policy refuses. Node's net.connect
 * never calls `lookup` for a host that is an IP literal, so guardedLookup alone would let
 * http://10.0.0.1/ through: a literal is checked here, a name by guardedLookup as it connects.
 */
export function guardedConnection(text: string, policy: DestinationPolicy): { lookup: ReturnType<typeof guardedLookup> } {
  const host = shapelyHost(text);
  if (isIP(host) !== 0) {
    const reason = blockedReason(host, policy);
    if (reason) throw new DestinationError(`${host} ${reason}`);
  }
  return { lookup: guardedLookup(policy) };
}

/**
 * A `lookup` for http.request that refuses a blocked address at connection time: the address
 * checked is the address connected to, so a DNS answer that changes between a check and the
 * connection (rebinding) cannot slip through. Node does not call it for an IP-literal host:
 * use it through guardedConnection.
 */
export function guardedLookup(policy: DestinationPolicy) {
  return (
    hostname: string,
    options: object,
    callback: (error: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void,
  ): void => {
    resolveAll(hostname).then(
      (addresses) => {
        for (const { address } of addresses) {
          const reason = blockedReason(address, policy);
          if (reason) {
            callback(new DestinationError(`${hostname} resolves to ${address}, which ${reason}`), "", 0);
            return;
          }
        }
        if ((options as { all?: boolean }).all) callback(null, addresses);
        else callback(null, addresses[0]!.address, addresses[0]!.family);
      },
      (error: NodeJS.ErrnoException) => callback(error, "", 0),
    );
  };
}

/** The host of a URL of acceptable shape, IPv6 brackets removed; throws DestinationError otherwise. */
function shapelyHost(text: string): string {
  const shape = urlShapeProblem(text);
  if (shape) throw new DestinationError(shape);
  return new URL(text).hostname.replace(/^\[|\]$/g, "");
}

function resolveAll(host: string): Promise<LookupAddress[]> {
  return new Promise((resolve, reject) => {
    dnsLookup(host, { all: true }, (error, addresses) => {
      if (error) reject(new DestinationError(`host ${host} does not resolve`));
      else if (addresses.length === 0) reject(new DestinationError(`host ${host} does not resolve`));
      else resolve(addresses);
    });
  });
}
