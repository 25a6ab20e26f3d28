import { isIPv4, isIPv6 } from "node:net";
import { ipv6Groups } from "./ip-address.js";

/**
 * A key's `allowed_ips` (docs/api.md, "IP allowlists"): IPv4 and IPv6 addresses and CIDR blocks.
 * An address is held as 32-bit words (one for IPv4, four for IPv6), so that a block contains an
 * address, or another block, when their words agree on the block's leading `prefix` bits.
 */
type Block = { readonly words: readonly number[]; readonly prefix: number };

/** Only digits, hex letters, colons and dots before an optional decimal prefix: no spaces, no zone (`%eth0`). */
const ENTRY = /^([0-9A-Fa-f:.]+)(?:\/(0|[1-9][0-9]{0,2}))?$/;
const ENTRY_EXAMPLES = "e.g. 203.0.113.0/24, 2001:db8::/32 or 198.51.100.7";

/** The mask of word `index` of a block of `prefix` bits (a JS shift by 32 is a shift by 0). */
function maskOf(prefix: number, index: number): number {
  const bits = Math.min(32, Math.max(0, prefix - 32 * index));
  return bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0;
}

function contains(outer: Block, inner: Block): boolean {
  if (outer.words.length !== inner.words.length || inner.prefix < outer.prefix) return false;
  for (let index = 0; index < outer.words.length; index += 1) {
    if (((outer.words[index]! ^ inner.words[index]!) & maskOf(outer.prefix, index)) !== 0) return false;
  }
  return true;
}

/** `::ffff:0:0/96`: how IPv4 clients of a dual-stack socket appear. */
function isIpv4Mapped(words: readonly number[]): boolean {
  return words.length === 4 && words[0] === 0 && words[1] === 0 && words[2] === 0xffff;
}

/** The words of an IPv4 or IPv6 address text (zone dropped), or undefined for anything else. */
function addressWords(address: string): number[] | undefined {
  if (isIPv4(address)) return [dottedWord(address)];
  if (!isIPv6(address)) return undefined;
  const groups = ipv6Groups(address);
  return [0, 2, 4, 6].map((at) => ((groups[at]! << 16) | groups[at + 1]!) >>> 0);
}

/** The text of an address: dotted IPv4, or IPv6 in lower case with the longest run of zero groups as `::` (RFC 5952). */
function addressText(words: readonly number[]): string {
  if (words.length === 1) return [24, 16, 8, 0].map((shift) => (words[0]! >>> shift) & 0xff).join(".");
  const groups = words.flatMap((word) => [word >>> 16, word & 0xffff]);
  let runStart = -1;
  let runLength = 1;
  for (let start = 0; start < 8; start += 1) {
    let length = 0;
    while (start + length < 8 && groups[start + length] === 0) length += 1;
    if (length > runLength) [runStart, runLength] = [start, length];
  }
  const hex = groups.map((group) => group.toString(16));
  if (runStart < 0) return hex.join(":");
  return `${hex.slice(0, runStart).join(":")}::${hex.slice(runStart + runLength).join(":")}`;
}

/** The canonical text of a block: a whole-address block (/32, /128) is written as the bare address. */
function blockText(block: Block): string {
  const full = block.words.length * 32;
  return block.prefix === full ? addressText(block.words) : `${addressText(block.words)}/${block.prefix}`;
}

/**
 * One entry as a client sent it, read strictly: anything but an exact address or block is
 * refused rather than guessed at. Host bits set past the prefix (`203.0.113.7/24`) are refused,
 * not masked: the sender may have meant the one address as much as the block.
 */
function readEntry(text: string): { block: Block } | { problem: string } {
  const match = ENTRY.exec(text);
  const words = match && addressWords(match[1]!);
  if (!match || !words) {
    return { problem: `is not an IPv4 or IPv6 address or CIDR block (${ENTRY_EXAMPLES})` };
  }
  if (isIpv4Mapped(words)) {
    return { problem: "is an IPv4-mapped IPv6 address: write it as IPv4 (IPv4 clients are matched as IPv4 whichever way they connect)" };
  }
  const full = words.length * 32;
  const prefix = match[2] === undefined ? full : Number(match[2]);
  if (prefix > full) return { problem: `has a prefix longer than /${full}` };
  const network = words.map((word, index) => (word & maskOf(prefix, index)) >>> 0);
  if (network.some((word, index) => word !== words[index])) {
    return { problem: `has bits set past its /${prefix} prefix: the block is ${blockText({ words: network, prefix })}, the address alone is ${addressText(words)}` };
  }
  return { block: { words, prefix } };
}

export type AllowlistProblem = { index: number; message: string };

