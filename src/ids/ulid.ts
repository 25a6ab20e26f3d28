import { pooledRandomBytes } from "../crypto/random-pool.js";

const CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/** A ULID: 48 bits of Unix milliseconds and 80 random bits, in Crockford base32 (26 characters). */
export function newUlid(now: number = Date.now()): string {
  let time = "";
  let rest = now;
  for (let i = 0; i < 10; i++) {
    time = CROCKFORD[rest % 32] + time;
    rest = Math.floor(rest / 32);
  }
  let random = "";
  for (const byte of pooledRandomBytes(16)) random += CROCKFORD[byte % 32];
  return time + random;
}
