/**
 * Gossip message encoding (consensus p2p spec, "Encodings" and "Topics and messages"): SSZ
 * payloads compressed as ONE snappy block (not the framed format req/resp uses), at most
 * MAX_PAYLOAD_SIZE bytes uncompressed, and the Altair+ message id:
 *
 *   valid snappy:   SHA256(0x01000000 ‖ uint64_le(len(topic)) ‖ topic ‖ snappy_decompress(data))[:20]
 *   invalid snappy: SHA256(0x00000000 ‖ uint64_le(len(topic)) ‖ topic ‖ data)[:20]
 *
 * Compression uses snappyjs. Decompression is our own strict decoder: snappyjs accepts streams
 * that stop short of their declared length (zero-filling the rest) or overrun it (dropping the
 * excess), so the same payload could travel under many encodings and ids; here any stream that
 * does not produce exactly its declared length is invalid.
 *
 * Gossipsub applies `GossipDataTransform` to every message, so the message-id function and the
 * topic validators see decompressed bytes; a message that does not decompress never reaches
 * them and its sender is penalized by gossipsub itself (P4, invalid message).
 */
import { createHash } from "node:crypto";
import { createRequire } from "node:module";
import type { Message } from "@libp2p/gossipsub";
import type { RPC } from "@libp2p/gossipsub/message";
import type { DataTransform } from "@libp2p/gossipsub/types";
import { GossipError, GossipErrorCode } from "./errors.ts";

const require = createRequire(import.meta.url);
const snappyjs = require("snappyjs") as { compress(data: Uint8Array): Uint8Array };

/** Spec MAX_PAYLOAD_SIZE: largest uncompressed gossip payload (10 MiB). */
export const MAX_PAYLOAD_SIZE = 10 * 2 ** 20;
export const MESSAGE_DOMAIN_VALID_SNAPPY = Uint8Array.of(1, 0, 0, 0);
export const MESSAGE_DOMAIN_INVALID_SNAPPY = Uint8Array.of(0, 0, 0, 0);
export const MESSAGE_ID_LENGTH = 20;

/** Spec max_compressed_len: worst-case snappy output for `n` input bytes. */
export function maxCompressedLength(n: number): number {
  return 32 + n + Math.floor(n / 6);
}

/** Spec max_message_size: the largest gossipsub `data` field accepted (compressed, with framing). */
export function maxMessageSize(): number {
  return Math.max(maxCompressedLength(MAX_PAYLOAD_SIZE) + 1024, 1024 * 1024);
}

/** One snappy block (the raw format, no framing). */
export function snappyCompress(data: Uint8Array): Uint8Array {
  return snappyjs.compress(data);
}

function invalid(reason: string): GossipError {
  return new GossipError(GossipErrorCode.INVALID_SNAPPY, `invalid snappy block: ${reason}`);
}

/**
 * Decompresses one snappy block; throws GossipError (INVALID_SNAPPY, or MESSAGE_TOO_LARGE when
 * the declared length exceeds `maxLength`) for anything but a well-formed block whose elements
 * produce exactly its declared length.
 */
export function snappyUncompress(data: Uint8Array, maxLength = MAX_PAYLOAD_SIZE): Uint8Array {
  let pos = 0;
  let length = 0;
  for (let shift = 0; ; shift += 7) {
    if (pos >= data.length) throw invalid("truncated length");
    if (shift > 28) throw invalid("length varint too long");
    const byte = data[pos++];
    length += (byte & 0x7f) * 2 ** shift;
    if (byte < 0x80) break;
  }
  if (length > 0xffffffff) throw invalid("length over 2^32");
  if (length > maxLength) {
    throw new GossipError(
      GossipErrorCode.MESSAGE_TOO_LARGE,
      `snappy block declares ${length} bytes, limit ${maxLength}`,
    );
  }
  const out = new Uint8Array(length);
  let o = 0;
  while (pos < data.length) {
    const tag = data[pos++];
    const kind = tag & 3;
    if (kind === 0) {
      // Literal: length-1 in the tag's upper 6 bits, or in the next 1-4 bytes (60..63).
      let len = tag >>> 2;
      if (len >= 60) {
        const bytes = len - 59;
        if (pos + bytes > data.length) throw invalid("truncated literal length");
        len = 0;
        for (let i = 0; i < bytes; i++) len += data[pos + i] * 2 ** (8 * i);
        pos += bytes;
      }
      len += 1;
      if (pos + len > data.length) throw invalid("truncated literal");
      if (o + len > length) throw invalid("literal overruns the declared length");
      out.set(data.subarray(pos, pos + len), o);
      pos += len;
      o += len;
      continue;
    }
    let len: number;
    let offset: number;
    if (kind === 1) {
      if (pos + 1 > data.length) throw invalid("truncated copy");
      len = ((tag >>> 2) & 7) + 4;
      offset = ((tag >>> 5) << 8) | data[pos];
      pos += 1;
    } else if (kind === 2) {
      if (pos + 2 > data.length) throw invalid("truncated copy");
      len = (tag >>> 2) + 1;
      offset = data[pos] | (data[pos + 1] << 8);
      pos += 2;
    } else {
      if (pos + 4 > data.length) throw invalid("truncated copy");
      len = (tag >>> 2) + 1;
      offset = (data[pos] | (data[pos + 1] << 8) | (data[pos + 2] << 16)) + data[pos + 3] * 2 ** 24;
      pos += 4;
    }
    if (offset === 0 || offset > o) throw invalid("copy offset outside the output");
    if (o + len > length) throw invalid("copy overruns the declared length");
    // Byte by byte: source and destination overlap when offset < len (run-length copies).
    for (let i = 0; i < len; i++) out[o + i] = out[o - offset + i];
    o += len;
  }
  if (o !== length) throw invalid(`produced ${o} of ${length} declared bytes`);
  return out;
}

