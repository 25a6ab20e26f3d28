import { createHash, createHmac, createSecretKey, type KeyObject } from "node:crypto";
import { compressBlock, INITIAL_STATE } from "./sha256.js";

const BLOCK_BYTES = 64;
const INNER_PAD = 0x36;
const OUTER_PAD = 0x5c;
const HEX_DIGIT_CODES = Array.from("0123456789abcdef", (digit) => digit.charCodeAt(0));

/**
 * HMAC-SHA256 of a key under the server's pepper, as lower-case hex: what is stored and looked
 * up (RFC 2104). Every request digests its key, so the pepper's two padded blocks are hashed once
 * here, and an ASCII key (every well-formed one) costs the blocks of the key and one of the outer
 * hash, in JavaScript, with no allocation but the answer. In a request this is several
 * microseconds cheaper than `createHmac` (docs/performance.md, fourteenth part); a key with other
 * characters is digested by `createHmac`, which gives the same digest.
 */
export class KeyDigester {
  // Fields private to the language, not only to TypeScript: the two states are as secret as the
  // pepper, and an object that holds a digester (a Write) must not show them if it is ever logged.
  readonly #innerStart: Int32Array;
  readonly #outerStart: Int32Array;
  readonly #pepperObject: KeyObject;
  readonly #state = new Int32Array(8);
  #words = new Int32Array(32);
  /** The answer's 64 character codes: one flat string made of them costs less than 32 joined pieces. */
  readonly #hexCodes: number[] = new Array<number>(64).fill(0);

  constructor(pepper: string) {
    let pepperBytes = Buffer.from(pepper, "utf8");
    // RFC 2104: a key longer than a block is hashed first.
    if (pepperBytes.length > BLOCK_BYTES) pepperBytes = createHash("sha256").update(pepperBytes).digest();
    this.#innerStart = stateAfterPaddedKey(pepperBytes, INNER_PAD);
    this.#outerStart = stateAfterPaddedKey(pepperBytes, OUTER_PAD);
    this.#pepperObject = createSecretKey(pepperBytes);
  }

  digest(key: string): string {
    const length = key.length;
    // The key after the inner block, then 0x80, zeros and the bit length in the last 8 bytes.
    const blocks = Math.ceil((length + 9) / BLOCK_BYTES);
    const wordCount = blocks * 16;
    if (this.#words.length < wordCount) this.#words = new Int32Array(wordCount);
    const words = this.#words;
    words.fill(0, 0, wordCount);
    let characters = 0;
    for (let index = 0; index < length; index += 1) {
      const code = key.charCodeAt(index);
      characters |= code;
      words[index >> 2]! |= code << (24 - 8 * (index & 3));
    }
    if (characters > 0x7f) return createHmac("sha256", this.#pepperObject).update(key, "utf8").digest("hex");
    words[length >> 2]! |= 0x80 << (24 - 8 * (length & 3));
    const bits = (BLOCK_BYTES + length) * 8;
    words[wordCount - 2] = Math.floor(bits / 0x1_0000_0000);
    words[wordCount - 1] = bits | 0;

    const state = this.#state;
    state.set(this.#innerStart);
    for (let block = 0; block < blocks; block += 1) compressBlock(state, words, block * 16);
    // The outer hash: the inner digest, 0x80, and the bit length of a block and 32 bytes.
    for (let index = 0; index < 8; index += 1) words[index] = state[index]!;
    words[8] = 0x8000_0000;
    words.fill(0, 9, 15);
    words[15] = (BLOCK_BYTES + 32) * 8;
    state.set(this.#outerStart);
    compressBlock(state, words, 0);

    const hexCodes = this.#hexCodes;
    for (let index = 0; index < 8; index += 1) {
      const word = state[index]!;
      for (let nibble = 0; nibble < 8; nibble += 1) hexCodes[index * 8 + nibble] = HEX_DIGIT_CODES[(word >>> (28 - 4 * nibble)) & 0xf]!;
    }
    return String.fromCharCode(...hexCodes);
  }
}

/** The state after one block of the pepper, zero-padded to a block, with every byte XORed by `pad`. */
function stateAfterPaddedKey(pepperBytes: Buffer, pad: number): Int32Array {
  const block = new Int32Array(16);
  for (let index = 0; index < BLOCK_BYTES; index += 1) {
    const byte = (index < pepperBytes.length ? pepperBytes[index]! : 0) ^ pad;
    block[index >> 2]! |= byte << (24 - 8 * (index & 3));
  }
  const state = Int32Array.from(INITIAL_STATE);
  compressBlock(state, block, 0);
  return state;
}
