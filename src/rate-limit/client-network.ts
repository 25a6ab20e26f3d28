import { isIPv4, isIPv6 } from "node:net";
import { ipv6Groups } from "../net/ip-address.js";

/**
 * The name a client address is throttled under: an IPv4 address as it is, an IPv6 address by
 * its /64, the smallest network a site is normally given (one host with a /64 otherwise has
 * 2^64 buckets). An IPv4-mapped IPv6 address (`::ffff:192.0.2.1`) counts as its IPv4 address.
 * Anything else (which the HTTP layer never passes on) is one shared name, so that no text a
 * client wrote can become a bucket name.
 */
export function throttledNetwork(address: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address)?.[1];
  if (mapped !== undefined && isIPv4(mapped)) return mapped;
  if (isIPv4(address)) return address;
  if (isIPv6(address)) return `${ipv6Groups(address).slice(0, 4).map((group) => group.toString(16)).join(":")}::/64`;
  return "unknown";
}