function messageIdOf(domain: Uint8Array, topic: string, data: Uint8Array): Uint8Array {
  const topicBytes = Buffer.from(topic, "utf8");
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(topicBytes.length));
  const hash = createHash("sha256").update(domain).update(len).update(topicBytes).update(data).digest();
  return new Uint8Array(hash.buffer, hash.byteOffset, MESSAGE_ID_LENGTH);
}

/** The message id of a message whose data decompressed to `decompressed`. */
export function messageIdOfDecompressed(topic: string, decompressed: Uint8Array): Uint8Array {
  return messageIdOf(MESSAGE_DOMAIN_VALID_SNAPPY, topic, decompressed);
}

/** The spec message id of a gossip message as it travels (`data` snappy-compressed, or not). */
export function computeMessageId(topic: string, data: Uint8Array, maxLength = MAX_PAYLOAD_SIZE): Uint8Array {
  let decompressed: Uint8Array;
  try {
    decompressed = snappyUncompress(data, maxLength);
  } catch {
    return messageIdOf(MESSAGE_DOMAIN_INVALID_SNAPPY, topic, data);
  }
  return messageIdOf(MESSAGE_DOMAIN_VALID_SNAPPY, topic, decompressed);
}

/**
 * gossipsub `msgIdFn`: runs after `GossipDataTransform.inboundTransform` (received messages) or
 * on the uncompressed data (our own publications), so `msg.data` is always decompressed.
 */
export function gossipMessageId(msg: Message): Uint8Array {
  return messageIdOfDecompressed(msg.topic, msg.data);
}

/**
 * gossipsub `fastMsgIdFn`: a cheap id of the raw (compressed) message for the duplicate cache,
 * so a message seen before is dropped without being decompressed again. The topic is part of
 * it: the same bytes on two topics (a sync committee message on two subnets) are two messages.
 */
export function fastMessageId(msg: RPC.Message): string {
  const hash = createHash("sha1");
  hash.update(msg.topic);
  hash.update(Uint8Array.of(0));
  if (msg.data !== undefined) hash.update(msg.data);
  return hash.digest("base64");
}

/** gossipsub `msgIdToStrFn`: message ids as 0x-hex (as they appear in our logs). */
export function messageIdToString(id: Uint8Array): string {
  return `0x${Buffer.from(id.buffer, id.byteOffset, id.byteLength).toString("hex")}`;
}

/** gossipsub `dataTransform`: snappy on the wire, plain SSZ for everything above it. */
export class GossipDataTransform implements DataTransform {
  private readonly maxPayload: number;

  constructor(maxPayload = MAX_PAYLOAD_SIZE) {
    this.maxPayload = maxPayload;
  }

  inboundTransform(_topic: string, data: Uint8Array): Uint8Array {
    return snappyUncompress(data, this.maxPayload);
  }

  outboundTransform(topic: string, data: Uint8Array): Uint8Array {
    if (data.length > this.maxPayload) {
      throw new GossipError(
        GossipErrorCode.MESSAGE_TOO_LARGE,
        `message of ${data.length} bytes for ${topic} exceeds ${this.maxPayload}`,
      );
    }
    return snappyCompress(data);
  }
}
