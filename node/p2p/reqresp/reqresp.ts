/**
 * Request/response over libp2p streams, one stream per request (consensus p2p spec, req/resp
 * domain, `ssz_snappy`): this node answers the protocols of `protocols.ts` from a
 * `ReqRespProvider` (and a `BlobStore`), and requests them from peers.
 *
 * Responder: reads the request (bounded in size and by `requestTimeoutMs`), refuses a peer that
 * has more than `maxConcurrentRequests` of the protocol in flight or has spent its rate limit
 * (code 139 with the limit and when to retry), answers chunk by chunk (waiting for the stream to
 * drain, `respTimeoutMs` per chunk), and answers failures with code 1 (bad request), 2 (our
 * failure) or 3 (unknown resource) and a message.
 *
 * Requester: opens the stream (`dialTimeoutMs`), writes the request and closes its write side,
 * waits `ttfbTimeoutMs` for the first response byte and `respTimeoutMs` for each chunk, checks
 * every chunk's bounds, context bytes and consistency with the request (slots in range and
 * ascending and linked by parent root, roots requested, blob offsets contiguous and the blob's
 * sha256), and resets the stream on any failure. At most `maxConcurrentRequests` per peer and
 * protocol run at once; more wait their turn.
 */
import { createHash } from "node:crypto";
import type { Connection, Libp2p, PeerId, Stream } from "@libp2p/interface";
import { peerIdFromString } from "@libp2p/peer-id";
import { type altair, type electra, type phase0, ssz } from "@lodestar/types";
import type { ReqRespMetrics } from "../../metrics/reqresp.ts";
import { errorMessage } from "../../utils/errors.ts";
import { TypedEmitter } from "../../utils/events.ts";
import type { Logger } from "../../utils/logger.ts";
import { EncodingError } from "../encoding/errors.ts";
import { raceSignal, StreamReader } from "../encoding/reader.ts";
import {
  encodeErrorChunk,
  encodeRequest,
  encodeResponseChunk,
  errorMessageText,
  type ResponseChunk,
  readPayload,
  readResponseChunk,
} from "../encoding/ssz-snappy.ts";
import { type BlobStore, hashHex } from "./blob-store.ts";
import {
  errorOfResponse,
  outcomeOf,
  ReqRespError,
  ReqRespErrorCode,
  ResponseCode,
  responseCodeOf,
} from "./errors.ts";
import {
  BeaconBlocksByRootRequest,
  BlobChunk,
  BlobRequest,
  MAX_BLOB_CHUNK_BYTES,
  MAX_REQUEST_BLOCKS_DENEB,
  PROTOCOLS,
  type ProtocolDef,
  type ProtocolKey,
} from "./protocols.ts";
import { epochAtSlot, type ReqRespProvider, type ServedBlock } from "./provider.ts";
import { type ProtocolRateLimit, RateLimiter } from "./rate-limit.ts";

export interface ReqRespOptions {
  /** Time to the first response byte (spec TTFB_TIMEOUT). */
  ttfbTimeoutMs: number;
  /** Time for each response chunk, and for the responder to get each chunk out (spec RESP_TIMEOUT). */
  respTimeoutMs: number;
  /** Time a responder waits for the complete request. */
  requestTimeoutMs: number;
  /** Time to open a stream (dial and protocol negotiation). */
  dialTimeoutMs: number;
  /** Requests in flight per peer and protocol, each direction (spec MAX_CONCURRENT_REQUESTS). */
  maxConcurrentRequests: number;
  /** Per-peer limits of the responder, by protocol (over DEFAULT_RATE_LIMITS). */
  rateLimits: Partial<Record<ProtocolKey, Partial<ProtocolRateLimit>>>;
  /** Blob bytes per response chunk (at most MAX_BLOB_CHUNK_BYTES). */
  blobChunkBytes: number;
  /** Largest blob `getBlob` accepts unless the call says otherwise. */
  maxBlobBytes: number;
}

export const DEFAULT_REQRESP_OPTIONS: Readonly<ReqRespOptions> = {
  ttfbTimeoutMs: 5_000,
  respTimeoutMs: 10_000,
  requestTimeoutMs: 5_000,
  dialTimeoutMs: 10_000,
  maxConcurrentRequests: 2,
  rateLimits: {},
  blobChunkBytes: MAX_BLOB_CHUNK_BYTES,
  maxBlobBytes: 1024 * 1024 * 1024,
};

