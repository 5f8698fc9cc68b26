import { ssz } from "@lodestar/types";
import { describe, expect, it } from "vitest";
import { crc32c, maskedCrc32c } from "./crc32c.ts";
import { EncodingErrorCode } from "./errors.ts";
import { StreamReader } from "./reader.ts";
import {
  ChunkType,
  compressBlock,
  decodeFrames,
  encodeFrames,
  MAX_CHUNK_DATA,
  STREAM_IDENTIFIER,
  snappyBlockLength,
  uncompressBlock,
} from "./snappy.ts";
import {
  decodePayload,
  encodeErrorChunk,
  encodePayload,
  encodeResponseChunk,
  errorMessageText,
  MAX_PAYLOAD_SIZE,
  maxCompressedLen,
  readPayload,
  readResponseChunk,
  sszBounds,
} from "./ssz-snappy.ts";
import { decodeVarint, encodeVarint, varintLength } from "./varint.ts";

const hex = (s: string) => Uint8Array.from(Buffer.from(s.replace(/^0x/, ""), "hex"));
const toHex = (b: Uint8Array) => Buffer.from(b).toString("hex");
const ascii = (s: string) => new TextEncoder().encode(s);

/** A reader over fixed pieces (as a stream would deliver them). */
function reader(...pieces: Uint8Array[]): StreamReader {
  return new StreamReader(
    (async function* () {
      for (const p of pieces) yield p;
    })(),
  );
}

/** Bytes split into 1-byte pieces: every read crosses piece boundaries. */
function trickle(bytes: Uint8Array): StreamReader {
  return reader(...Array.from(bytes, (b) => Uint8Array.of(b)));
}

function frame(type: number, body: Uint8Array): Uint8Array {
  const out = new Uint8Array(4 + body.length);
  out[0] = type;
  out[1] = body.length & 0xff;
  out[2] = (body.length >>> 8) & 0xff;
  out[3] = (body.length >>> 16) & 0xff;
  out.set(body, 4);
  return out;
}

function dataFrame(type: number, data: Uint8Array, crcOf = data): Uint8Array {
  const body = new Uint8Array(4 + data.length);
  new DataView(body.buffer).setUint32(0, maskedCrc32c(crcOf), true);
  body.set(data, 4);
  return frame(type, body);
}

function concat(...parts: Uint8Array[]): Uint8Array {
  return Uint8Array.from(Buffer.concat(parts));
}

function pseudoRandom(n: number, seed = 1): Uint8Array {
  const out = new Uint8Array(n);
  let x = seed;
  for (let i = 0; i < n; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    out[i] = x >>> 24;
  }
  return out;
}

async function codeOf(p: Promise<unknown>): Promise<string | undefined> {
  try {
    await p;
    return undefined;
  } catch (err) {
    return (err as { code?: string }).code;
  }
}

function syncCodeOf(f: () => unknown): string | undefined {
  try {
    f();
    return undefined;
  } catch (err) {
    return (err as { code?: string }).code;
  }
}

describe("crc32c", () => {
  it("matches the standard check value and the iSCSI (RFC 3720) vectors", () => {
    expect(crc32c(ascii("123456789"))).toBe(0xe3069283);
    expect(crc32c(new Uint8Array(32))).toBe(0x8a9136aa);
    expect(crc32c(new Uint8Array(32).fill(0xff))).toBe(0x62a8ab43);
    expect(crc32c(Uint8Array.from({ length: 32 }, (_, i) => i))).toBe(0x46dd794e);
    expect(crc32c(Uint8Array.from({ length: 32 }, (_, i) => 31 - i))).toBe(0x113fdb5c);
    expect(crc32c(new Uint8Array(0))).toBe(0);
  });

  it("continues over split input and agrees with a bytewise reference at every length", () => {
    const data = pseudoRandom(1000);
    expect(crc32c(data.subarray(300), crc32c(data.subarray(0, 300)))).toBe(crc32c(data));
    const bytewise = (d: Uint8Array) => {
      let c = 0xffffffff;
      for (const b of d) {
        c ^= b;
        for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
      }
      return ~c >>> 0;
    };
    for (let n = 0; n < 40; n++)
      expect(crc32c(data.subarray(3, 3 + n))).toBe(bytewise(data.subarray(3, 3 + n)));
  });
});

