import { lookup as dnsLookup, type LookupAddress } from "node:dns";
import { BlockList, isIP } from "node:net";

/**
 * Where webhooks may be sent. Endpoint URLs are checked when they are registered and again at
 * every send (DNS can change): http(s) only, and no address that reaches inside our network
 * (loopback, private, link-local, cloud metadata, ...). WEBHOOK_ALLOW_LOOPBACK lets loopback
 * through, for local development and tests; nothing else is ever allowed.
 */
export type DestinationPolicy = { allowLoopback: boolean };

export class DestinationError extends Error {}

const loopback = new BlockList();
loopback.addSubnet("127.0.0.0", 8, "ipv4");
loopback.addAddress("::1", "ipv6");

const internal = new BlockList();
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
  internal.addSubnet(network, prefix, "ipv4");
}
for (const [network, prefix] of [
  ["::", 128],
  ["64:ff9b::", 96],
  ["100::", 64],
  ["2001:db8::", 32],
  ["fc00::", 7], // unique local, including AWS's metadata address fd00:ec2::254
  ["fe80::", 10],
  ["ff00::", 8],
] as const) {
  internal.addSubnet(network, prefix, "ipv6");
}

/** Why an address may not receive webhooks, or null when it may. */
export function blockedReason(address: string, policy: DestinationPolicy): string | null {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address)?.[1];
  const plain = mapped ?? address;
  const family = isIP(plain) === 6 ? "ipv6" : "ipv4";
  if (isIP(plain) === 0) return "is not an IP address";
  if (loopback.check(plain, family)) return policy.allowLoopback ? null : "is a loopback address";
  if (internal.check(plain, family)) return "is a private, link-local or reserved address";
  return null;
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
