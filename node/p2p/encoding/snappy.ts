/**
 * Snappy: block compression (snappyjs), a strict validator of snappy blocks, and the snappy
 * framing format (https://github.com/google/snappy/blob/main/framing_format.txt) that
 * `ssz_snappy` req/resp payloads use.
 *
 * A framed stream is a sequence of chunks `type (1) | length (3, little-endian) | body`:
 *   0xff  stream identifier, body "sNaPpY"; must come first, may repeat
 *   0x00  compressed data:   masked CRC-32C of the uncompressed data (4, LE) | snappy block
 *   0x01  uncompressed data: masked CRC-32C (4, LE) | the data
 *   0x02-0x7f reserved, unskippable (an error); 0x80-0xfe skippable (padding is 0xfe)
 * A data chunk holds at most 65,536 uncompressed bytes.
 *
 * snappyjs does not check that a block decodes to exactly its announced length (it silently
 * drops or zero-fills), so every block is walked by `snappyBlockLength` first, which rejects
 * anything but an exact, in-bounds bitstream.
 */
import { createRequire } from "node:module";
import { maskedCrc32c } from "./crc32c.ts";
import { EncodingError, EncodingErrorCode } from "./errors.ts";

interface SnappyJs {
  compress(data: Uint8Array): Uint8Array;
  uncompress(data: Uint8Array, maxLength?: number): Uint8Array;
}
const snappyjs = createRequire(import.meta.url)("snappyjs") as SnappyJs;

export const ChunkType = {
  COMPRESSED: 0x00,
  UNCOMPRESSED: 0x01,
  PADDING: 0xfe,
  STREAM_IDENTIFIER: 0xff,
} as const;

/** Most uncompressed bytes in one data chunk. */
export const MAX_CHUNK_DATA = 65_536;
/** The stream identifier chunk, as it appears on the wire. */
export const STREAM_IDENTIFIER = Uint8Array.of(0xff, 0x06, 0x00, 0x00, 0x73, 0x4e, 0x61, 0x50, 0x70, 0x59);
const IDENTIFIER_BODY = STREAM_IDENTIFIER.subarray(4);

/** Worst-case snappy block size for `n` input bytes (snappy's MaxCompressedLength). */
export function maxBlockCompressedLength(n: number): number {
  return 32 + n + Math.floor(n / 6);
}

/** Largest body a data chunk may have: checksum plus the worst-case block of a full chunk. */
export const MAX_DATA_CHUNK_BODY = 4 + maxBlockCompressedLength(MAX_CHUNK_DATA);

// --- snappy blocks -----------------------------------------------------------------------

/** Compresses `data` as one snappy block. */
export function compressBlock(data: Uint8Array): Uint8Array {
  return snappyjs.compress(data);
}

/**
 * Walks a snappy block without producing output and returns its uncompressed length, checking
 * that every literal and copy stays inside the input and the output and that the elements add up
 * to exactly the length in the preamble. Throws EncodingError BAD_SNAPPY_BLOCK.
 */
export function snappyBlockLength(block: Uint8Array, maxLength = Number.MAX_SAFE_INTEGER): number {
  const bad = (why: string): never => {
    throw new EncodingError(EncodingErrorCode.BAD_SNAPPY_BLOCK, `invalid snappy block: ${why}`);
  };
  // Preamble: the uncompressed length as a varint of at most 32 bits (5 bytes).
  let total = 0;
  let pos = 0;
  for (let shift = 0; ; shift += 7) {
    if (pos >= block.length) bad("truncated length preamble");
    if (shift > 28) bad("length preamble too long");
    const b = block[pos++];
    total += (b & 0x7f) * 2 ** shift;
    if ((b & 0x80) === 0) break;
  }
  if (total > 0xffffffff) bad("length above 2^32 - 1");
  if (total > maxLength) bad(`announces ${total} bytes, at most ${maxLength} allowed`);
  let produced = 0;
  while (pos < block.length) {
    const tag = block[pos++];
    let length: number;
    let offset = 0;
    switch (tag & 0x03) {
      case 0: {
        length = (tag >>> 2) + 1;
        if (length > 60) {
          const extra = length - 60;
          if (pos + extra > block.length) bad("truncated literal length");
          length = 0;
          for (let i = 0; i < extra; i++) length += block[pos + i] * 2 ** (8 * i);
          length += 1;
          pos += extra;
        }
        if (pos + length > block.length) bad("literal runs past the input");
        pos += length;
        produced += length;
        if (produced > total) bad("output exceeds the announced length");
        continue;
      }
      case 1:
        if (pos + 1 > block.length) bad("truncated copy");
        length = ((tag >>> 2) & 0x07) + 4;
        offset = ((tag >>> 5) << 8) | block[pos];
        pos += 1;
        break;
      case 2:
        if (pos + 2 > block.length) bad("truncated copy");
        length = (tag >>> 2) + 1;
        offset = block[pos] | (block[pos + 1] << 8);
        pos += 2;
        break;
      default:
        if (pos + 4 > block.length) bad("truncated copy");
        length = (tag >>> 2) + 1;
        offset = (block[pos] | (block[pos + 1] << 8) | (block[pos + 2] << 16) | (block[pos + 3] << 24)) >>> 0;
        pos += 4;
        break;
    }
    if (offset === 0 || offset > produced) bad("copy offset outside the output");
    produced += length;
    if (produced > total) bad("output exceeds the announced length");
  }
  if (produced !== total) bad(`decodes to ${produced} bytes, announced ${total}`);
  return total;
}

