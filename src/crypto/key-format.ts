import { pooledRandomBytes } from "./random-pool.js";
import { crc32OfAscii } from "./crc32.js";

/**
 * The key format of docs/api.md ("API keys"): `zpk_live_` or `zpk_test_` + 43 base62 characters of
 * 32 random bytes + a 6-character base62 CRC-32 of everything before it. The checksum lets the
 * server (and secret scanners) refuse a mistyped or made-up token without touching the database.
 */
export const KEY_MODES = ["live", "test"] as const;
export type KeyMode = (typeof KEY_MODES)[number];
const MODE_PREFIX_LENGTH = "zpk_live_".length;
const BODY_LENGTH = 43;
const CHECKSUM_LENGTH = 6;
const PREFIX_TAIL_LENGTH = 8;
const ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
/** By character code below 128: whether the character is a base62 digit. */
const IS_BASE62 = new Uint8Array(128);
for (const digit of ALPHABET) IS_BASE62[digit.charCodeAt(0)] = 1;
/** What a secret scanner looks for (docs/leaked-keys.md): the same shape, unanchored. */
export const KEY_SEARCH_PATTERN = `zpk_(live|test)_[0-9A-Za-z]{${BODY_LENGTH + CHECKSUM_LENGTH}}`;

export const KEY_LENGTH = MODE_PREFIX_LENGTH + BODY_LENGTH + CHECKSUM_LENGTH;

function toBase62(value: bigint, width: number): string {
  let text = "";
  let rest = value;
  while (rest > 0n) {
    text = ALPHABET[Number(rest % 62n)] + text;
    rest /= 62n;
  }
  return text.padStart(width, "0");
}

function checksumOf(text: string): string {
  return toBase62(BigInt(crc32OfAscii(text)), CHECKSUM_LENGTH);
}

export function generateKey(mode: KeyMode = "live"): string {
  const body = toBase62(BigInt(`0x${pooledRandomBytes(32).toString("hex")}`), BODY_LENGTH);
  const head = `zpk_${mode}_${body}`;
  return head + checksumOf(head);
}

/**
 * True when the token has the key's shape and its checksum matches: no I/O. Every request asks,
 * so it reads the characters itself (a regular expression of the shape cost twice the whole check)
 * and compares the checksum's digits where they stand, last first, which also tells that they
 * are base62.
 */
export function isWellFormedKey(token: string): boolean {
  if (token.length !== KEY_LENGTH || !(token.startsWith("zpk_live_") || token.startsWith("zpk_test_"))) return false;
  const checksumAt = KEY_LENGTH - CHECKSUM_LENGTH;
  for (let index = MODE_PREFIX_LENGTH; index < checksumAt; index += 1) {
    if (IS_BASE62[token.charCodeAt(index)] !== 1) return false;
  }
  let rest = crc32OfAscii(token, checksumAt);
  for (let index = token.length - 1; index >= checksumAt; index -= 1) {
    if (token.charCodeAt(index) !== ALPHABET.charCodeAt(rest % 62)) return false;
    rest = Math.floor(rest / 62);
  }
  // Six base62 digits hold more than 32 bits: nothing of the checksum is left over.
  return true;
}

/** The displayed, non-secret identifier of a key: `zpk_live_` or `zpk_test_` and the tail's first 8 characters. */
export function displayPrefix(key: string): string {
  return key.slice(0, MODE_PREFIX_LENGTH + PREFIX_TAIL_LENGTH);
}

/** A key's mode, read from its text or its display prefix. */
export function keyMode(keyOrPrefix: string): KeyMode {
  return keyOrPrefix.startsWith("zpk_test_") ? "test" : "live";
}
