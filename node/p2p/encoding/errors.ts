/**
 * Errors of the p2p wire encodings (varints, snappy framing, `ssz_snappy` payloads). Every
 * malformed, oversize or truncated input is one of these codes; the req/resp layer maps them to
 * `InvalidRequest` answers (requests) or rejected responses (responses).
 */
import { OpenGpuError } from "../../utils/errors.ts";

export const EncodingErrorCode = {
  /** A varint runs longer than 10 bytes (more than any uint64 needs). */
  VARINT_TOO_LONG: "ENCODING_VARINT_TOO_LONG",
  /** A varint carries redundant trailing zero groups (not minimally encoded). */
  VARINT_NOT_MINIMAL: "ENCODING_VARINT_NOT_MINIMAL",
  /** A 10-byte varint encodes a value above 2^64 - 1. */
  VARINT_OVERFLOW: "ENCODING_VARINT_OVERFLOW",
  /** The input ended in the middle of a varint, a frame or a payload. */
  EARLY_EOF: "ENCODING_EARLY_EOF",
  /** Bytes follow a complete payload where none may. */
  TRAILING_BYTES: "ENCODING_TRAILING_BYTES",
  /** A length prefix is outside the SSZ type's bounds or above MAX_PAYLOAD_SIZE. */
  LENGTH_OUT_OF_BOUNDS: "ENCODING_LENGTH_OUT_OF_BOUNDS",
  /** The framed payload used more bytes than `max_compressed_len` of its announced length. */
  COMPRESSED_TOO_LONG: "ENCODING_COMPRESSED_TOO_LONG",
  /** The first frame is not the snappy stream identifier, or an identifier frame is malformed. */
  BAD_STREAM_IDENTIFIER: "ENCODING_BAD_STREAM_IDENTIFIER",
  /** A reserved unskippable frame type (0x02-0x7f). */
  RESERVED_FRAME: "ENCODING_RESERVED_FRAME",
  /** A data frame is malformed or holds more than 65,536 uncompressed bytes. */
  BAD_FRAME: "ENCODING_BAD_FRAME",
  /** The frames decompress to more bytes than the length prefix announced. */
  EXCEEDS_LENGTH: "ENCODING_EXCEEDS_LENGTH",
  /** A frame's masked CRC32C does not match its uncompressed data. */
  BAD_CHECKSUM: "ENCODING_BAD_CHECKSUM",
  /** A snappy block is not a valid snappy bitstream. */
  BAD_SNAPPY_BLOCK: "ENCODING_BAD_SNAPPY_BLOCK",
} as const;
export type EncodingErrorCode = (typeof EncodingErrorCode)[keyof typeof EncodingErrorCode];

export class EncodingError extends OpenGpuError<EncodingErrorCode> {
  override name = "EncodingError";
}
