import { createHash, randomBytes } from "node:crypto";
import { createRequire } from "node:module";
import { describe, expect, it } from "vitest";
import {
  computeMessageId,
  GossipDataTransform,
  maxCompressedLength,
  messageIdOfDecompressed,
  snappyCompress,
  snappyUncompress,
} from "./encoding.ts";
import { GossipError } from "./errors.ts";
import { parseTopic, topicString } from "./topics.ts";

const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");
const snappyjs = createRequire(import.meta.url)("snappyjs") as { uncompress(d: Uint8Array): Uint8Array };

describe("gossip message id", () => {
  // Vectors published with the Ethereum lean consensus spec (leanSpec) and zeam, whose gossip
  // message id is the Altair formula: SHA256(domain ‖ uint64_le(len(topic)) ‖ topic ‖ data)[:20].
  it("matches the published vectors for valid and invalid snappy", () => {
    const hello = new TextEncoder().encode("hello");
    expect(hex(computeMessageId("test", snappyCompress(hello)))).toBe(
      "2e40c861545cc5b46d2220062e7440b9190bc383",
    );
    expect(hex(computeMessageId("test", hello))).toBe("a7f41aaccd241477955c981714eb92244c2efc98");
  });

  it("hashes the valid-snappy domain, the topic length, the topic and the decompressed data", () => {
    const topic = topicString("eth2", "4f470005", "beacon_block");
    const payload = randomBytes(3000);
    const expected = createHash("sha256")
      .update(Buffer.concat([Buffer.from([1, 0, 0, 0]), Buffer.from([topic.length, 0, 0, 0, 0, 0, 0, 0])]))
      .update(topic)
      .update(payload)
      .digest()
      .subarray(0, 20);
    const id = computeMessageId(topic, snappyCompress(payload));
    expect(id.length).toBe(20);
    expect(hex(id)).toBe(hex(expected));
    expect(hex(messageIdOfDecompressed(topic, payload))).toBe(hex(expected));
    // Another topic, another id: the same payload on two subnets is two messages.
    expect(
      hex(computeMessageId(topic.replace("beacon_block", "voluntary_exit"), snappyCompress(payload))),
    ).not.toBe(hex(expected));
  });
});

describe("snappy block encoding", () => {
  it("round-trips random, repetitive and empty payloads, agreeing with snappyjs", () => {
    const payloads = [
      new Uint8Array(0),
      randomBytes(1),
      randomBytes(70_000),
      new Uint8Array(100_000).fill(7),
      Buffer.from("abcabcabcabcabcabcabcabc".repeat(5000)),
    ];
    for (const payload of payloads) {
      const compressed = snappyCompress(payload);
      expect(compressed.length).toBeLessThanOrEqual(maxCompressedLength(payload.length));
      expect(hex(snappyUncompress(compressed))).toBe(hex(payload));
      expect(hex(snappyjs.uncompress(compressed))).toBe(hex(payload));
    }
  });

  it("refuses data that is not exactly one well-formed block", () => {
    const good = snappyCompress(Buffer.from("the quick brown fox jumps over the lazy dog ".repeat(20)));
    const bad: [string, Uint8Array][] = [
      ["not snappy at all", new TextEncoder().encode("hello")],
      ["empty", new Uint8Array(0)],
      ["truncated", good.subarray(0, good.length - 3)],
      ["trailing garbage", Buffer.concat([good, Buffer.from([0x00, 0x41])])],
      // Declares 10 bytes, carries a 2-byte literal: snappyjs would zero-fill the rest.
      ["short of its declared length", Uint8Array.of(10, 0x04, 0x61, 0x62)],
      // A copy reaching before the start of the output.
      ["copy before the output", Uint8Array.of(8, 0x00, 0x61, 0x0d, 0x09)],
      ["unterminated length", Uint8Array.of(0xff, 0xff, 0xff, 0xff, 0xff, 0xff)],
    ];
    for (const [why, data] of bad) {
      expect(() => snappyUncompress(data), why).toThrow(GossipError);
      // Such messages get the invalid-snappy message id (domain 0x00000000 over the raw bytes).
      expect(hex(computeMessageId("t", data)), why).toBe(
        hex(
          createHash("sha256")
            .update(Buffer.from([0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0]))
            .update("t")
            .update(data)
            .digest()
            .subarray(0, 20),
        ),
      );
    }
  });

  it("enforces the payload limit before decompressing", () => {
    const transform = new GossipDataTransform(1000);
    const big = snappyCompress(new Uint8Array(1001));
    expect(() => transform.inboundTransform("t", big)).toThrow(/declares 1001 bytes, limit 1000/);
    expect(() => transform.outboundTransform("t", new Uint8Array(1001))).toThrow(GossipError);
    const ok = transform.outboundTransform("t", new Uint8Array(1000).fill(1));
    expect(transform.inboundTransform("t", ok)).toEqual(new Uint8Array(1000).fill(1));
  });
});

describe("gossip topics", () => {
  it("formats and parses /<namespace>/<fork digest>/<name>/ssz_snappy", () => {
    const topic = topicString("eth2", "4f470005", "beacon_attestation_12");
    expect(topic).toBe("/eth2/4f470005/beacon_attestation_12/ssz_snappy");
    expect(parseTopic(topic)).toEqual({
      namespace: "eth2",
      forkDigest: "4f470005",
      name: "beacon_attestation_12",
      encoding: "ssz_snappy",
    });
    expect(parseTopic("/eth2/4f470005/beacon_block")).toBeUndefined();
    expect(parseTopic("eth2/4f470005/beacon_block/ssz_snappy/")).toBeUndefined();
  });
});
