import dns, { type LookupAddress } from "node:dns";
import { isIP } from "node:net";
import { syncBuiltinESMExports } from "node:module";
import { afterAll, beforeAll, vi } from "vitest";

/**
 * For the rest of the calling test file, `dns.lookup` answers the names in `zone` with their
 * address, and every other name as usual. Node's own dns object is changed, not the module mocked
 * (see `isolate` in vitest.config.ts); `syncBuiltinESMExports` carries the change to the
 * `import { lookup } from "node:dns"` bindings of modules already loaded.
 */
export function fakeDnsZone(zone: ReadonlyMap<string, string>): void {
  const realLookup = dns.lookup;
  const fakeLookup = (hostname: string, options: dns.LookupOptions, callback: (...answer: unknown[]) => void) => {
    const address = zone.get(hostname);
    if (address === undefined) return realLookup(hostname, options, callback as never);
    const answer: LookupAddress = { address, family: isIP(address) };
    process.nextTick(() => (options.all ? callback(null, [answer]) : callback(null, answer.address, answer.family)));
  };
  beforeAll(() => {
    vi.spyOn(dns, "lookup").mockImplementation(fakeLookup as typeof dns.lookup);
    syncBuiltinESMExports();
  });
  afterAll(() => {
    vi.mocked(dns.lookup).mockRestore();
    syncBuiltinESMExports();
  });
}
