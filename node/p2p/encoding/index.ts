/** Wire encodings of the p2p layer: CRC-32C, varints, snappy (blocks and framing), `ssz_snappy`. */
export { crc32c, maskCrc, maskedCrc32c } from "./crc32c.ts";
export { EncodingError, EncodingErrorCode } from "./errors.ts";
export { raceSignal, StreamReader } from "./reader.ts";
export {
  compressBlock,
  decodeFrames,
  encodeFrames,
  FrameDecoder,
  MAX_CHUNK_DATA,
  STREAM_IDENTIFIER,
  snappyBlockLength,
  uncompressBlock,
} from "./snappy.ts";
export {
  decodePayload,
  ERROR_MESSAGE_BOUNDS,
  encodeErrorChunk,
  encodePayload,
  encodeRequest,
  encodeResponseChunk,
  errorMessageText,
  FORK_DIGEST_CONTEXT_BYTES,
  MAX_ERROR_MESSAGE_SIZE,
  MAX_PAYLOAD_SIZE,
  maxCompressedLen,
  type ResponseChunk,
  readPayload,
  readResponseChunk,
  type SszBounds,
  sszBounds,
  truncateUtf8,
} from "./ssz-snappy.ts";
export { decodeVarint, encodeVarint, MAX_VARINT_BYTES, VarintDecoder, varintLength } from "./varint.ts";
