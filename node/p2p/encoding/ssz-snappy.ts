/**
 * The `ssz_snappy` req/resp encoding of the Ethereum consensus p2p spec:
 *
 *   request        = varint(len(ssz)) | snappy-frames(ssz)
 *   response_chunk = code (1) | context-bytes (0 or 4) | varint(len(ssz)) | snappy-frames(ssz)
 *
 * Bounds: the length prefix must lie within the SSZ type's [min, max] size and at most
 * MAX_PAYLOAD_SIZE; the frames may use at most `max_compressed_len(len)` bytes and must decompress
 * to exactly `len` bytes. Error chunks (code != 0) carry no context bytes and an ErrorMessage
 * (SSZ List[byte, 256], i.e. its raw bytes) as payload.
 */
import { EncodingError, EncodingErrorCode } from "./errors.ts";
import type { StreamReader } from "./reader.ts";
import {
  decodeFrames,
  encodeFrames,
  FrameDecoder,
  isDataChunk,
  MAX_DATA_CHUNK_BODY,
  STREAM_IDENTIFIER,
} from "./snappy.ts";
import { decodeVarint, encodeVarint, VarintDecoder } from "./varint.ts";

/** Largest uncompressed payload of any request or response chunk (10 MiB). */
export const MAX_PAYLOAD_SIZE = 10 * 1024 * 1024;
/** Longest ErrorMessage (List[byte, 256]). */
export const MAX_ERROR_MESSAGE_SIZE = 256;
/** Bytes of the fork-digest context of fork-versioned response chunks. */
export const FORK_DIGEST_CONTEXT_BYTES = 4;

/** Spec `max_compressed_len`: the most framed bytes a reader accepts for an `n`-byte payload. */
export function maxCompressedLen(n: number): number {
  return 32 + n + Math.floor(n / 6);
}

/** Size bounds of an SSZ payload (inclusive). */
export interface SszBounds {
  min: number;
  max: number;
}

/** Bounds of an SSZ type (anything with `minSize`/`maxSize`, like @chainsafe/ssz types), capped at MAX_PAYLOAD_SIZE. */
export function sszBounds(type: { minSize: number; maxSize: number }, cap = MAX_PAYLOAD_SIZE): SszBounds {
  return { min: type.minSize, max: Math.min(type.maxSize, cap) };
}

export const ERROR_MESSAGE_BOUNDS: SszBounds = { min: 0, max: MAX_ERROR_MESSAGE_SIZE };

function checkLength(length: number, bounds: SszBounds): void {
  const max = Math.min(bounds.max, MAX_PAYLOAD_SIZE);
  if (length < bounds.min || length > max)
    throw new EncodingError(
      EncodingErrorCode.LENGTH_OUT_OF_BOUNDS,
      `payload length ${length} outside [${bounds.min}, ${max}]`,
      { length, min: bounds.min, max },
    );
}

// --- encoding ----------------------------------------------------------------------------

/** `varint(len) | frames(ssz)`: a request, or a response chunk after its code and context. */
export function encodePayload(ssz: Uint8Array): Uint8Array {
  if (ssz.length > MAX_PAYLOAD_SIZE)
    throw new EncodingError(
      EncodingErrorCode.LENGTH_OUT_OF_BOUNDS,
      `payload of ${ssz.length} bytes exceeds MAX_PAYLOAD_SIZE`,
    );
  const prefix = encodeVarint(ssz.length);
  const frames = encodeFrames(ssz);
  const out = new Uint8Array(prefix.length + frames.length);
  out.set(prefix);
  out.set(frames, prefix.length);
  return out;
}

/** A request: `varint(len) | frames(ssz)`; an empty request (metadata) is no bytes at all. */
export function encodeRequest(ssz: Uint8Array | undefined): Uint8Array {
  return ssz === undefined ? new Uint8Array(0) : encodePayload(ssz);
}

/** A response chunk: `code | context | varint(len) | frames(ssz)`. */
export function encodeResponseChunk(code: number, ssz: Uint8Array, context?: Uint8Array): Uint8Array {
  const payload = encodePayload(ssz);
  const contextLength = context?.length ?? 0;
  const out = new Uint8Array(1 + contextLength + payload.length);
  out[0] = code;
  if (context !== undefined) out.set(context, 1);
  out.set(payload, 1 + contextLength);
  return out;
}

/** An error chunk: a non-zero code and the message (UTF-8, cut to 256 bytes), no context bytes. */
export function encodeErrorChunk(code: number, message: string): Uint8Array {
  if (code === 0 || code > 255) throw new RangeError(`error code ${code}`);
  return encodeResponseChunk(code, truncateUtf8(message, MAX_ERROR_MESSAGE_SIZE));
}

