/**
 * The compute layer's content-addressed data: models, task inputs and task outputs, named by
 * the sha256 of their bytes. One `FileBlobStore` under `<datadir>/blobs` holds them; the p2p
 * blob protocol serves that same store to peers, and `fetch` gets what is missing from
 * connected peers (each answer is checked against the hash before it is kept).
 *
 * Recent blobs (what was put, fetched or read here: a task's input when it is submitted, an
 * output a committee member read) are also kept in memory, verified once when they came in, in an
 * LRU of `cacheBytes` (blobs above a quarter of it are not kept): an agent's execution reads its
 * input without touching the disk or hashing it again (for a small model, reading and re-hashing
 * the input cost as much as the inference). `stage` is `put` for the hot path (an executor's
 * output): the blob is readable here at once and written to disk in the background, by a worker
 * thread for blobs up to 16 MiB (`BlobWriter`: the main thread keeps serving the node), flushed
 * unless the caller says the blob can be made again (`durable: false`: an executor's output, which
 * its agent re-computes if a crash loses it); `persisted(hash)` resolves once the file is in place
 * (the executor awaits it before committing the output on chain: peers are served from the disk).
 */
import { join } from "node:path";
import { LRUCache } from "lru-cache";
import type { Network } from "../p2p/index.ts";
import { type BlobStore, FileBlobStore, MAX_SEGMENT_BLOB } from "../p2p/reqresp/blob-store.ts";
import type { Logger } from "../utils/logger.ts";
import { BlobWriter } from "./blob-writer.ts";
import { ComputeError, ComputeErrorCode } from "./chain-view.ts";
import type { BlobSource } from "./runtime/model-store.ts";
import { type Hex, isHex32, sha256Hex } from "./runtime/tensor.ts";

export interface BlobServiceOptions {
  /** Blobs go to a FileBlobStore under `<datadir>/blobs` (the directory the p2p blob protocol serves). */
  datadir?: string;
  /** Or to this store instead (e.g. a MemoryBlobStore: tests, nodes that keep nothing on disk). */
  store?: BlobStore;
  logger: Logger;
  /** Largest blob fetched from a peer (default 512 MiB). */
  maxFetchBytes?: number;
  /** Bytes of recent blobs kept in memory (default 64 MiB; 0: none). */
  cacheBytes?: number;
}

const toBytes = (hash: Hex) => Uint8Array.from(Buffer.from(hash.slice(2), "hex"));
/** Largest blob written by the worker thread (it is copied into the message). */
const MAX_WORKER_WRITE = 16 * 1024 * 1024;

export class BlobService implements BlobSource {
  readonly store: BlobStore;
  private network: Network | undefined;
  private readonly logger: Logger;
  private readonly maxFetchBytes: number;
  private readonly inflight = new Map<Hex, Promise<Uint8Array>>();
  /** Verified bytes of recent blobs. */
  private readonly recent: LRUCache<Hex, Uint8Array> | undefined;
  private readonly maxCachedBlob: number;
  /** Disk writes of staged blobs still in progress (the bytes stay readable until they end). */
  private readonly writes = new Map<Hex, { bytes: Uint8Array; done: Promise<void> }>();
  /** Writes staged blobs to the FileBlobStore off the main thread (none for another store). */
  private readonly writer: BlobWriter | undefined;
  /** The FileBlobStore (its segments take the blobs staged with `durable: false`). */
  private readonly files: FileBlobStore | undefined;

