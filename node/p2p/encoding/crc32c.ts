/**
 * CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), table driven and eight bytes per step
 * ("slicing by 8"), and the masked form the snappy framing format stores in each data frame.
 */

const POLY = 0x82f63b78;

/** Eight 256-entry tables: T[0] is the byte-wise table, T[k] advances a byte through k more zero bytes. */
const T = buildTables();

function buildTables(): Uint32Array {
  const t = new Uint32Array(8 * 256);
  for (let i = 0; i < 256; i++) {
    let c = i;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ POLY : c >>> 1;
    t[i] = c >>> 0;
  }
  for (let k = 1; k < 8; k++) {
    for (let i = 0; i < 256; i++) {
      const prev = t[(k - 1) * 256 + i];
      t[k * 256 + i] = ((prev >>> 8) ^ t[prev & 0xff]) >>> 0;
    }
  }
  return t;
}

/**
 * CRC-32C of `data`. Pass the result of a previous call as `crc` to continue a checksum over
 * data that arrives in pieces.
 */
export function crc32c(data: Uint8Array, crc = 0): number {
  let c = ~crc >>> 0;
  let i = 0;
  const end8 = data.length - (data.length % 8);
  for (; i < end8; i += 8) {
    const lo = (data[i] | (data[i + 1] << 8) | (data[i + 2] << 16) | (data[i + 3] << 24)) ^ c;
    const hi = data[i + 4] | (data[i + 5] << 8) | (data[i + 6] << 16) | (data[i + 7] << 24);
    c =
      T[7 * 256 + (lo & 0xff)] ^
      T[6 * 256 + ((lo >>> 8) & 0xff)] ^
      T[5 * 256 + ((lo >>> 16) & 0xff)] ^
      T[4 * 256 + (lo >>> 24)] ^
      T[3 * 256 + (hi & 0xff)] ^
      T[2 * 256 + ((hi >>> 8) & 0xff)] ^
      T[256 + ((hi >>> 16) & 0xff)] ^
      T[hi >>> 24];
  }
  for (; i < data.length; i++) c = T[(c ^ data[i]) & 0xff] ^ (c >>> 8);
  return ~c >>> 0;
}

/**
 * The snappy framing format's masked checksum: the CRC rotated right by 15 bits plus a constant,
 * so that a checksum of data that itself holds checksums stays well distributed.
 */
export function maskCrc(crc: number): number {
  return ((((crc >>> 15) | (crc << 17)) >>> 0) + 0xa282ead8) >>> 0;
}

/** The masked CRC-32C of `data`, as a snappy data frame stores it (little-endian). */
export function maskedCrc32c(data: Uint8Array): number {
  return maskCrc(crc32c(data));
}