/** UTF-8 bytes of `text`, cut at a character boundary to at most `max` bytes. */
export function truncateUtf8(text: string, max: number): Uint8Array {
  const bytes = new TextEncoder().encode(text);
  if (bytes.length <= max) return bytes;
  let end = max;
  while (end > 0 && (bytes[end] & 0xc0) === 0x80) end--;
  return bytes.subarray(0, end);
}

// --- decoding from a stream ----------------------------------------------------------------

/**
 * Reads `varint(len) | frames(ssz)` from `reader` and returns the SSZ bytes. Checks the length
 * against `bounds` before reading the frames, each frame's size against the remaining budget of
 * `max_compressed_len(len)` before reading it, and the decompressed size before decompressing.
 * Throws EncodingError (or the reader's signal reason on timeout).
 */
export async function readPayload(reader: StreamReader, bounds: SszBounds): Promise<Uint8Array> {
  const varint = new VarintDecoder();
  for (;;) {
    const byte = await reader.readByte();
    if (byte === undefined)
      throw new EncodingError(EncodingErrorCode.EARLY_EOF, "stream ended inside the length prefix");
    if (varint.push(byte)) break;
  }
  const length = varint.result;
  checkLength(length, bounds);
  const budget = maxCompressedLen(length);
  if (length === 0) {
    // An empty payload may come with a bare stream identifier, or with nothing.
    const next = await reader.peek(STREAM_IDENTIFIER.length);
    if (next.length === STREAM_IDENTIFIER.length && next.every((b, i) => b === STREAM_IDENTIFIER[i]))
      reader.skip(STREAM_IDENTIFIER.length);
    return new Uint8Array(0);
  }
  const decoder = new FrameDecoder(length);
  let consumed = 0;
  while (!decoder.done) {
    const header = await reader.readExact(4, "a snappy chunk header");
    const type = header[0];
    const size = header[1] | (header[2] << 8) | (header[3] << 16);
    consumed += 4 + size;
    if (consumed > budget)
      throw new EncodingError(
        EncodingErrorCode.COMPRESSED_TOO_LONG,
        `framed payload exceeds max_compressed_len(${length}) = ${budget} bytes`,
      );
    if (isDataChunk(type) && size > MAX_DATA_CHUNK_BODY)
      throw new EncodingError(EncodingErrorCode.BAD_FRAME, `data chunk of ${size} bytes`);
    decoder.chunk(type, await reader.readExact(size, "a snappy chunk"));
  }
  return decoder.output;
}

/** One response chunk as read from a stream. */
export interface ResponseChunk {
  code: number;
  /** Context bytes (success chunks of fork-versioned types only). */
  context: Uint8Array | undefined;
  /** SSZ bytes of the payload, or the ErrorMessage bytes for an error chunk. */
  data: Uint8Array;
}

/**
 * Reads the next response chunk, or undefined if the stream ended cleanly before it. Success
 * chunks are read with `contextBytes` bytes of context and `bounds`; error chunks with no context
 * and the ErrorMessage bounds.
 */
export async function readResponseChunk(
  reader: StreamReader,
  opts: { contextBytes: number; bounds: SszBounds },
): Promise<ResponseChunk | undefined> {
  const code = await reader.readByte();
  if (code === undefined) return undefined;
  if (code !== 0) {
    return { code, context: undefined, data: await readPayload(reader, ERROR_MESSAGE_BOUNDS) };
  }
  const context =
    opts.contextBytes > 0 ? await reader.readExact(opts.contextBytes, "the context bytes") : undefined;
  return { code, context, data: await readPayload(reader, opts.bounds) };
}

// --- decoding whole buffers ----------------------------------------------------------------

/** Decodes a complete `varint(len) | frames(ssz)` buffer (nothing may follow). Throws EncodingError. */
export function decodePayload(bytes: Uint8Array, bounds: SszBounds): Uint8Array {
  const { value: length, length: prefix } = decodeVarint(bytes);
  checkLength(length, bounds);
  const rest = bytes.subarray(prefix);
  if (rest.length > maxCompressedLen(length))
    throw new EncodingError(
      EncodingErrorCode.COMPRESSED_TOO_LONG,
      `framed payload exceeds max_compressed_len(${length})`,
    );
  return decodeFrames(rest, length);
}

/** The error message of an error chunk, as text (invalid UTF-8 replaced, control characters dropped). */
export function errorMessageText(bytes: Uint8Array): string {
  const text = new TextDecoder("utf-8", { fatal: false }).decode(bytes);
  let out = "";
  for (const ch of text) {
    const c = ch.codePointAt(0) ?? 0;
    out += c < 0x20 || c === 0x7f ? " " : ch;
  }
  return out.trim();
}