/**
 * A requested `allowed_ips`, each entry in its canonical form (lower-case IPv6 with `::`, a /32
 * or /128 as the bare address), or what is wrong with which entries. An entry that repeats an
 * earlier one once both are canonical is refused, as duplicate scopes are. Overlapping blocks are
 * allowed. The list's length (1 to MAX_ALLOWED_IPS) is the schema's to check.
 */
export function readAllowlist(entries: readonly string[]): { entries: string[]; problems: AllowlistProblem[] } {
  const canonical: string[] = [];
  const problems: AllowlistProblem[] = [];
  entries.forEach((text, index) => {
    const read = readEntry(text);
    if ("problem" in read) {
      problems.push({ index, message: read.problem });
      return;
    }
    const entry = blockText(read.block);
    const earlier = canonical.indexOf(entry);
    if (earlier >= 0) problems.push({ index, message: `is ${entry} again (entry ${earlier})` });
    canonical[index] = entry;
  });
  return { entries: canonical, problems };
}

/**
 * A stored list as matched: its blocks, and its IPv4 ones again as (network, mask) pairs, the
 * common case made cheap. Reading an IPv6 address (an IPv4 client's too on a dual-stack socket,
 * `::ffff:…`) costs about 2 µs, where a cached request costs about 50: the last answer is kept,
 * since a key's requests mostly come from one address.
 */
type Compiled = {
  readonly blocks: readonly Block[];
  readonly ipv4: Uint32Array;
  last: { address: string; allowed: boolean } | null;
};

/**
 * Each distinct list compiled once. Stored lists are interned frozen arrays (findCredentialByDigest),
 * so a key's list is compiled on its first use on this node and then found by identity.
 */
const compiled = new WeakMap<readonly string[], Compiled>();

/** A stored list, compiled. Stored entries were read by readAllowlist; one that no longer reads matches nothing. */
function compiledOf(entries: readonly string[]): Compiled {
  let list = compiled.get(entries);
  if (list === undefined) {
    const blocks = entries.flatMap((entry) => {
      const read = readEntry(entry);
      return "block" in read ? [read.block] : [];
    });
    const ipv4 = blocks.filter((block) => block.words.length === 1).flatMap((block) => [block.words[0]!, maskOf(block.prefix, 0)]);
    list = { blocks, ipv4: Uint32Array.from(ipv4), last: null };
    compiled.set(entries, list);
  }
  return list;
}

/**
 * A dotted IPv4 address as its word, or -1 for text that is not one. Looser than isIPv4 (it
 * takes leading zeros): entries are checked with isIPv4 first, and request addresses are IP
 * addresses already (client-address.ts), which this tells apart without a regular expression.
 */
function dottedWord(address: string): number {
  let word = 0;
  let octet = 0;
  let digits = 0;
  let dots = 0;
  for (let index = 0; index < address.length; index += 1) {
    const code = address.charCodeAt(index);
    if (code >= 48 && code <= 57) {
      octet = octet * 10 + code - 48;
      digits += 1;
      if (octet > 255 || digits > 3) return -1;
    } else if (code === 46 && digits > 0 && dots < 3) {
      word = word * 256 + octet;
      octet = 0;
      digits = 0;
      dots += 1;
    } else return -1;
  }
  return dots === 3 && digits > 0 ? word * 256 + octet : -1;
}

/**
 * Whether a client address is inside a stored list. An IPv4-mapped IPv6 address
 * (`::ffff:203.0.113.7`) is its IPv4 address. A text that is no address is never allowed.
 */
export function allowsAddress(entries: readonly string[], address: string): boolean {
  const list = compiledOf(entries);
  if (list.last?.address === address) return list.last.allowed;
  const allowed = matches(list, address);
  list.last = { address, allowed };
  return allowed;
}

function matches(list: Compiled, address: string): boolean {
  let ipv4 = dottedWord(address);
  if (ipv4 < 0) {
    const words = addressWords(address);
    if (words === undefined) return false;
    if (!isIpv4Mapped(words)) return list.blocks.some((block) => contains(block, { words, prefix: 128 }));
    ipv4 = words[3]!;
  }
  const pairs = list.ipv4;
  for (let index = 0; index < pairs.length; index += 2) {
    if ((ipv4 & pairs[index + 1]!) >>> 0 === pairs[index]) return true;
  }
  return false;
}

/** The entries of canonical list `inner` that lie inside no single entry of canonical list `outer`. */
export function entriesOutside(outer: readonly string[], inner: readonly string[]): string[] {
  const bounds = compiledOf(outer).blocks;
  return inner.filter((entry) => {
    const read = readEntry(entry);
    return !("block" in read && bounds.some((bound) => contains(bound, read.block)));
  });
}