/** Decompresses one snappy block of at most `maxLength` bytes. Throws EncodingError. */
export function uncompressBlock(block: Uint8Array, maxLength = Number.MAX_SAFE_INTEGER): Uint8Array {
  const length = snappyBlockLength(block, maxLength);
  const out = snappyjs.uncompress(block, length);
  if (out.length !== length)
    throw new EncodingError(EncodingErrorCode.BAD_SNAPPY_BLOCK, "invalid snappy block: wrong output size");
  return out;
}

// --- framing -----------------------------------------------------------------------------

/** Bytes `encodeFrames` needs at most for `n` input bytes (for buffer sizing and tests). */
export function maxFramedLength(n: number): number {
  return STREAM_IDENTIFIER.length + Math.ceil(n / MAX_CHUNK_DATA) * (4 + 4) + n;
}

/**
 * Frames `data`: the stream identifier, then one data chunk per 64 KiB, compressed when that
 * saves at least an eighth, stored uncompressed otherwise. Empty input gives the identifier alone.
 */
export function encodeFrames(data: Uint8Array): Uint8Array {
  const parts: Uint8Array[] = [STREAM_IDENTIFIER];
  let size = STREAM_IDENTIFIER.length;
  for (let start = 0; start < data.length; start += MAX_CHUNK_DATA) {
    const chunk = data.subarray(start, start + MAX_CHUNK_DATA);
    const compressed = compressBlock(chunk);
    const useCompressed = compressed.length < chunk.length - (chunk.length >>> 3);
    const body = useCompressed ? compressed : chunk;
    const header = new Uint8Array(8);
    const bodyLength = 4 + body.length;
    header[0] = useCompressed ? ChunkType.COMPRESSED : ChunkType.UNCOMPRESSED;
    header[1] = bodyLength & 0xff;
    header[2] = (bodyLength >>> 8) & 0xff;
    header[3] = (bodyLength >>> 16) & 0xff;
    new DataView(header.buffer).setUint32(4, maskedCrc32c(chunk), true);
    parts.push(header, body);
    size += header.length + body.length;
  }
  const out = new Uint8Array(size);
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.length;
  }
  return out;
}

/** Whether a chunk type carries data (whose body is bounded by MAX_DATA_CHUNK_BODY). */
export function isDataChunk(type: number): boolean {
  return type === ChunkType.COMPRESSED || type === ChunkType.UNCOMPRESSED;
}

/**
 * Decodes a framed stream whose uncompressed size is known in advance (the `ssz_snappy` length
 * prefix), one chunk at a time. Rejects output beyond that size before decompressing anything,
 * so a peer cannot make it allocate more than it announced; memory follows the data actually
 * received, not the announced size (a peer announcing 10 MiB and sending nothing costs nothing).
 */
export class FrameDecoder {
  readonly expectedLength: number;
  private readonly pieces: Uint8Array[] = [];
  private written = 0;
  private seenIdentifier = false;

  constructor(expectedLength: number) {
    this.expectedLength = expectedLength;
  }

  get done(): boolean {
    return this.written === this.expectedLength;
  }

  get bytesWritten(): number {
    return this.written;
  }

