// zlib.crc32 only arrived in Node 22; this is the same IEEE 802.3 polynomial, table-driven.
const TABLE = new Uint32Array(256);
for (let n = 0; n < 256; n++) {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  TABLE[n] = c >>> 0;
}

/**
 * The CRC-32 of the first `length` characters of an ASCII text, read as the bytes they are: every
 * request checks the key's checksum, and a Buffer of the text would cost more than the sum.
 */
export function crc32OfAscii(text: string, length = text.length): number {
  let crc = 0xffffffff;
  for (let index = 0; index < length; index += 1) crc = TABLE[(crc ^ text.charCodeAt(index)) & 0xff]! ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}
