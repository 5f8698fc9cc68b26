import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Stream } from "@libp2p/interface";
import { type altair, type electra, type phase0, ssz } from "@lodestar/types";
import { afterEach, describe, expect, it } from "vitest";
import { createMetrics } from "../../metrics/index.ts";
import { reqRespMetrics } from "../../metrics/reqresp.ts";
import { silentLogger } from "../../utils/logger.ts";
import { StreamReader } from "../encoding/reader.ts";
import {
  encodeErrorChunk,
  encodePayload,
  encodeResponseChunk,
  errorMessageText,
  readResponseChunk,
} from "../encoding/ssz-snappy.ts";
import { encodeVarint } from "../encoding/varint.ts";
import { P2PHost } from "../host.ts";
import { FileBlobStore, MemoryBlobStore, sha256 } from "./blob-store.ts";
import { ReqRespError, ReqRespErrorCode, ResponseCode } from "./errors.ts";
import { BlobChunk, PROTOCOLS } from "./protocols.ts";
import { type ReqRespProvider, servedBlock } from "./provider.ts";
import { ReqResp, type ReqRespModules, type ReqRespOptions } from "./reqresp.ts";

const DIGEST = Uint8Array.of(0x4f, 0x47, 0x00, 0x05);

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function startHost(): Promise<P2PHost> {
  const dir = mkdtempSync(join(tmpdir(), "opengpu-reqresp-"));
  const host = await P2PHost.start(
    { datadir: dir, host: "127.0.0.1", port: 0, bootnodes: [], maxPeers: 10 },
    { logger: silentLogger() },
  );
  cleanups.push(async () => {
    await host.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  return host;
}

/** A chain of minimal Electra blocks at `slots`, each the parent of the next. */
function fakeChain(slots: number[]): electra.SignedBeaconBlock[] {
  const blocks: electra.SignedBeaconBlock[] = [];
  let parent: Uint8Array = new Uint8Array(32);
  for (const slot of slots) {
    const block = ssz.electra.SignedBeaconBlock.defaultValue();
    block.message.slot = slot;
    block.message.parentRoot = parent;
    block.message.proposerIndex = slot % 4;
    parent = ssz.electra.BeaconBlock.hashTreeRoot(block.message);
    blocks.push(block);
  }
  return blocks;
}

const CHAIN = fakeChain([1, 2, 3, 5, 6, 7, 9, 10]);
const rootOf = (b: electra.SignedBeaconBlock) => ssz.electra.BeaconBlock.hashTreeRoot(b.message);

const STATUS: phase0.Status = {
  forkDigest: DIGEST,
  finalizedRoot: new Uint8Array(32).fill(1),
  finalizedEpoch: 1,
  headRoot: rootOf(CHAIN[CHAIN.length - 1]),
  headSlot: 10,
};

function metadataOf(seq: bigint): altair.Metadata {
  const md = ssz.altair.Metadata.defaultValue();
  md.seqNumber = seq;
  md.attnets.set(3, true);
  return md;
}

function fakeProvider(overrides: Partial<ReqRespProvider> = {}): ReqRespProvider {
  return {
    forkDigest: () => DIGEST,
    status: () => STATUS,
    metadata: () => metadataOf(7n),
    blocksByRange: (start, count) =>
      CHAIN.filter((b) => b.message.slot >= start && b.message.slot < start + count).map(servedBlock),
    blocksByRoot: (roots) => {
      const wanted = new Set(roots.map((r) => Buffer.from(r).toString("hex")));
      return CHAIN.filter((b) => wanted.has(Buffer.from(rootOf(b)).toString("hex"))).map(servedBlock);
    },
    ...overrides,
  };
}

interface Node {
  host: P2PHost;
  rr: ReqResp;
}

async function startNode(
  modules: Partial<Omit<ReqRespModules, "host" | "logger">> = {},
  opts: Partial<ReqRespOptions> = {},
): Promise<Node> {
  const host = await startHost();
  const rr = new ReqResp({ host, provider: fakeProvider(), logger: silentLogger(), ...modules }, opts);
  await rr.start();
  cleanups.push(() => rr.stop());
  return { host, rr };
}

async function connect(a: P2PHost, b: P2PHost): Promise<void> {
  await a.libp2p.dial(b.libp2p.getMultiaddrs()[0]);
}

async function pair(
  server: Parameters<typeof startNode> = [],
  client: Parameters<typeof startNode> = [],
): Promise<{ server: Node; client: Node; peer: string }> {
  const s = await startNode(...server);
  const c = await startNode(...client);
  await connect(c.host, s.host);
  return { server: s, client: c, peer: s.host.peerId };
}

/** A host with raw handlers that answer whatever a test wants on the wire. */
async function rogue(handlers: Record<string, (stream: Stream) => Promise<void> | void>): Promise<P2PHost> {
  const host = await startHost();
  for (const [id, handler] of Object.entries(handlers))
    await host.libp2p.handle(id, (stream) => handler(stream));
  return host;
}

async function answer(stream: Stream, ...parts: Uint8Array[]): Promise<void> {
  for (const p of parts) stream.send(p);
  await stream.close();
}

async function rejection(p: Promise<unknown>): Promise<ReqRespError> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(ReqRespError);
    return err as ReqRespError;
  }
  throw new Error("expected a rejection");
}