export interface ReqRespEvents {
  /** A peer sent us its Status (its status request; we answered with ours). */
  status: (e: { peer: string; status: phase0.Status }) => void;
  /** A peer said goodbye with `reason` (1 shutdown, 2 irrelevant network, 3 fault, >= 128 client-specific). */
  goodbye: (e: { peer: string; reason: bigint }) => void;
  /** A peer pinged us with its metadata sequence number. */
  ping: (e: { peer: string; seqNumber: bigint }) => void;
}

export interface ReqRespModules {
  /** The libp2p host (a P2PHost). */
  host: { libp2p: Pick<Libp2p, "handle" | "unhandle" | "dialProtocol"> };
  provider: ReqRespProvider;
  /** Blobs this node serves; without it blob requests are answered "resource unavailable". */
  blobs?: BlobStore;
  logger: Logger;
  metrics?: ReqRespMetrics;
  /** Clock of the rate limiter (tests). */
  now?: () => number;
}

/** A peer, as a PeerId or its string form. */
export type PeerRef = PeerId | string;

/** A timer that aborts a fresh signal with a given error; re-arming replaces the previous one. */
class Deadline {
  private timer: NodeJS.Timeout | undefined;

  arm(ms: number, error: () => Error): AbortSignal {
    this.clear();
    const controller = new AbortController();
    this.timer = setTimeout(() => controller.abort(error()), ms);
    return controller.signal;
  }

  clear(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }
}

function equalBytes(a: Uint8Array | undefined, b: Uint8Array): boolean {
  return a !== undefined && a.length === b.length && a.every((x, i) => x === b[i]);
}

const hex = (b: Uint8Array) => `0x${Buffer.from(b).toString("hex")}`;

function invalidResponse(message: string, meta: Record<string, unknown> = {}): ReqRespError {
  return new ReqRespError(ReqRespErrorCode.INVALID_RESPONSE, message, meta);
}

/** Deserializes a request; a payload the type rejects is an invalid request. */
function decodeRequest<T>(
  type: { deserialize(bytes: Uint8Array): T },
  bytes: Uint8Array | undefined,
  def: ProtocolDef,
): T {
  try {
    return type.deserialize(bytes ?? new Uint8Array(0));
  } catch (err) {
    throw new ReqRespError(
      ReqRespErrorCode.INVALID_REQUEST,
      `malformed ${def.label} request: ${errorMessage(err)}`,
    );
  }
}