  constructor(opts: BlobServiceOptions) {
    if ((opts.datadir === undefined) === (opts.store === undefined))
      throw new ComputeError(
        ComputeErrorCode.INVALID_ARGUMENT,
        "give a blob service either datadir or store",
      );
    if (opts.store !== undefined) this.store = opts.store;
    else {
      // The same directory the p2p blob protocol serves (node/p2p/index.ts).
      const files = new FileBlobStore(join(opts.datadir!, "blobs"));
      this.store = files;
      this.files = files;
      this.writer = new BlobWriter(files.dir, async (hex, bytes, segment) => {
        if (segment !== undefined) await files.writeSegmentRecord(segment, bytes);
        else await files.put(bytes, toBytes(`0x${hex}`));
      });
    }
    this.logger = opts.logger;
    this.maxFetchBytes = opts.maxFetchBytes ?? 512 * 1024 * 1024;
    const cacheBytes = opts.cacheBytes ?? 64 * 1024 * 1024;
    this.maxCachedBlob = Math.floor(cacheBytes / 4);
    this.recent =
      cacheBytes > 0
        ? new LRUCache<Hex, Uint8Array>({
            maxSize: cacheBytes,
            sizeCalculation: (b) => Math.max(1, b.length),
          })
        : undefined;
  }

  /** Peers to fetch from (a node without p2p only has its own store). */
  attachNetwork(network: Network): void {
    this.network = network;
  }

  /**
   * Stores `bytes` (flushed to disk when it resolves); returns their sha256. Keeps a copy of what
   * it caches in memory: the caller may reuse `bytes` once this resolves.
   */
  async put(bytes: Uint8Array): Promise<Hex> {
    const cached = this.recent !== undefined && bytes.length <= this.maxCachedBlob;
    const copy = cached ? new Uint8Array(bytes) : bytes;
    const hash = this.stage(copy);
    this.remember(hash, copy);
    await this.persisted(hash);
    return hash;
  }

  /**
   * Stores `bytes` and returns their sha256 at once: readable here (`get`, `local`) from now on,
   * from memory until written and then from the store (not kept in the memory cache until read),
   * written to disk in the background (`persisted` says when; a failed write is logged and
   * reported by `persisted`). The store takes `bytes` over: do not modify them afterwards.
   * `durable: false` skips the flush to disk: the blob is in place once `persisted` resolves but
   * a crash of the machine soon after may lose it (for blobs the caller can make again); up to
   * 4 MiB, it is appended to a segment of the FileBlobStore instead of a file of its own.
   */
  stage(bytes: Uint8Array, opts: { durable?: boolean } = {}): Hex {
    const hash = sha256Hex(bytes);
    if (this.writes.has(hash)) return hash;
    let done: Promise<void>;
    if (
      this.writer !== undefined &&
      this.files !== undefined &&
      opts.durable === false &&
      bytes.length <= MAX_SEGMENT_BLOB
    ) {
      const files = this.files;
      const slot = files.reserveSegment(hash.slice(2), bytes.length);
      done = this.writer.write(slot.hex, bytes, false, slot).then(
        () => files.commitSegment(slot),
        (err: unknown) => {
          files.abandonSegment(slot);
          throw err;
        },
      );
    } else
      done =
        this.writer !== undefined && bytes.length <= MAX_WORKER_WRITE
          ? this.writer.write(hash.slice(2), bytes, opts.durable ?? true)
          : this.store.put(bytes, toBytes(hash)).then(() => undefined);
    const entry = { bytes, done };
    this.writes.set(hash, entry);
    done
      .catch((err: unknown) =>
        this.logger.warn({ hash, err: (err as Error).message }, "Could not store a blob"),
      )
      .finally(() => {
        if (this.writes.get(hash) === entry) this.writes.delete(hash);
      });
    return hash;
  }

  /**
   * Resolves once the blob is on disk (and so served to peers); throws the disk write's error,
   * or NOT_FOUND when the blob is neither stored nor staged here.
   */
  async persisted(hash: Hex): Promise<void> {
    check(hash);
    const pending = this.writes.get(hash);
    if (pending !== undefined) return pending.done;
    if (await this.store.has(toBytes(hash))) return;
    const bytes = this.recent?.get(hash);
    if (bytes === undefined)
      throw new ComputeError(ComputeErrorCode.NOT_FOUND, `blob ${hash} is not stored here`);
    await this.store.put(bytes, toBytes(hash));
  }