describe("varint", () => {
  it("encodes and decodes LEB128", () => {
    const cases: [number, string][] = [
      [0, "00"],
      [1, "01"],
      [127, "7f"],
      [128, "8001"],
      [300, "ac02"],
      [16_384, "808001"],
      [MAX_PAYLOAD_SIZE, "8080800500".slice(0, 8)],
      [2 ** 53 - 1, "ffffffffffffff0f"],
    ];
    for (const [value, bytes] of cases) {
      expect(toHex(encodeVarint(value))).toBe(bytes);
      expect(varintLength(value)).toBe(bytes.length / 2);
      expect(decodeVarint(hex(bytes))).toEqual({ value, length: bytes.length / 2 });
    }
    // uint64 max: ten bytes, the last carrying bit 63.
    expect(decodeVarint(hex("ffffffffffffffffff01")).length).toBe(10);
    expect(decodeVarint(hex("ffffffffffffffffff01")).value).toBeGreaterThan(MAX_PAYLOAD_SIZE);
    expect(() => encodeVarint(-1)).toThrow(RangeError);
  });

  it("rejects varints longer than 10 bytes, above 2^64 - 1, unterminated or not minimal", () => {
    expect(syncCodeOf(() => decodeVarint(hex("ffffffffffffffffff8001")))).toBe(
      EncodingErrorCode.VARINT_TOO_LONG,
    );
    expect(syncCodeOf(() => decodeVarint(hex("ffffffffffffffffff02")))).toBe(
      EncodingErrorCode.VARINT_OVERFLOW,
    );
    expect(syncCodeOf(() => decodeVarint(hex("8080")))).toBe(EncodingErrorCode.EARLY_EOF);
    expect(syncCodeOf(() => decodeVarint(hex("8000")))).toBe(EncodingErrorCode.VARINT_NOT_MINIMAL);
    expect(syncCodeOf(() => decodeVarint(hex("ff00")))).toBe(EncodingErrorCode.VARINT_NOT_MINIMAL);
  });
});

describe("snappy blocks", () => {
  it("round-trips and validates lengths exactly", () => {
    for (const data of [new Uint8Array(0), ascii("hello"), new Uint8Array(70_000), pseudoRandom(5000)]) {
      const block = compressBlock(data);
      expect(snappyBlockLength(block)).toBe(data.length);
      expect(uncompressBlock(block)).toEqual(data);
    }
  });

  it("rejects truncated, overlong and out-of-range bitstreams", () => {
    const block = compressBlock(new Uint8Array(1000).fill(7));
    expect(syncCodeOf(() => uncompressBlock(block.subarray(0, block.length - 1)))).toBe(
      EncodingErrorCode.BAD_SNAPPY_BLOCK,
    );
    // Preamble says 10 bytes, a literal of 5 follows: short output.
    expect(syncCodeOf(() => uncompressBlock(hex("0a1068656c6c6f")))).toBe(EncodingErrorCode.BAD_SNAPPY_BLOCK);
    // Preamble says 3, the literal holds 5: long output.
    expect(syncCodeOf(() => uncompressBlock(hex("031068656c6c6f")))).toBe(EncodingErrorCode.BAD_SNAPPY_BLOCK);
    // A copy reaching before the start of the output.
    expect(syncCodeOf(() => uncompressBlock(hex("0a00610a05")))).toBe(EncodingErrorCode.BAD_SNAPPY_BLOCK);
    // Announces more than allowed.
    expect(syncCodeOf(() => uncompressBlock(block, 999))).toBe(EncodingErrorCode.BAD_SNAPPY_BLOCK);
    expect(syncCodeOf(() => uncompressBlock(hex("ffffffffff0f")))).toBe(EncodingErrorCode.BAD_SNAPPY_BLOCK);
  });
});

