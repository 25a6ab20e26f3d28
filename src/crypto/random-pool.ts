import { randomFillSync } from "node:crypto";

/**
 * Random bytes for ids and secrets, 4 KiB from the CSPRNG at a time: each call into it costs
 * several microseconds whatever its size, and an issued key took four (its id, its secret, its
 * audit event's id, its webhook event's id). Every byte handed out is a copy, used once, and wiped
 * from the pool.
 */
const POOL_BYTES = 4096;
const pool = Buffer.alloc(POOL_BYTES);
let offset = POOL_BYTES;

export function pooledRandomBytes(size: number): Buffer {
  if (size > POOL_BYTES) throw new RangeError(`at most ${POOL_BYTES} random bytes at a time`);
  if (offset + size > POOL_BYTES) {
    randomFillSync(pool);
    offset = 0;
  }
  const bytes = Buffer.from(pool.subarray(offset, offset + size));
  pool.fill(0, offset, offset + size);
  offset += size;
  return bytes;
}