  /** Waits for the writes in progress and stops the writer thread. */
  async close(): Promise<void> {
    await Promise.allSettled([...this.writes.values()].map((w) => w.done));
    await this.writer?.close();
  }

  /** Keeps verified bytes in memory (callers never modify what `get` returns). */
  private remember(hash: Hex, bytes: Uint8Array): void {
    if (this.recent !== undefined && bytes.length <= this.maxCachedBlob) this.recent.set(hash, bytes);
  }

  /** The verified bytes in memory (recent or being written), or undefined. */
  private inMemory(hash: Hex): Uint8Array | undefined {
    return this.recent?.get(hash) ?? this.writes.get(hash)?.bytes;
  }

  /**
   * Whether a good copy of the blob is here: in memory, or stored with bytes that hash to it. A
   * stored copy that does not (a file a crash left incomplete) is removed, so the blob can be
   * stored again. Reads and hashes the stored copy.
   */
  async verify(hash: Hex): Promise<boolean> {
    check(hash);
    if (this.inMemory(hash) !== undefined) return true;
    const local = await this.store.get(toBytes(hash));
    if (local === undefined) return false;
    if (sha256Hex(local) === hash) {
      this.remember(hash, local);
      return true;
    }
    this.logger.warn({ hash }, "Stored blob is corrupt: removing it");
    await this.store.remove?.(toBytes(hash));
    return false;
  }

  /** Drops the blob here: from memory and from the store (after any write of it in progress). */
  async remove(hash: Hex): Promise<void> {
    check(hash);
    this.recent?.delete(hash);
    await this.writes.get(hash)?.done.catch(() => undefined);
    await this.store.remove?.(toBytes(hash));
  }

  /** The local copy, or undefined. Do not modify the bytes returned (they may be shared). */
  async local(hash: Hex): Promise<Uint8Array | undefined> {
    check(hash);
    return this.inMemory(hash) ?? this.store.get(toBytes(hash));
  }

  /**
   * The blob, from memory, the local store or else from a connected peer (then kept locally).
   * Do not modify the bytes returned (they may be shared).
   */
  async get(hash: Hex): Promise<Uint8Array> {
    check(hash);
    const cached = this.inMemory(hash);
    if (cached !== undefined) return cached;
    const local = await this.store.get(toBytes(hash));
    if (local !== undefined && sha256Hex(local) === hash) {
      this.remember(hash, local);
      return local;
    }
    let pending = this.inflight.get(hash);
    if (pending === undefined) {
      pending = this.fromPeers(hash).finally(() => this.inflight.delete(hash));
      this.inflight.set(hash, pending);
    }
    return pending;
  }

  private async fromPeers(hash: Hex): Promise<Uint8Array> {
    const network = this.network;
    const peers = network?.host.libp2p.getConnections().map((c) => c.remotePeer) ?? [];
    const failures: string[] = [];
    for (const peer of new Set(peers)) {
      try {
        const bytes = await network?.reqresp.getBlob(peer, toBytes(hash), { maxBytes: this.maxFetchBytes });
        if (bytes === undefined) continue;
        await this.store.put(bytes, toBytes(hash));
        this.remember(hash, bytes);
        this.logger.debug({ hash, peer: peer.toString(), bytes: bytes.length }, "Fetched blob");
        return bytes;
      } catch (err) {
        failures.push(`${peer.toString()}: ${(err as Error).message}`);
      }
    }
    throw new ComputeError(
      ComputeErrorCode.NOT_FOUND,
      `blob ${hash} is not stored here${peers.length === 0 ? " and no peer is connected" : ` nor at any of ${peers.length} peers (${failures.join("; ")})`}`,
    );
  }
}

function check(hash: Hex): void {
  if (!isHex32(hash))
    throw new ComputeError(
      ComputeErrorCode.INVALID_ARGUMENT,
      `a blob hash is 0x and 64 lowercase hex digits, got ${hash}`,
    );
}