describe("snappy framing", () => {
  it("matches known vectors (uncompressed and compressed chunks)", () => {
    // "hello" is stored uncompressed (compression would not save an eighth).
    expect(toHex(encodeFrames(ascii("hello")))).toBe(`${toHex(STREAM_IDENTIFIER)}01090000bb1f1c1968656c6c6f`);
    expect(decodeFrames(hex("ff060000734e6150705901090000bb1f1c1968656c6c6f"), 5)).toEqual(ascii("hello"));
    // A compressed chunk from another implementation (a Status of 0xda bytes, 84 bytes).
    const status = decodeFrames(
      hex("ff060000734e61507059001b0000097802c15400da8a010004090009017e2b001c0900000000000000"),
      84,
    );
    expect(ssz.phase0.Status.deserialize(status)).toEqual({
      forkDigest: new Uint8Array(4).fill(0xda),
      finalizedRoot: new Uint8Array(32).fill(0xda),
      finalizedEpoch: 9,
      headRoot: new Uint8Array(32).fill(0xda),
      headSlot: 9,
    });
  });

  it("round-trips payloads across chunk boundaries, compressible or not", () => {
    for (const n of [0, 1, MAX_CHUNK_DATA - 1, MAX_CHUNK_DATA, MAX_CHUNK_DATA + 1, 3 * MAX_CHUNK_DATA + 17]) {
      for (const data of [new Uint8Array(n).fill(0x5a), pseudoRandom(n, n + 1)]) {
        const framed = encodeFrames(data);
        expect(decodeFrames(framed, n)).toEqual(data);
      }
    }
    // Incompressible data is stored raw: overhead is the identifier and 8 bytes per chunk.
    expect(encodeFrames(pseudoRandom(2 * MAX_CHUNK_DATA)).length).toBe(10 + 2 * (8 + MAX_CHUNK_DATA));
  });

  it("skips padding and skippable chunks, accepts repeated identifiers", () => {
    const data = ascii("payload");
    const framed = concat(
      STREAM_IDENTIFIER,
      frame(ChunkType.PADDING, new Uint8Array(3)),
      frame(0x80, ascii("skip me")),
      STREAM_IDENTIFIER,
      dataFrame(ChunkType.UNCOMPRESSED, data),
    );
    expect(decodeFrames(framed, data.length)).toEqual(data);
  });

  it("rejects malformed frames", () => {
    const data = ascii("some data!");
    const good = dataFrame(ChunkType.UNCOMPRESSED, data);
    const cases: [Uint8Array, string][] = [
      // no stream identifier first
      [good, EncodingErrorCode.BAD_STREAM_IDENTIFIER],
      // malformed identifier
      [concat(frame(0xff, ascii("sNaPpX")), good), EncodingErrorCode.BAD_STREAM_IDENTIFIER],
      // reserved unskippable chunk type
      [concat(STREAM_IDENTIFIER, frame(0x02, new Uint8Array(4)), good), EncodingErrorCode.RESERVED_FRAME],
      // wrong checksum
      [
        concat(STREAM_IDENTIFIER, dataFrame(ChunkType.UNCOMPRESSED, data, ascii("other data"))),
        EncodingErrorCode.BAD_CHECKSUM,
      ],
      // compressed chunk with a wrong checksum
      [
        concat(STREAM_IDENTIFIER, frame(0x00, concat(new Uint8Array(4), compressBlock(data)))),
        EncodingErrorCode.BAD_CHECKSUM,
      ],
      // data chunk without a checksum
      [concat(STREAM_IDENTIFIER, frame(0x01, new Uint8Array(2))), EncodingErrorCode.BAD_FRAME],
      // truncated chunk
      [concat(STREAM_IDENTIFIER, good.subarray(0, good.length - 1)), EncodingErrorCode.EARLY_EOF],
      // more data than announced
      [concat(STREAM_IDENTIFIER, good, good), EncodingErrorCode.EXCEEDS_LENGTH],
      // trailing bytes after the payload
      [concat(STREAM_IDENTIFIER, good, frame(0xfe, new Uint8Array(1))), EncodingErrorCode.TRAILING_BYTES],
      // an uncompressed chunk above 64 KiB
      [
        concat(STREAM_IDENTIFIER, dataFrame(0x01, new Uint8Array(MAX_CHUNK_DATA + 1))),
        EncodingErrorCode.BAD_FRAME,
      ],
    ];
    for (const [bytes, code] of cases) {
      const expected = code === EncodingErrorCode.EXCEEDS_LENGTH ? data.length + 5 : data.length;
      const len =
        code === EncodingErrorCode.BAD_FRAME && bytes.length > 70_000 ? MAX_CHUNK_DATA + 1 : expected;
      expect(syncCodeOf(() => decodeFrames(bytes, len))).toBe(code);
    }
  });

  it("refuses a compressed chunk announcing more than the expected length before decompressing", () => {
    const big = new Uint8Array(60_000);
    const framed = concat(STREAM_IDENTIFIER, dataFrame(ChunkType.COMPRESSED, compressBlock(big), big));
    // The header is honest about the chunk, but the length prefix said 100 bytes.
    expect(syncCodeOf(() => decodeFrames(framed, 100))).toBe(EncodingErrorCode.EXCEEDS_LENGTH);
    // A chunk body cannot claim more than 64 KiB of output either.
    const huge = compressBlock(new Uint8Array(MAX_CHUNK_DATA + 1));
    const bad = concat(STREAM_IDENTIFIER, frame(0x00, concat(new Uint8Array(4), huge)));
    expect(syncCodeOf(() => decodeFrames(bad, MAX_CHUNK_DATA + 1))).toBe(EncodingErrorCode.BAD_FRAME);
  });
});