  /** The data decoded so far (all of it once `done`), as a plain Uint8Array (never a Buffer). */
  get output(): Uint8Array {
    const only = this.pieces.length === 1 ? this.pieces[0] : undefined;
    if (only !== undefined && !Buffer.isBuffer(only) && only.byteLength === only.buffer.byteLength)
      return only;
    const out = new Uint8Array(this.written);
    let offset = 0;
    for (const p of this.pieces) {
      out.set(p, offset);
      offset += p.length;
    }
    this.pieces.splice(0, this.pieces.length, out);
    return out;
  }

  /** Applies one chunk. Throws EncodingError. */
  chunk(type: number, body: Uint8Array): void {
    if (type === ChunkType.STREAM_IDENTIFIER) {
      if (body.length !== IDENTIFIER_BODY.length || !IDENTIFIER_BODY.every((b, i) => body[i] === b))
        throw new EncodingError(EncodingErrorCode.BAD_STREAM_IDENTIFIER, "malformed stream identifier");
      this.seenIdentifier = true;
      return;
    }
    if (!this.seenIdentifier)
      throw new EncodingError(
        EncodingErrorCode.BAD_STREAM_IDENTIFIER,
        `frames begin with chunk type 0x${type.toString(16)}, not the stream identifier`,
      );
    if (type >= 0x02 && type <= 0x7f)
      throw new EncodingError(
        EncodingErrorCode.RESERVED_FRAME,
        `reserved unskippable chunk type 0x${type.toString(16)}`,
      );
    if (!isDataChunk(type)) return; // skippable (0x80-0xfe)
    if (body.length < 4) throw new EncodingError(EncodingErrorCode.BAD_FRAME, "data chunk without checksum");
    const checksum = new DataView(body.buffer, body.byteOffset, 4).getUint32(0, true);
    const remaining = this.expectedLength - this.written;
    let data: Uint8Array;
    if (type === ChunkType.UNCOMPRESSED) {
      data = body.subarray(4);
      if (data.length > MAX_CHUNK_DATA)
        throw new EncodingError(EncodingErrorCode.BAD_FRAME, `uncompressed chunk of ${data.length} bytes`);
      if (data.length > remaining) throw this.exceeds(data.length);
    } else {
      const block = body.subarray(4);
      const length = snappyBlockLength(block);
      if (length > MAX_CHUNK_DATA)
        throw new EncodingError(EncodingErrorCode.BAD_FRAME, `compressed chunk of ${length} bytes`);
      if (length > remaining) throw this.exceeds(length);
      data = uncompressBlock(block, length);
    }
    if (maskedCrc32c(data) !== checksum)
      throw new EncodingError(EncodingErrorCode.BAD_CHECKSUM, "chunk checksum mismatch");
    if (data.length === 0) return;
    this.pieces.push(data);
    this.written += data.length;
  }

  private exceeds(length: number): EncodingError {
    return new EncodingError(
      EncodingErrorCode.EXCEEDS_LENGTH,
      `frames decompress beyond the announced ${this.expectedLength} bytes (${this.written} + ${length})`,
    );
  }
}

/**
 * Decodes a complete framed stream of exactly `expectedLength` uncompressed bytes; nothing may
 * follow the last data chunk. Throws EncodingError.
 */
export function decodeFrames(bytes: Uint8Array, expectedLength: number): Uint8Array {
  const decoder = new FrameDecoder(expectedLength);
  let pos = 0;
  let started = false;
  while (!decoder.done || !started) {
    if (pos === bytes.length) {
      if (decoder.done) break; // empty payload without a stream identifier
      throw new EncodingError(EncodingErrorCode.EARLY_EOF, "framed stream ends before its announced length");
    }
    if (pos + 4 > bytes.length)
      throw new EncodingError(EncodingErrorCode.EARLY_EOF, "framed stream ends inside a chunk header");
    const type = bytes[pos];
    const length = bytes[pos + 1] | (bytes[pos + 2] << 8) | (bytes[pos + 3] << 16);
    if (isDataChunk(type) && length > MAX_DATA_CHUNK_BODY)
      throw new EncodingError(EncodingErrorCode.BAD_FRAME, `data chunk of ${length} bytes`);
    if (pos + 4 + length > bytes.length)
      throw new EncodingError(EncodingErrorCode.EARLY_EOF, "framed stream ends inside a chunk");
    decoder.chunk(type, bytes.subarray(pos + 4, pos + 4 + length));
    pos += 4 + length;
    started = true;
  }
  if (pos !== bytes.length)
    throw new EncodingError(
      EncodingErrorCode.TRAILING_BYTES,
      `${bytes.length - pos} bytes after the payload`,
    );
  return decoder.output;
}
