/** The eight 16-bit groups of an address isIP calls IPv6 (a zone, "%eth0", is dropped). */
export function ipv6Groups(address: string): number[] {
  const text = address.replace(/%.*$/, "").replace(/(\d+)\.(\d+)\.(\d+)\.(\d+)$/, (_, a, b, c, d) =>
    [(Number(a) << 8) | Number(b), (Number(c) << 8) | Number(d)].map((group) => group.toString(16)).join(":"),
  );
  const [head, tail] = text.split("::").map((part) => (part === "" ? [] : part.split(":").map((group) => parseInt(group, 16))));
  if (tail === undefined) return head!;
  return [...head!, ...Array<number>(8 - head!.length - tail.length).fill(0), ...tail];
}
