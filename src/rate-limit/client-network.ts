import { isIPv4, isIPv6 } from "node:net";

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
  if (isIPv6(address)) return `${expandIPv6(address).slice(0, 4).join(":")}::/64`;
  return "unknown";
}

/** The eight 16-bit groups of an IPv6 address, without a zone, as lower-case hex. */
function expandIPv6(address: string): string[] {
  let text = address.toLowerCase().split("%")[0]!;
  const dotted = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (dotted) {
    const [a, b, c, d] = dotted.slice(1).map(Number) as [number, number, number, number];
    text = `${text.slice(0, dotted.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head = "", tail] = text.split("::");
  const left = head === "" ? [] : head.split(":");
  const right = tail === undefined || tail === "" ? [] : tail.split(":");
  const middle = Array.from({ length: 8 - left.length - right.length }, () => "0");
  return [...left, ...middle, ...right].map((group) => Number.parseInt(group, 16).toString(16));
}
