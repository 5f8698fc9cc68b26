/**
 * The compute layer's content-addressed data: models, task inputs and task outputs, named by
 * the sha256 of their bytes. One `FileBlobStore` under `<datadir>/blobs` holds them; the p2p
 * blob protocol serves that same store to peers, and `fetch` gets what is missing from
 * connected peers (each answer is checked against the hash before it is kept).
 */
import { join } from "node:path";
import type { Network } from "../p2p/index.ts";
import { type BlobStore, FileBlobStore } from "../p2p/reqresp/blob-store.ts";
import type { Logger } from "../utils/logger.ts";
import { ComputeError, ComputeErrorCode } from "./chain-view.ts";
import type { BlobSource } from "./runtime/model-store.ts";
import { type Hex, isHex32, sha256Hex } from "./runtime/tensor.ts";

export interface BlobServiceOptions {
  datadir: string;
  logger: Logger;
  /** Largest blob fetched from a peer (default 512 MiB). */
  maxFetchBytes?: number;
}

const toBytes = (hash: Hex) => Uint8Array.from(Buffer.from(hash.slice(2), "hex"));

export class BlobService implements BlobSource {
  readonly store: BlobStore;
  private network: Network | undefined;
  private readonly logger: Logger;
  private readonly maxFetchBytes: number;
  private readonly inflight = new Map<Hex, Promise<Uint8Array>>();

  constructor(opts: BlobServiceOptions) {
    // The same directory the p2p blob protocol serves (node/p2p/index.ts).
    this.store = new FileBlobStore(join(opts.datadir, "blobs"));
    this.logger = opts.logger;
    this.maxFetchBytes = opts.maxFetchBytes ?? 512 * 1024 * 1024;
  }

  /** Peers to fetch from (a node without p2p only has its own store). */
  attachNetwork(network: Network): void {
    this.network = network;
  }

  /** Stores `bytes`; returns their sha256. */
  async put(bytes: Uint8Array): Promise<Hex> {
    const hash = sha256Hex(bytes);
    await this.store.put(bytes, toBytes(hash));
    return hash;
  }

  /** The local copy, or undefined. */
  async local(hash: Hex): Promise<Uint8Array | undefined> {
    check(hash);
    return this.store.get(toBytes(hash));
  }

  /** The blob, from the local store or else from a connected peer (then kept locally). */
  async get(hash: Hex): Promise<Uint8Array> {
    check(hash);
    const local = await this.store.get(toBytes(hash));
    if (local !== undefined && sha256Hex(local) === hash) return local;
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
      ComputeErrorCode.CALL_FAILED,
      `a blob hash is 0x and 64 lowercase hex digits, got ${hash}`,
    );
}