/** Deserializes a response chunk; a payload the type rejects is an invalid response. */
function decodeResponse<T>(
  type: { deserialize(bytes: Uint8Array): T },
  bytes: Uint8Array,
  def: ProtocolDef,
): T {
  try {
    return type.deserialize(bytes);
  } catch (err) {
    throw invalidResponse(`malformed ${def.label} response: ${errorMessage(err)}`);
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    if (signal.aborted) {
      reject(signal.reason);
      return;
    }
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    const timer = setTimeout(() => {
      signal.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal.addEventListener("abort", onAbort, { once: true });
  });
}

export class ReqResp extends TypedEmitter<ReqRespEvents> {
  readonly opts: ReqRespOptions;
  private readonly libp2p: ReqRespModules["host"]["libp2p"];
  private readonly provider: ReqRespProvider;
  private readonly blobs: BlobStore | undefined;
  private readonly logger: Logger;
  private readonly metrics: ReqRespMetrics | undefined;
  private readonly limiter: RateLimiter;
  /** Inbound requests in flight by `peer|protocol`. */
  private readonly inflight = new Map<string, number>();
  /** Outbound slots by `peer|protocol`: requests running and requests waiting for a slot. */
  private readonly outbound = new Map<string, { active: number; waiters: (() => void)[] }>();
  private readonly streams = new Set<Stream>();
  private readonly stopController = new AbortController();
  private started = false;

  constructor(modules: ReqRespModules, opts: Partial<ReqRespOptions> = {}) {
    super();
    this.opts = { ...DEFAULT_REQRESP_OPTIONS, ...opts };
    if (this.opts.blobChunkBytes < 1 || this.opts.blobChunkBytes > MAX_BLOB_CHUNK_BYTES)
      throw new RangeError(`blobChunkBytes must be in [1, ${MAX_BLOB_CHUNK_BYTES}]`);
    this.libp2p = modules.host.libp2p;
    this.provider = modules.provider;
    this.blobs = modules.blobs;
    this.logger = modules.logger;
    this.metrics = modules.metrics;
    this.limiter = new RateLimiter(this.opts.rateLimits, modules.now);
  }

  /** Registers the protocol handlers on the host. */
  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    for (const def of Object.values(PROTOCOLS)) {
      await this.libp2p.handle(def.id, (stream, connection) => this.serve(def, stream, connection), {
        // The concurrency limit answers code 139; leave libp2p's own stream cap above it.
        maxInboundStreams: Math.max(32, 4 * this.opts.maxConcurrentRequests),
      });
    }
  }

  /** Unregisters the handlers and aborts every request in flight (ReqRespError STOPPED). */
  async stop(): Promise<void> {
    if (this.stopController.signal.aborted) return;
    this.stopController.abort(new ReqRespError(ReqRespErrorCode.STOPPED, "req/resp stopped"));
    if (this.started) await this.libp2p.unhandle(Object.values(PROTOCOLS).map((d) => d.id)).catch(() => {});
    for (const stream of this.streams)
      stream.abort(new ReqRespError(ReqRespErrorCode.STOPPED, "req/resp stopped"));
    this.streams.clear();
    for (const slot of this.outbound.values()) for (const wake of slot.waiters.splice(0)) wake();
  }

  private get stopped(): boolean {
    return this.stopController.signal.aborted;
  }

  // --- requests ----------------------------------------------------------------------------

  /** Exchanges Status with `peer`: sends ours (`provider.status()` unless given), returns theirs. */
  async status(peer: PeerRef, ours?: phase0.Status): Promise<phase0.Status> {
    const def = PROTOCOLS.status;
    const mine = ours ?? (await this.provider.status());
    const data = await this.requestSingle(def, peer, ssz.phase0.Status.serialize(mine));
    return decodeResponse(ssz.phase0.Status, data, def);
  }

  /**
   * Tells `peer` why we are leaving (1 shutdown, 2 irrelevant network, 3 fault). A peer that hangs
   * up instead of answering counts as done; the caller disconnects afterwards.
   */
  async goodbye(peer: PeerRef, reason: number | bigint): Promise<void> {
    try {
      await this.requestSingle(PROTOCOLS.goodbye, peer, ssz.phase0.Goodbye.serialize(BigInt(reason)));
    } catch (err) {
      if (
        err instanceof ReqRespError &&
        (err.code === ReqRespErrorCode.EMPTY_RESPONSE || err.code === ReqRespErrorCode.STREAM_ERROR)
      )
        return;
      throw err;
    }
  }

  /** Pings `peer` with our metadata sequence number; returns theirs. */
  async ping(peer: PeerRef): Promise<bigint> {
    const def = PROTOCOLS.ping;
    const data = await this.requestSingle(
      def,
      peer,
      ssz.phase0.Ping.serialize(this.provider.metadata().seqNumber),
    );
    return decodeResponse(ssz.phase0.Ping, data, def);
  }

  /** The peer's MetaData. */
  async metadata(peer: PeerRef): Promise<altair.Metadata> {
    const def = PROTOCOLS.metadata;
    return decodeResponse(ssz.altair.Metadata, await this.requestSingle(def, peer, undefined), def);
  }

  /**
   * Canonical blocks of slots `[startSlot, startSlot + count)` from `peer` (count at most
   * MAX_REQUEST_BLOCKS_DENEB). Checked: fork-digest context, slots in range and ascending, each
   * block's parent root the root of the block before it.
   */
  async blocksByRange(peer: PeerRef, startSlot: number, count: number): Promise<electra.SignedBeaconBlock[]> {
    const def = PROTOCOLS.beaconBlocksByRange;
    if (
      !Number.isSafeInteger(startSlot) ||
      startSlot < 0 ||
      !Number.isInteger(count) ||
      count < 1 ||
      count > MAX_REQUEST_BLOCKS_DENEB
    )
      throw new ReqRespError(
        ReqRespErrorCode.INVALID_REQUEST,
        `blocks by range needs a slot >= 0 and 1..${MAX_REQUEST_BLOCKS_DENEB} blocks, got ${startSlot} +${count}`,
      );
    const blocks: electra.SignedBeaconBlock[] = [];
    let previousRoot: Uint8Array | undefined;
    const request = ssz.phase0.BeaconBlocksByRangeRequest.serialize({ startSlot, count, step: 1 });
    await this.requestChunks(def, peer, request, (chunk) => {
      const block = this.decodeBlock(def, chunk);
      const slot = block.message.slot;
      if (slot < startSlot || slot >= startSlot + count)
        throw invalidResponse(
          `block at slot ${slot} outside the requested [${startSlot}, ${startSlot + count})`,
        );
      const previous = blocks.at(-1);
      if (previous !== undefined && slot <= previous.message.slot)
        throw invalidResponse(`block at slot ${slot} after slot ${previous.message.slot}: not ascending`);
      if (previousRoot !== undefined && !equalBytes(block.message.parentRoot, previousRoot))
        throw invalidResponse(`block at slot ${slot} does not descend from the block before it`);
      previousRoot = ssz.electra.BeaconBlock.hashTreeRoot(block.message);
      blocks.push(block);
      return blocks.length < count;
    });
    return blocks;
  }

  /** The blocks among `roots` that `peer` has (at most MAX_REQUEST_BLOCKS_DENEB roots); each is checked to be one requested. */
  async blocksByRoot(peer: PeerRef, roots: Uint8Array[]): Promise<electra.SignedBeaconBlock[]> {
    const def = PROTOCOLS.beaconBlocksByRoot;
    if (roots.length > MAX_REQUEST_BLOCKS_DENEB)
      throw new ReqRespError(
        ReqRespErrorCode.INVALID_REQUEST,
        `at most ${MAX_REQUEST_BLOCKS_DENEB} roots per request, got ${roots.length}`,
      );
    if (roots.length === 0) return [];
    const wanted = new Set(roots.map(hex));
    const blocks: electra.SignedBeaconBlock[] = [];
    await this.requestChunks(def, peer, BeaconBlocksByRootRequest.serialize(roots), (chunk) => {
      const block = this.decodeBlock(def, chunk);
      const root = hex(ssz.electra.BeaconBlock.hashTreeRoot(block.message));
      if (!wanted.delete(root)) throw invalidResponse(`block ${root} was not requested (or came twice)`);
      blocks.push(block);
      return blocks.length < roots.length;
    });
    return blocks;
  }

  /**
   * The blob with sha256 `hash` from `peer`, checked against the hash (ReqRespError
   * BLOB_HASH_MISMATCH) and refused beyond `maxBytes` (BLOB_TOO_LARGE) before it is downloaded.
   */
  async getBlob(peer: PeerRef, hash: Uint8Array, opts: { maxBytes?: number } = {}): Promise<Uint8Array> {
    const hasher = createHash("sha256");
    const { data } = await this.fetchBlob(
      peer,
      hash,
      0,
      0,
      opts.maxBytes ?? this.opts.maxBlobBytes,
      (piece) => hasher.update(piece),
    );
    const digest = new Uint8Array(hasher.digest());
    if (!equalBytes(digest, hash))
      throw new ReqRespError(
        ReqRespErrorCode.BLOB_HASH_MISMATCH,
        `blob from ${peer.toString()} hashes to ${hex(digest)}, not ${hex(hash)}`,
        { peer: peer.toString() },
      );
    return data;
  }

  /**
   * Bytes `[offset, offset + length)` of a blob (length 0: to the end), and the blob's size. NOT
   * checked against the hash (a range cannot be): for resumed or spread downloads, whose caller
   * checks the assembled blob's sha256.
   */
  async getBlobRange(
    peer: PeerRef,
    hash: Uint8Array,
    offset: number,
    length: number,
    opts: { maxBytes?: number } = {},
  ): Promise<{ totalSize: number; data: Uint8Array }> {
    return this.fetchBlob(peer, hash, offset, length, opts.maxBytes ?? this.opts.maxBlobBytes, () => {});
  }

  private async fetchBlob(
    peer: PeerRef,
    hash: Uint8Array,
    offset: number,
    length: number,
    maxBytes: number,
    onData: (piece: Uint8Array) => void,
  ): Promise<{ totalSize: number; data: Uint8Array }> {
    const def = PROTOCOLS.blob;
    if (
      hash.length !== 32 ||
      !Number.isSafeInteger(offset) ||
      !Number.isSafeInteger(length) ||
      offset < 0 ||
      length < 0
    )
      throw new ReqRespError(
        ReqRespErrorCode.INVALID_REQUEST,
        "a blob request needs a 32-byte hash and a range >= 0",
      );
    let total = -1;
    let data = new Uint8Array(0);
    let received = 0;
    let expected = 0;
    await this.requestChunks(def, peer, BlobRequest.serialize({ hash, offset, length }), (chunk) => {
      const c = decodeResponse(BlobChunk, chunk.data, def);
      if (total < 0) {
        total = c.totalSize;
        if (offset > total) throw invalidResponse(`blob of ${total} bytes served for offset ${offset}`);
        expected = (length === 0 ? total : Math.min(total, offset + length)) - offset;
        if (expected > maxBytes)
          throw new ReqRespError(
            ReqRespErrorCode.BLOB_TOO_LARGE,
            `blob ${hashHex(hash)} needs ${expected} bytes, at most ${maxBytes} accepted`,
            { size: total },
          );
        data = new Uint8Array(expected);
      }
      if (c.totalSize !== total)
        throw invalidResponse(`blob size changed from ${total} to ${c.totalSize} mid-response`);
      if (c.offset !== offset + received)
        throw invalidResponse(`blob chunk at ${c.offset}, expected ${offset + received}`);
      if (c.data.length === 0 && expected > 0) throw invalidResponse("empty blob chunk");
      if (received + c.data.length > expected)
        throw invalidResponse("blob chunks run past the requested range");
      data.set(c.data, received);
      onData(c.data);
      received += c.data.length;
      this.metrics?.onBlobBytes("outbound", c.data.length);
      return received < expected;
    });
    if (total < 0)
      throw new ReqRespError(ReqRespErrorCode.EMPTY_RESPONSE, `no blob chunk from ${peer.toString()}`);
    if (received !== expected)
      throw invalidResponse(`blob response ended after ${received} of ${expected} bytes`);
    return { totalSize: total, data };
  }

  private decodeBlock(def: ProtocolDef, chunk: ResponseChunk): electra.SignedBeaconBlock {
    const block = decodeResponse(ssz.electra.SignedBeaconBlock, chunk.data, def);
    const digest = this.provider.forkDigest(epochAtSlot(block.message.slot));
    if (!equalBytes(chunk.context, digest))
      throw invalidResponse(
        `block at slot ${block.message.slot} carries fork digest ${chunk.context === undefined ? "none" : hex(chunk.context)}, expected ${hex(digest)}`,
      );
    return block;
  }

  private async requestSingle(
    def: ProtocolDef,
    peer: PeerRef,
    request: Uint8Array | undefined,
  ): Promise<Uint8Array> {
    let data: Uint8Array | undefined;
    await this.requestChunks(def, peer, request, (chunk) => {
      data = chunk.data;
      return false;
    });
    if (data === undefined)
      throw new ReqRespError(
        ReqRespErrorCode.EMPTY_RESPONSE,
        `${peer.toString()} closed ${def.label} without a response`,
      );
    return data;
  }

  /**
   * One request: opens the stream, writes the request, half-closes, then hands each success chunk
   * to `onChunk` until it returns false or the responder closes. Throws ReqRespError.
   */
  private async requestChunks(
    def: ProtocolDef,
    peer: PeerRef,
    request: Uint8Array | undefined,
    onChunk: (chunk: ResponseChunk) => boolean,
  ): Promise<void> {
    let peerId: PeerId;
    try {
      peerId = typeof peer === "string" ? peerIdFromString(peer) : peer;
    } catch (err) {
      throw new ReqRespError(
        ReqRespErrorCode.DIAL_FAILED,
        `${String(peer)} is not a peer id`,
        {},
        { cause: err },
      );
    }
    const peerName = peerId.toString();
    const key = `${peerName}|${def.key}`;
    await this.acquire(key);
    const started = performance.now();
    const deadline = new Deadline();
    let stream: Stream | undefined;
    let failure: ReqRespError | undefined;
    try {
      if (this.stopped) throw new ReqRespError(ReqRespErrorCode.STOPPED, "req/resp stopped");
      try {
        stream = await this.libp2p.dialProtocol(peerId, def.id, {
          signal: AbortSignal.any([AbortSignal.timeout(this.opts.dialTimeoutMs), this.stopController.signal]),
        });
      } catch (err) {
        if (this.stopped)
          throw new ReqRespError(ReqRespErrorCode.STOPPED, "req/resp stopped", {}, { cause: err });
        throw new ReqRespError(
          ReqRespErrorCode.DIAL_FAILED,
          `cannot open ${def.label} to ${peerName}: ${errorMessage(err)}`,
          { peer: peerName },
          { cause: err },
        );
      }
      if (this.stopped) throw new ReqRespError(ReqRespErrorCode.STOPPED, "req/resp stopped");
      this.streams.add(stream);
      const reader = new StreamReader(stream);
      if (request !== undefined) await this.write(stream, encodeRequest(request), deadline);
      await raceSignal(
        stream.close(),
        deadline.arm(this.opts.respTimeoutMs, () => this.timeout("RESP", def, peerName)),
      );
      reader.signal = deadline.arm(this.opts.ttfbTimeoutMs, () => this.timeout("TTFB", def, peerName));
      await reader.peek(1);
      for (;;) {
        reader.signal = deadline.arm(this.opts.respTimeoutMs, () => this.timeout("RESP", def, peerName));
        const chunk = await readResponseChunk(reader, {
          contextBytes: def.contextBytes,
          bounds: def.response,
        });
        if (chunk === undefined) break;
        if (chunk.code !== ResponseCode.SUCCESS)
          throw errorOfResponse(chunk.code, errorMessageText(chunk.data), {
            peer: peerName,
            protocol: def.label,
          });
        if (!onChunk(chunk)) break;
      }
    } catch (err) {
      failure = this.asError(err, "outbound");
      stream?.abort(failure);
      throw failure;
    } finally {
      deadline.clear();
      if (stream !== undefined) this.streams.delete(stream);
      this.release(key);
      this.metrics?.onRequest(
        "outbound",
        def.label,
        outcomeOf(failure),
        (performance.now() - started) / 1000,
      );
      if (failure !== undefined)
        this.logger.debug(
          { peer: peerName, protocol: def.label, err: failure.message },
          "Req/resp request failed",
        );
    }
  }

  private timeout(kind: "TTFB" | "RESP", def: ProtocolDef, peer: string): ReqRespError {
    return kind === "TTFB"
      ? new ReqRespError(
          ReqRespErrorCode.TTFB_TIMEOUT,
          `no ${def.label} response from ${peer} within ${this.opts.ttfbTimeoutMs} ms`,
          { peer },
        )
      : new ReqRespError(
          ReqRespErrorCode.RESP_TIMEOUT,
          `${def.label} response chunk from ${peer} took over ${this.opts.respTimeoutMs} ms`,
          { peer },
        );
  }

  private async acquire(key: string): Promise<void> {
    let slot = this.outbound.get(key);
    if (slot === undefined) {
      slot = { active: 0, waiters: [] };
      this.outbound.set(key, slot);
    }
    if (slot.active < this.opts.maxConcurrentRequests) {
      slot.active++;
      return;
    }
    // The slot is handed over by `release` (active stays the same).
    await new Promise<void>((resolve) => slot.waiters.push(resolve));
  }

  private release(key: string): void {
    const slot = this.outbound.get(key);
    if (slot === undefined) return;
    const next = slot.waiters.shift();
    if (next !== undefined) {
      next();
      return;
    }
    slot.active--;
    if (slot.active <= 0) this.outbound.delete(key);
  }

  /** Sends `bytes`, waiting (at most `respTimeoutMs`) for the stream to drain if its buffer is full. */
  private async write(stream: Stream, bytes: Uint8Array, deadline: Deadline): Promise<void> {
    if (stream.send(bytes)) return;
    const signal = deadline.arm(
      this.opts.respTimeoutMs,
      () =>
        new ReqRespError(
          ReqRespErrorCode.RESP_TIMEOUT,
          `peer did not read for ${this.opts.respTimeoutMs} ms`,
        ),
    );
    await raceSignal(stream.onDrain(), signal);
    deadline.clear();
  }

  private asError(err: unknown, side: "inbound" | "outbound"): ReqRespError {
    if (err instanceof ReqRespError) return err;
    if (this.stopped)
      return new ReqRespError(ReqRespErrorCode.STOPPED, "req/resp stopped", {}, { cause: err });
    if (err instanceof EncodingError)
      return side === "outbound"
        ? new ReqRespError(
            ReqRespErrorCode.INVALID_RESPONSE,
            `malformed response: ${err.message}`,
            { encoding: err.code },
            { cause: err },
          )
        : new ReqRespError(ReqRespErrorCode.SERVER_ERROR, err.message, {}, { cause: err });
    const name = (err as { name?: string } | undefined)?.name ?? "";
    if (/Stream|Reset|Abort|Closed|Mux/i.test(name))
      return new ReqRespError(
        ReqRespErrorCode.STREAM_ERROR,
        `stream failed: ${errorMessage(err)}`,
        {},
        { cause: err },
      );
    return new ReqRespError(
      side === "outbound" ? ReqRespErrorCode.STREAM_ERROR : ReqRespErrorCode.SERVER_ERROR,
      errorMessage(err),
      {},
      { cause: err },
    );
  }

  // --- responder ---------------------------------------------------------------------------

  private async serve(def: ProtocolDef, stream: Stream, connection: Connection): Promise<void> {
    const reader = new StreamReader(stream);
    const peer = connection.remotePeer.toString();
    const started = performance.now();
    const deadline = new Deadline();
    const key = `${peer}|${def.key}`;
    const inflight = (this.inflight.get(key) ?? 0) + 1;
    this.inflight.set(key, inflight);
    this.streams.add(stream);
    let failure: ReqRespError | undefined;
    try {
      if (this.stopped) throw new ReqRespError(ReqRespErrorCode.STOPPED, "req/resp stopped");
      let request: Uint8Array | undefined;
      if (def.request !== undefined) {
        reader.signal = deadline.arm(
          this.opts.requestTimeoutMs,
          () =>
            new ReqRespError(
              ReqRespErrorCode.REQUEST_TIMEOUT,
              `no complete ${def.label} request within ${this.opts.requestTimeoutMs} ms`,
            ),
        );
        try {
          request = await readPayload(reader, def.request);
        } catch (err) {
          if (err instanceof EncodingError)
            throw new ReqRespError(
              ReqRespErrorCode.INVALID_REQUEST,
              `malformed ${def.label} request: ${err.message}`,
              {
                encoding: err.code,
              },
            );
          throw err;
        }
        deadline.clear();
        if (reader.bufferedLength > 0)
          throw new ReqRespError(ReqRespErrorCode.INVALID_REQUEST, `bytes after the ${def.label} request`);
      }
      if (inflight > this.opts.maxConcurrentRequests)
        throw new ReqRespError(
          ReqRespErrorCode.RATE_LIMITED,
          `rate limited: more than ${this.opts.maxConcurrentRequests} concurrent ${def.label} requests`,
        );
      this.admit(peer, def, "requests", 1);
      for await (const chunk of this.respond(def, peer, request)) await this.write(stream, chunk, deadline);
      await raceSignal(
        stream.close(),
        deadline.arm(
          this.opts.respTimeoutMs,
          () => new ReqRespError(ReqRespErrorCode.RESP_TIMEOUT, "peer did not take the end of the response"),
        ),
      );
    } catch (err) {
      failure = this.asError(err, "inbound");
      await this.answerError(stream, failure, deadline);
    } finally {
      deadline.clear();
      this.streams.delete(stream);
      const left = (this.inflight.get(key) ?? 1) - 1;
      if (left > 0) this.inflight.set(key, left);
      else this.inflight.delete(key);
      this.metrics?.onRequest("inbound", def.label, outcomeOf(failure), (performance.now() - started) / 1000);
      if (failure !== undefined)
        this.logger.debug({ peer, protocol: def.label, err: failure.message }, "Req/resp request refused");
    }
  }

  /** Ends a failed exchange: an error chunk if the stream still works, a reset otherwise. */
  private async answerError(stream: Stream, failure: ReqRespError, deadline: Deadline): Promise<void> {
    const broken =
      failure.code === ReqRespErrorCode.STREAM_ERROR ||
      failure.code === ReqRespErrorCode.STOPPED ||
      failure.code === ReqRespErrorCode.RESP_TIMEOUT ||
      stream.writeStatus !== "writable";
    if (broken) {
      stream.abort(failure);
      return;
    }
    try {
      await this.write(stream, encodeErrorChunk(responseCodeOf(failure), failure.message), deadline);
      await raceSignal(
        stream.close(),
        deadline.arm(this.opts.respTimeoutMs, () => new Error("peer did not take the error answer")),
      );
    } catch (err) {
      stream.abort(err instanceof Error ? err : failure);
    }
  }

  /** Spends `cost` of the peer's bucket or refuses with code 139, the limit and when to retry. */
  private admit(peer: string, def: ProtocolDef, kind: "requests" | "units", cost: number): void {
    const result = this.limiter.tryTake(peer, def.key, kind, cost);
    if (result.ok) return;
    const limit = this.limiter.limitOf(def.key, kind);
    const unit = kind === "requests" ? "requests" : "blocks";
    throw new ReqRespError(
      ReqRespErrorCode.RATE_LIMITED,
      `rate limited: ${def.label} allows ${limit?.burst} ${unit} per peer, ${limit?.perSecond}/s; retry in ${result.retryMs} ms`,
      { retryMs: result.retryMs },
    );
  }

  private ok(ssz: Uint8Array, context?: Uint8Array): Uint8Array {
    return encodeResponseChunk(ResponseCode.SUCCESS, ssz, context);
  }

  private blockChunk(block: ServedBlock): Uint8Array {
    return this.ok(block.bytes, this.provider.forkDigest(epochAtSlot(block.slot)));
  }

  private async *respond(
    def: ProtocolDef,
    peer: string,
    request: Uint8Array | undefined,
  ): AsyncGenerator<Uint8Array> {
    switch (def.key) {
      case "status": {
        const status = decodeRequest(ssz.phase0.Status, request, def);
        this.emit("status", { peer, status });
        yield this.ok(ssz.phase0.Status.serialize(await this.provider.status()));
        return;
      }
      case "goodbye": {
        const reason = decodeRequest(ssz.phase0.Goodbye, request, def);
        this.emit("goodbye", { peer, reason });
        yield this.ok(ssz.phase0.Goodbye.serialize(0n));
        return;
      }
      case "ping": {
        const seqNumber = decodeRequest(ssz.phase0.Ping, request, def);
        this.emit("ping", { peer, seqNumber });
        yield this.ok(ssz.phase0.Ping.serialize(this.provider.metadata().seqNumber));
        return;
      }
      case "metadata":
        yield this.ok(ssz.altair.Metadata.serialize(this.provider.metadata()));
        return;
      case "beaconBlocksByRange": {
        const { startSlot, count, step } = decodeRequest(ssz.phase0.BeaconBlocksByRangeRequest, request, def);
        if (step !== 1)
          throw new ReqRespError(ReqRespErrorCode.INVALID_REQUEST, `step must be 1, got ${step}`);
        if (count === 0) throw new ReqRespError(ReqRespErrorCode.INVALID_REQUEST, "count must be at least 1");
        const n = Math.min(count, MAX_REQUEST_BLOCKS_DENEB);
        this.admit(peer, def, "units", n);
        if (!Number.isSafeInteger(startSlot + n)) return;
        let previous = -1;
        for (const block of await this.provider.blocksByRange(startSlot, n)) {
          // Only what was asked, ascending, whatever the provider returns.
          if (block.slot < startSlot || block.slot >= startSlot + n || block.slot <= previous) continue;
          previous = block.slot;
          yield this.blockChunk(block);
        }
        return;
      }
      case "beaconBlocksByRoot": {
        const roots = decodeRequest(BeaconBlocksByRootRequest, request, def);
        if (roots.length === 0) return;
        this.admit(peer, def, "units", roots.length);
        const blocks = await this.provider.blocksByRoot(roots);
        for (const block of blocks.slice(0, roots.length)) yield this.blockChunk(block);
        return;
      }
      case "blob":
        yield* this.serveBlob(def, peer, decodeRequest(BlobRequest, request, def));
        return;
    }
  }

  private async *serveBlob(def: ProtocolDef, peer: string, req: BlobRequest): AsyncGenerator<Uint8Array> {
    const name = hashHex(req.hash);
    if (this.blobs === undefined)
      throw new ReqRespError(ReqRespErrorCode.RESOURCE_UNAVAILABLE, "this node serves no blobs");
    const size = await this.blobs.size(req.hash);
    if (size === undefined) throw new ReqRespError(ReqRespErrorCode.RESOURCE_UNAVAILABLE, `no blob ${name}`);
    if (!Number.isSafeInteger(req.offset) || !Number.isSafeInteger(req.length) || req.offset > size)
      throw new ReqRespError(
        ReqRespErrorCode.INVALID_REQUEST,
        `range at ${req.offset} (+${req.length}) outside blob ${name} of ${size} bytes`,
      );
    const end = req.length === 0 ? size : Math.min(size, req.offset + req.length);
    let position = req.offset;
    do {
      const n = Math.min(this.opts.blobChunkBytes, end - position);
      // Paced, not refused: the spec lets a responder withhold chunks, never fail mid-response.
      const wait = this.limiter.reserve(peer, def.key, "units", n);
      if (wait > 0) await sleep(wait, this.stopController.signal);
      const data = await this.blobs.read(req.hash, position, n);
      yield this.ok(BlobChunk.serialize({ totalSize: size, offset: position, data }));
      this.metrics?.onBlobBytes("inbound", n);
      position += n;
    } while (position < end);
  }
}
