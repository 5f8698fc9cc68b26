/**
 * Unsigned LEB128 varints (protobuf varints), as the `ssz_snappy` length prefix uses them: seven
 * bits per byte, least significant group first, the high bit set on every byte but the last.
 *
 * Decoding is strict: at most 10 bytes (enough for any uint64), no value above 2^64 - 1, and
 * minimal encodings only (no redundant trailing zero groups). Values come back as numbers: exact
 * up to 2^53, and above that still larger than any length bound this layer checks against.
 */
import { EncodingError, EncodingErrorCode } from "./errors.ts";

/** The longest varint of a uint64. */
export const MAX_VARINT_BYTES = 10;

/** Encodes a non-negative safe integer. */
export function encodeVarint(value: number): Uint8Array {
  if (!Number.isSafeInteger(value) || value < 0) throw new RangeError(`cannot varint-encode ${value}`);
  const out: number[] = [];
  let v = value;
  while (v >= 0x80) {
    out.push((v % 0x80) | 0x80);
    v = Math.floor(v / 0x80);
  }
  out.push(v);
  return Uint8Array.from(out);
}

/** Number of bytes `encodeVarint(value)` writes. */
export function varintLength(value: number): number {
  let n = 1;
  for (let v = value; v >= 0x80; v = Math.floor(v / 0x80)) n++;
  return n;
}

/**
 * Incremental decoder: feed bytes one at a time (as they arrive from a stream) until `push`
 * returns true.
 */
export class VarintDecoder {
  private value = 0;
  private count = 0;

  /** Adds the next byte; returns true when the varint is complete. Throws EncodingError. */
  push(byte: number): boolean {
    if (this.count === MAX_VARINT_BYTES - 1 && byte > 1) {
      // The 10th byte may only carry bit 63 (and no continuation).
      throw new EncodingError(
        byte & 0x80 ? EncodingErrorCode.VARINT_TOO_LONG : EncodingErrorCode.VARINT_OVERFLOW,
        byte & 0x80 ? "varint longer than 10 bytes" : "varint above 2^64 - 1",
      );
    }
    this.value += (byte & 0x7f) * 2 ** (7 * this.count);
    this.count++;
    if (byte & 0x80) return false;
    if (byte === 0 && this.count > 1)
      throw new EncodingError(EncodingErrorCode.VARINT_NOT_MINIMAL, "varint is not minimally encoded");
    return true;
  }

  get result(): number {
    return this.value;
  }

  /** Bytes consumed so far. */
  get length(): number {
    return this.count;
  }
}

/** Decodes a varint at `offset`; returns the value and how many bytes it used. Throws EncodingError. */
export function decodeVarint(bytes: Uint8Array, offset = 0): { value: number; length: number } {
  const decoder = new VarintDecoder();
  for (let i = offset; i < bytes.length; i++) {
    if (decoder.push(bytes[i])) return { value: decoder.result, length: decoder.length };
  }
  throw new EncodingError(EncodingErrorCode.EARLY_EOF, "input ends inside a varint");
}