/** Sends raw request bytes (or nothing) and reads the first response chunk. */
async function rawRequest(
  from: P2PHost,
  to: P2PHost,
  protocol: string,
  bytes: Uint8Array | undefined,
  close = true,
) {
  const stream = await from.libp2p.dialProtocol(to.libp2p.peerId, protocol);
  const reader = new StreamReader(stream);
  if (bytes !== undefined) stream.send(bytes);
  if (close) await stream.close();
  const chunk = await readResponseChunk(reader, { contextBytes: 0, bounds: { min: 0, max: 1 << 20 } });
  stream.abort(new Error("done"));
  return chunk;
}

describe("req/resp between two hosts", () => {
  it("exchanges status, ping, metadata and goodbye", async () => {
    const theirs = { ...STATUS, headSlot: 3, headRoot: new Uint8Array(32).fill(9) };
    const { server, client, peer } = await pair(
      [],
      [{ provider: fakeProvider({ status: () => theirs, metadata: () => metadataOf(2n) }) }],
    );
    const seen: string[] = [];
    server.rr.on("status", (e) => {
      expect(e.peer).toBe(client.host.peerId);
      expect(e.status).toEqual(theirs);
      seen.push("status");
    });
    server.rr.on("ping", (e) => seen.push(`ping ${e.seqNumber}`));
    server.rr.on("goodbye", (e) => seen.push(`goodbye ${e.reason}`));

    expect(await client.rr.status(peer)).toEqual(STATUS);
    expect(await client.rr.ping(peer)).toBe(7n);
    const md = await client.rr.metadata(peer);
    expect(md.seqNumber).toBe(7n);
    expect(md.attnets.getTrueBitIndexes()).toEqual([3]);
    await client.rr.goodbye(peer, 1);
    expect(seen).toEqual(["status", "ping 2", "goodbye 1"]);
  });

  it("requests blocks by range and by root, checked against the request", async () => {
    const { client, peer } = await pair();
    const range = await client.rr.blocksByRange(peer, 2, 6);
    expect(range.map((b) => b.message.slot)).toEqual([2, 3, 5, 6, 7]);
    expect(range.map((b) => ssz.electra.SignedBeaconBlock.serialize(b))).toEqual(
      CHAIN.slice(1, 6).map((b) => ssz.electra.SignedBeaconBlock.serialize(b)),
    );
    expect(await client.rr.blocksByRange(peer, 100, 10)).toEqual([]);
    const unknown = new Uint8Array(32).fill(0xee);
    const byRoot = await client.rr.blocksByRoot(peer, [rootOf(CHAIN[4]), unknown, rootOf(CHAIN[0])]);
    expect(byRoot.map((b) => b.message.slot).sort()).toEqual([1, 6]);
    expect(await client.rr.blocksByRoot(peer, [])).toEqual([]);
    // Refused locally before anything is sent.
    expect((await rejection(client.rr.blocksByRange(peer, 0, 129))).code).toBe(
      ReqRespErrorCode.INVALID_REQUEST,
    );
  });

  it("answers error codes: invalid request, server error, resource unavailable, and names unknown ones", async () => {
    const { server, client, peer } = await pair([
      {
        provider: fakeProvider({
          blocksByRange: () => {
            throw new Error("database on fire");
          },
        }),
      },
    ]);
    const failed = await rejection(client.rr.blocksByRange(peer, 1, 4));
    expect(failed.code).toBe(ReqRespErrorCode.SERVER_ERROR);
    expect(failed.message).toContain("database on fire");
    const missing = await rejection(client.rr.getBlob(peer, sha256(new Uint8Array(1))));
    expect(missing.code).toBe(ReqRespErrorCode.RESOURCE_UNAVAILABLE);
    // step 2 (deprecated) and count 0 are invalid requests.
    const step = ssz.phase0.BeaconBlocksByRangeRequest.serialize({ startSlot: 1, count: 4, step: 2 });
    const answer1 = await rawRequest(
      client.host,
      server.host,
      PROTOCOLS.beaconBlocksByRange.id,
      encodePayload(step),
    );
    expect(answer1?.code).toBe(ResponseCode.INVALID_REQUEST);
    expect(errorMessageText(answer1?.data ?? new Uint8Array())).toContain("step must be 1");
    // Garbage: a status request whose frames fail their checksum.
    const bad = encodePayload(ssz.phase0.Status.serialize(STATUS));
    bad[bad.length - 1] ^= 0xff;
    const answer2 = await rawRequest(client.host, server.host, PROTOCOLS.status.id, bad);
    expect(answer2?.code).toBe(ResponseCode.INVALID_REQUEST);
    expect(errorMessageText(answer2?.data ?? new Uint8Array())).toMatch(
      /malformed status\/1 request.*checksum/,
    );
    // A status request of the wrong size is rejected from its length prefix.
    const short = await rawRequest(
      client.host,
      server.host,
      PROTOCOLS.status.id,
      encodePayload(new Uint8Array(80)),
    );
    expect(errorMessageText(short?.data ?? new Uint8Array())).toContain("outside [84, 84]");

    const weird = await rogue({ [PROTOCOLS.ping.id]: (s) => answer(s, encodeErrorChunk(200, "teapot")) });
    await connect(client.host, weird);
    const unknownCode = await rejection(client.rr.ping(weird.peerId));
    expect(unknownCode.code).toBe(ReqRespErrorCode.UNKNOWN_ERROR_CODE);
    expect(unknownCode.message).toContain("teapot");
  });

  it("times out a responder that never answers (TTFB) or stalls mid-chunk (RESP), and a requester that never asks", async () => {
    const silent = await rogue({
      [PROTOCOLS.status.id]: () => {},
      [PROTOCOLS.ping.id]: (s) => {
        s.send(Uint8Array.of(0, 8)); // code and length, then nothing
      },
    });
    const { server, client } = await pair(
      [{}, { requestTimeoutMs: 200 }],
      [{}, { ttfbTimeoutMs: 200, respTimeoutMs: 300 }],
    );
    await connect(client.host, silent);
    const started = performance.now();
    const ttfb = await rejection(client.rr.status(silent.peerId));
    expect(ttfb.code).toBe(ReqRespErrorCode.TTFB_TIMEOUT);
    expect(performance.now() - started).toBeLessThan(5_000);
    expect((await rejection(client.rr.ping(silent.peerId))).code).toBe(ReqRespErrorCode.RESP_TIMEOUT);
    // A requester that opens a stream and sends nothing: answered "invalid request" after 200 ms.
    const answerOfServer = await rawRequest(client.host, server.host, PROTOCOLS.status.id, undefined, false);
    expect(answerOfServer?.code).toBe(ResponseCode.INVALID_REQUEST);
    expect(errorMessageText(answerOfServer?.data ?? new Uint8Array())).toContain(
      "no complete status/1 request",
    );
  });

  it("rejects oversize, malformed and inconsistent responses", async () => {
    const [wrongDigestBlock, unrequested] = CHAIN;
    const corrupt = encodeResponseChunk(0, ssz.phase0.Ping.serialize(5n));
    corrupt[corrupt.length - 3] ^= 0x10;
    const chunk = (b: electra.SignedBeaconBlock, digest = DIGEST) =>
      encodeResponseChunk(0, ssz.electra.SignedBeaconBlock.serialize(b), digest);
    const evil = await rogue({
      // 85 bytes where a Status is 84.
      [PROTOCOLS.status.id]: (s) => answer(s, encodeResponseChunk(0, new Uint8Array(85))),
      // A corrupt frame.
      [PROTOCOLS.ping.id]: (s) => answer(s, corrupt),
      // A length prefix of 11 MiB for a block, nothing behind it.
      [PROTOCOLS.beaconBlocksByRange.id]: (s) =>
        answer(s, Uint8Array.of(0), DIGEST, encodeVarint(11 * 1024 * 1024)),
      // A block with another fork digest, then an unrequested one.
      [PROTOCOLS.beaconBlocksByRoot.id]: (s) =>
        answer(s, chunk(wrongDigestBlock, Uint8Array.of(1, 1, 1, 1)), chunk(unrequested)),
      // No chunk at all.
      [PROTOCOLS.metadata.id]: (s) => answer(s),
    });
    const client = await startNode();
    await connect(client.host, evil);
    const peer = evil.peerId;
    const expectInvalid = async (p: Promise<unknown>, text: RegExp) => {
      const err = await rejection(p);
      expect(err.code).toBe(ReqRespErrorCode.INVALID_RESPONSE);
      expect(err.message).toMatch(text);
    };
    await expectInvalid(client.rr.status(peer), /outside \[84, 84\]/);
    await expectInvalid(client.rr.ping(peer), /checksum mismatch/);
    await expectInvalid(client.rr.blocksByRange(peer, 0, 10), /payload length 11534336/);
    await expectInvalid(client.rr.blocksByRoot(peer, [rootOf(wrongDigestBlock)]), /fork digest 0x01010101/);
    expect((await rejection(client.rr.metadata(peer))).code).toBe(ReqRespErrorCode.EMPTY_RESPONSE);

    // Blocks out of range, out of order or unlinked.
    const [a, b, c] = CHAIN;
    const evil2 = await rogue({
      [PROTOCOLS.beaconBlocksByRange.id]: (s) => answer(s, chunk(b), chunk(a)),
      [PROTOCOLS.beaconBlocksByRoot.id]: (s) => answer(s, chunk(a), chunk(unrequested)),
    });
    await connect(client.host, evil2);
    await expectInvalid(client.rr.blocksByRange(evil2.peerId, 3, 1), /slot 2 outside/);
    await expectInvalid(client.rr.blocksByRange(evil2.peerId, 1, 5), /not ascending/);
    await expectInvalid(client.rr.blocksByRoot(evil2.peerId, [rootOf(a), rootOf(c)]), /not requested/);
    const unlinked = fakeChain([0, 2]);
    const evil3 = await rogue({
      [PROTOCOLS.beaconBlocksByRange.id]: (s) => answer(s, chunk(CHAIN[0]), chunk(unlinked[1])),
    });
    await connect(client.host, evil3);
    await expectInvalid(client.rr.blocksByRange(evil3.peerId, 1, 5), /does not descend/);
  });

  it("refuses requests over the rate limit and the concurrency limit with clear errors", async () => {
    let release: () => void = () => {};
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    let gated = 0;
    let entered: () => void = () => {};
    const inside = new Promise<void>((resolve) => {
      entered = resolve;
    });
    const { client, peer } = await pair(
      [
        {
          provider: fakeProvider({
            blocksByRoot: async () => {
              gated++;
              entered();
              await gate;
              return [];
            },
          }),
        },
        {
          maxConcurrentRequests: 1,
          rateLimits: {
            ping: { requests: { burst: 2, perSecond: 0.001 } },
            beaconBlocksByRange: { units: { burst: 10, perSecond: 0.001 } },
          },
        },
      ],
      [{}, { maxConcurrentRequests: 4 }],
    );
    expect(await client.rr.ping(peer)).toBe(7n);
    expect(await client.rr.ping(peer)).toBe(7n);
    const limited = await rejection(client.rr.ping(peer));
    expect(limited.code).toBe(ReqRespErrorCode.RATE_LIMITED);
    expect(limited.message).toMatch(/ping\/1 allows 2 requests per peer.*retry in \d+ ms/);
    // Blocks: 8 fit in a bucket of 10, the next 8 do not.
    expect((await client.rr.blocksByRange(peer, 1, 8)).length).toBe(6);
    const blocks = await rejection(client.rr.blocksByRange(peer, 1, 8));
    expect(blocks.code).toBe(ReqRespErrorCode.RATE_LIMITED);
    expect(blocks.message).toMatch(/allows 10 blocks per peer/);
    // One by-root request in flight; a second at the same time is refused.
    const first = client.rr.blocksByRoot(peer, [rootOf(CHAIN[0])]);
    await inside;
    const second = await rejection(client.rr.blocksByRoot(peer, [rootOf(CHAIN[1])]));
    expect(second.code).toBe(ReqRespErrorCode.RATE_LIMITED);
    expect(second.message).toMatch(/more than 1 concurrent beacon_blocks_by_root\/2/);
    release();
    expect(await first).toEqual([]);
    expect(gated).toBe(1);
  });

  it("transfers a multi-MiB blob verified by its hash, serves ranges, and rejects a tampered or oversize one", async () => {
    const dir = mkdtempSync(join(tmpdir(), "opengpu-blobs-"));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const store = new FileBlobStore(dir);
    const blob = new Uint8Array(5 * 1024 * 1024 + 12_345);
    for (let i = 0; i < blob.length; i++) blob[i] = (i * 2654435761) >>> 24;
    const hash = await store.put(blob);
    const empty = await store.put(new Uint8Array(0));
    const metrics = createMetrics();
    const { client, peer } = await pair(
      [{ blobs: store, metrics: reqRespMetrics(metrics) }],
      [{ metrics: reqRespMetrics(metrics) }],
    );

    const fetched = await client.rr.getBlob(peer, hash);
    expect(fetched.length).toBe(blob.length);
    expect(sha256(fetched)).toEqual(hash);
    expect(Buffer.compare(fetched, blob)).toBe(0);
    expect(await client.rr.getBlob(peer, empty)).toEqual(new Uint8Array(0));
    const range = await client.rr.getBlobRange(peer, hash, 1024 * 1024 + 3, 3 * 1024 * 1024);
    expect(range.totalSize).toBe(blob.length);
    expect(Buffer.compare(range.data, blob.subarray(1024 * 1024 + 3, 4 * 1024 * 1024 + 3))).toBe(0);
    const tail = await client.rr.getBlobRange(peer, hash, blob.length - 10, 0);
    expect(tail.data).toEqual(blob.subarray(blob.length - 10));
    const outside = await rejection(client.rr.getBlobRange(peer, hash, blob.length + 1, 1));
    expect(outside.code).toBe(ReqRespErrorCode.INVALID_REQUEST);
    const tooBig = await rejection(client.rr.getBlob(peer, hash, { maxBytes: 1024 * 1024 }));
    expect(tooBig.code).toBe(ReqRespErrorCode.BLOB_TOO_LARGE);

    // A peer whose store returns different bytes under the hash.
    class TamperedStore extends MemoryBlobStore {
      override async read(h: Uint8Array, offset: number, length: number): Promise<Uint8Array> {
        const data = Uint8Array.from(await super.read(h, offset, length));
        if (offset === 0) data[100] ^= 1;
        return data;
      }
    }
    const tampered = new TamperedStore();
    await tampered.put(blob);
    const liar = await startNode({ blobs: tampered });
    await connect(client.host, liar.host);
    const mismatch = await rejection(client.rr.getBlob(liar.host.peerId, hash));
    expect(mismatch.code).toBe(ReqRespErrorCode.BLOB_HASH_MISMATCH);

    // A peer sending a chunk past the announced size.
    const overflow = await rogue({
      [PROTOCOLS.blob.id]: (s) =>
        answer(
          s,
          encodeResponseChunk(0, BlobChunk.serialize({ totalSize: 4, offset: 0, data: new Uint8Array(4) })),
          encodeResponseChunk(0, BlobChunk.serialize({ totalSize: 4, offset: 4, data: new Uint8Array(4) })),
        ),
    });
    await connect(client.host, overflow);
    const range2 = await rejection(client.rr.getBlobRange(overflow.peerId, hash, 2, 0));
    expect(range2.code).toBe(ReqRespErrorCode.INVALID_RESPONSE);

    const text = await metrics.registry.metrics();
    expect(text).toMatch(
      /opengpu_p2p_reqresp_requests_served_total\{protocol="blob\/1",outcome="success"\} 4/,
    );
    expect(text).toMatch(
      /opengpu_p2p_reqresp_requests_made_total\{protocol="blob\/1",outcome="blob_too_large"\} 1/,
    );
    expect(text).toMatch(
      /opengpu_p2p_reqresp_requests_served_total\{protocol="blob\/1",outcome="invalid_request"\} 1/,
    );
    expect(text).toMatch(
      /opengpu_p2p_reqresp_request_seconds_count\{direction="outbound",protocol="blob\/1"\} \d+/,
    );
  });

  it("paces blob bytes beyond the peer's burst instead of refusing them", async () => {
    const store = new MemoryBlobStore();
    const blob = new Uint8Array(3 * 1024 * 1024).fill(7);
    const hash = await store.put(blob);
    const { client, peer } = await pair([
      { blobs: store },
      {
        blobChunkBytes: 512 * 1024,
        rateLimits: { blob: { units: { burst: 1024 * 1024, perSecond: 8 * 1024 * 1024 } } },
      },
    ]);
    const started = performance.now();
    expect((await client.rr.getBlob(peer, hash)).length).toBe(blob.length);
    // 2 MiB beyond the 1 MiB burst at 8 MiB/s: at least 250 ms of withheld chunks.
    expect(performance.now() - started).toBeGreaterThanOrEqual(240);
  });

  it("aborts requests in flight when stopped", async () => {
    let arrived: () => void = () => {};
    const reached = new Promise<void>((resolve) => {
      arrived = resolve;
    });
    const hanging = await rogue({ [PROTOCOLS.status.id]: () => arrived() });
    const client = await startNode();
    await connect(client.host, hanging);
    const pending = client.rr.status(hanging.peerId);
    await reached;
    await client.rr.stop();
    expect((await rejection(pending)).code).toBe(ReqRespErrorCode.STOPPED);
    expect((await rejection(client.rr.ping(hanging.peerId))).code).toBe(ReqRespErrorCode.STOPPED);
  });
});