describe("ssz_snappy", () => {
  const ping = sszBounds(ssz.phase0.Ping);
  const status = sszBounds(ssz.phase0.Status);
  const metadata = sszBounds(ssz.altair.Metadata);

  it("encodes and decodes known vectors (Ping, altair MetaData, Status)", () => {
    expect(toHex(encodePayload(ssz.phase0.Ping.serialize(1n)))).toBe(
      "08ff060000734e61507059010c00000175de410100000000000000",
    );
    const md = ssz.altair.Metadata.serialize({
      seqNumber: 8n,
      attnets: ssz.altair.Metadata.fields.attnets.defaultValue(),
      syncnets: ssz.altair.Metadata.fields.syncnets.defaultValue(),
    });
    // Another implementation stores these 17 bytes uncompressed; we compress them (both valid).
    const mdVector = hex("11ff060000734e6150705901150000ff4669fc0800000000000000000000000000000000");
    expect(decodePayload(mdVector, metadata)).toEqual(md);
    expect(decodePayload(encodePayload(md), metadata)).toEqual(md);
    const statusBytes = hex(
      "54ff060000734e61507059001b0000097802c15400da8a010004090009017e2b001c0900000000000000",
    );
    const decoded = decodePayload(statusBytes, status);
    expect(ssz.phase0.Status.deserialize(decoded).headSlot).toBe(9);
    expect(decodePayload(encodePayload(decoded), status)).toEqual(decoded);
  });

  it("reads requests and response chunks from a stream, byte by byte", async () => {
    const body = ssz.phase0.Ping.serialize(42n);
    expect(await readPayload(trickle(encodePayload(body)), ping)).toEqual(body);
    const digest = hex("01020304");
    const chunk = encodeResponseChunk(0, body, digest);
    const error = encodeErrorChunk(3, "no such block");
    const r = trickle(concat(chunk, error));
    const first = await readResponseChunk(r, { contextBytes: 4, bounds: ping });
    expect(first).toEqual({ code: 0, context: digest, data: body });
    const second = await readResponseChunk(r, { contextBytes: 4, bounds: ping });
    expect(second?.code).toBe(3);
    expect(errorMessageText(second?.data ?? new Uint8Array())).toBe("no such block");
    expect(await readResponseChunk(r, { contextBytes: 4, bounds: ping })).toBeUndefined();
  });

  it("handles empty payloads with or without a stream identifier", async () => {
    const bounds = { min: 0, max: 256 };
    const withId = concat(encodePayload(new Uint8Array(0)), Uint8Array.of(7));
    expect(toHex(encodePayload(new Uint8Array(0)))).toBe(`00${toHex(STREAM_IDENTIFIER)}`);
    const r1 = reader(withId);
    expect(await readPayload(r1, bounds)).toEqual(new Uint8Array(0));
    expect(await r1.readByte()).toBe(7);
    const r2 = reader(Uint8Array.of(0, 7));
    expect(await readPayload(r2, bounds)).toEqual(new Uint8Array(0));
    expect(await r2.readByte()).toBe(7);
    // An empty error message.
    const r3 = reader(encodeErrorChunk(2, ""));
    expect((await readResponseChunk(r3, { contextBytes: 0, bounds }))?.data).toEqual(new Uint8Array(0));
  });

  it("rejects lengths outside the type's bounds or above MAX_PAYLOAD_SIZE before reading frames", async () => {
    // Ping is exactly 8 bytes.
    expect(await codeOf(readPayload(reader(encodePayload(new Uint8Array(9))), ping))).toBe(
      EncodingErrorCode.LENGTH_OUT_OF_BOUNDS,
    );
    expect(await codeOf(readPayload(reader(encodePayload(new Uint8Array(7))), ping))).toBe(
      EncodingErrorCode.LENGTH_OUT_OF_BOUNDS,
    );
    // MetaData is 17 bytes: 16 is too short even though the frames are valid.
    expect(await codeOf(readPayload(reader(encodePayload(new Uint8Array(16))), metadata))).toBe(
      EncodingErrorCode.LENGTH_OUT_OF_BOUNDS,
    );
    // A length prefix of 1 GiB with no frames behind it: rejected from the prefix alone.
    const unbounded = { min: 0, max: Number.MAX_SAFE_INTEGER };
    expect(await codeOf(readPayload(reader(encodeVarint(2 ** 30)), unbounded))).toBe(
      EncodingErrorCode.LENGTH_OUT_OF_BOUNDS,
    );
    expect(await codeOf(readPayload(reader(hex("ffffffffffffffffff01")), unbounded))).toBe(
      EncodingErrorCode.LENGTH_OUT_OF_BOUNDS,
    );
    expect(await codeOf(readPayload(reader(hex("ffffffffffffffffffff01")), unbounded))).toBe(
      EncodingErrorCode.VARINT_TOO_LONG,
    );
    expect(() => encodePayload(new Uint8Array(MAX_PAYLOAD_SIZE + 1))).toThrow(/MAX_PAYLOAD_SIZE/);
  });

  it("rejects frames beyond max_compressed_len, beyond the length, truncated or corrupt", async () => {
    const body = ssz.phase0.Ping.serialize(1n);
    // Padding that pushes the framed size past max_compressed_len(8) = 41 bytes.
    const padded = concat(
      encodeVarint(8),
      STREAM_IDENTIFIER,
      frame(0xfe, new Uint8Array(20)),
      dataFrame(ChunkType.UNCOMPRESSED, body),
    );
    expect(maxCompressedLen(8)).toBe(41);
    expect(await codeOf(readPayload(reader(padded), ping))).toBe(EncodingErrorCode.COMPRESSED_TOO_LONG);
    // Frames holding 16 bytes behind a prefix of 8.
    const long = concat(encodeVarint(8), STREAM_IDENTIFIER, dataFrame(0x01, new Uint8Array(16)));
    expect(await codeOf(readPayload(reader(long), ping))).toBe(EncodingErrorCode.EXCEEDS_LENGTH);
    // Stream ends inside the frames.
    const full = encodePayload(body);
    expect(await codeOf(readPayload(reader(full.subarray(0, full.length - 2)), ping))).toBe(
      EncodingErrorCode.EARLY_EOF,
    );
    const corrupt = Uint8Array.from(full);
    corrupt[corrupt.length - 1] ^= 1;
    expect(await codeOf(readPayload(reader(corrupt), ping))).toBe(EncodingErrorCode.BAD_CHECKSUM);
    // A frame header announcing a 16 MiB data chunk is refused before its body is awaited.
    const huge = concat(encodeVarint(8), STREAM_IDENTIFIER, hex("01ffffff"));
    expect(await codeOf(readPayload(reader(huge), ping))).toBe(EncodingErrorCode.COMPRESSED_TOO_LONG);
    // A whole buffer with bytes after the payload.
    expect(syncCodeOf(() => decodePayload(concat(full, Uint8Array.of(0)), ping))).toBe(
      EncodingErrorCode.TRAILING_BYTES,
    );
  });

  it("cuts error messages to 256 bytes at a character boundary", async () => {
    const chunk = encodeErrorChunk(1, "é".repeat(200));
    const read = await readResponseChunk(reader(chunk), { contextBytes: 0, bounds: ping });
    expect(read?.data.length).toBe(256);
    expect(errorMessageText(read?.data ?? new Uint8Array())).toBe("é".repeat(128));
  });

  it("stops waiting when the reader's signal aborts", async () => {
    const never = new StreamReader({
      [Symbol.asyncIterator]: () => ({ next: () => new Promise<IteratorResult<Uint8Array>>(() => {}) }),
    });
    const controller = new AbortController();
    never.signal = controller.signal;
    const read = never.readByte();
    controller.abort(new Error("deadline"));
    await expect(read).rejects.toThrow("deadline");
  });
});
