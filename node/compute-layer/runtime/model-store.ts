/**
 * Content-addressed store of ONNX model bytes, named by their sha256.
 *
 * It is a layer over the node's p2p `BlobStore` (node/p2p/reqresp/blob-store.ts) rather than a
 * second copy of it: models live in the same content-addressed store the blob protocol serves,
 * so a model one provider fetched is served to committee members and peers without a second
 * copy on disk. `FileBlobStore` already writes each blob to a temporary file and renames it
 * (complete or absent) under `<dir>/<first 2 hex>/<64 hex>` and refuses bytes that do not match
 * the hash on put. This layer adds what a runtime needs on top:
 * - a size limit (MODEL_TOO_LARGE), checked before hashing and on read;
 * - the bytes must parse as an ONNX model (MODEL_LOAD_FAILED / MODEL_UNSUPPORTED, client faults);
 * - the sha256 is checked again whenever the stored file may have changed, so a file changed on
 *   disk is detected (MODEL_CORRUPT), never run: verified bytes are kept in memory (an LRU of
 *   `cacheBytes`) with the blob store's `stamp` of the file (size, inode, modification and change
 *   times, one synchronous `stat`), and a read whose stamp is unchanged returns them without
 *   reading and hashing the file again (for a small model that was a millisecond per task, more
 *   than the inference). File times are coarse, so, as git does with "racily clean" index
 *   entries, a stamp that changed less than `RACY_MS` before it was taken proves nothing: such a
 *   model is read and verified again on every read until its stamp is older;
 * - `fetch(sha256)` gets a missing (or corrupt) model from a pluggable `BlobSource` (the p2p
 *   blob protocol, an HTTP mirror, a test double), verifies the hash of what came back
 *   (MODEL_HASH_MISMATCH) and stores it; concurrent fetches of one model share one download.
 *
 * Hashes are 0x-prefixed lowercase hex strings (`Hex`) here, 32-byte arrays in the BlobStore.
 *
 * API:
 * - `interface BlobSource { get(sha256: Hex): Promise<Uint8Array> }`
 * - `interface ModelStoreOptions { dir?, blobs?, maxModelBytes?, cacheBytes?, source?, logger }`
 * - `DEFAULT_MAX_MODEL_BYTES`
 * - `class ModelStore { has, put, get, fetch }`
 */
import { join } from "node:path";
import { LRUCache } from "lru-cache";
import { type BlobStamp, type BlobStore, FileBlobStore } from "../../p2p/reqresp/blob-store.ts";
import type { Logger } from "../../utils/logger.ts";
import { ComputeRuntimeError, ComputeRuntimeErrorCode } from "./errors.ts";
import { readModelSpec } from "./model-spec.ts";
import type { ModelBytes } from "./runner.ts";
import { type Hex, isHex32, sha256Hex } from "./tensor.ts";

/** Where models come from when they are not stored locally. May return anything; it is verified. */
export interface BlobSource {
  get(sha256: Hex): Promise<Uint8Array>;
}

export interface ModelStoreOptions {
  /** Directory of a FileBlobStore made for this store (models under `<dir>/models`). One of dir or blobs. */
  dir?: string;
  /** An existing blob store to keep models in, typically the node's p2p blob store. */
  blobs?: BlobStore;
  /** Largest model accepted (default DEFAULT_MAX_MODEL_BYTES). */
  maxModelBytes?: number;
  /** Bytes of verified models kept in memory (default 256 MiB; 0: none). */
  cacheBytes?: number;
  /** Default source for `fetch`. */
  source?: BlobSource;
  logger: Logger;
}

/**
 * A file changed this recently may change again within the same timestamp tick and keep its
 * stamp: bytes read from it are not trusted across reads until its stamp is older.
 */
const RACY_MS = 2000;

/** 512 MiB: above the largest single-file models a provider is expected to serve. */
export const DEFAULT_MAX_MODEL_BYTES = 512 * 1024 * 1024;

function hashBytes(sha256: Hex): Uint8Array {
  if (!isHex32(sha256))
    throw new ComputeRuntimeError(
      ComputeRuntimeErrorCode.INVALID_ARGUMENT,
      `a model sha256 is 0x and 64 lowercase hex digits, got ${String(sha256)}`,
    );
  return Uint8Array.from(Buffer.from(sha256.slice(2), "hex"));
}

export class ModelStore {
  private readonly blobs: BlobStore;
  private readonly maxModelBytes: number;
  private readonly source: BlobSource | undefined;
  private readonly logger: Logger;
  private readonly fetching = new Map<Hex, Promise<ModelBytes>>();
  /** Verified model bytes with the stamp of the stored file they were read from. */
  private readonly verified:
    | LRUCache<Hex, { hash: Uint8Array; bytes: Uint8Array; stamp: string }>
    | undefined;

  constructor(opts: ModelStoreOptions) {
    if ((opts.dir === undefined) === (opts.blobs === undefined))
      throw new ComputeRuntimeError(
        ComputeRuntimeErrorCode.INVALID_ARGUMENT,
        "give a model store either dir or blobs",
      );
    this.blobs = opts.blobs ?? new FileBlobStore(join(opts.dir!, "models"));
    this.maxModelBytes = opts.maxModelBytes ?? DEFAULT_MAX_MODEL_BYTES;
    if (!Number.isSafeInteger(this.maxModelBytes) || this.maxModelBytes < 1)
      throw new ComputeRuntimeError(ComputeRuntimeErrorCode.INVALID_ARGUMENT, "maxModelBytes must be >= 1");
    this.source = opts.source;
    this.logger = opts.logger;
    const cacheBytes = opts.cacheBytes ?? 256 * 1024 * 1024;
    this.verified =
      cacheBytes > 0 && this.blobs.stamp !== undefined
        ? new LRUCache({ maxSize: cacheBytes, sizeCalculation: (v) => Math.max(1, v.bytes.length) })
        : undefined;
  }

  /** Whether a model with this hash is stored (not verified; `get` verifies). */
  async has(sha256: Hex): Promise<boolean> {
    return this.blobs.has(hashBytes(sha256));
  }

  private checkSize(size: number, what: string): void {
    if (size > this.maxModelBytes)
      throw new ComputeRuntimeError(
        ComputeRuntimeErrorCode.MODEL_TOO_LARGE,
        `${what} is ${size} bytes, more than the ${this.maxModelBytes} allowed`,
        { size, max: this.maxModelBytes },
      );
  }

  /**
   * Stores `bytes` after checking size, ONNX structure and (with `expected`) the hash; returns
   * the sha256. Throws MODEL_TOO_LARGE, MODEL_HASH_MISMATCH, MODEL_LOAD_FAILED, MODEL_UNSUPPORTED.
   */
  async put(bytes: Uint8Array, expected?: Hex): Promise<Hex> {
    if (expected !== undefined) hashBytes(expected);
    this.checkSize(bytes.length, "the model");
    const sha256 = sha256Hex(bytes);
    if (expected !== undefined && sha256 !== expected)
      throw new ComputeRuntimeError(
        ComputeRuntimeErrorCode.MODEL_HASH_MISMATCH,
        `model bytes hash to ${sha256}, not ${expected}`,
        { expected, actual: sha256 },
      );
    readModelSpec(bytes);
    await this.blobs.put(bytes, hashBytes(sha256));
    return sha256;
  }

  /**
   * The stored model, its hash verified; undefined when absent. Throws MODEL_CORRUPT when the
   * stored bytes no longer hash to `sha256`, MODEL_TOO_LARGE when they exceed the limit. The
   * bytes may be shared with other callers: do not modify them.
   */
  async get(sha256: Hex): Promise<ModelBytes | undefined> {
    const known = this.verified?.get(sha256);
    const hash = known?.hash ?? hashBytes(sha256);
    let stamp: BlobStamp | undefined;
    if (this.verified !== undefined) {
      stamp = this.blobs.stamp?.(hash);
      if (stamp === undefined) return undefined;
      if (known?.stamp === stamp.token) return { sha256, bytes: known.bytes };
    }
    const size = await this.blobs.size(hash);
    if (size === undefined) return undefined;
    this.checkSize(size, `stored model ${sha256}`);
    const bytes = await this.blobs.get(hash);
    if (bytes === undefined) return undefined;
    const actual = sha256Hex(bytes);
    if (actual !== sha256) {
      this.logger.error(
        { model: sha256, actual },
        "Stored model does not match its hash (corrupt or tampered)",
      );
      throw new ComputeRuntimeError(
        ComputeRuntimeErrorCode.MODEL_CORRUPT,
        `stored model ${sha256} hashes to ${actual}: the file is corrupt or was changed`,
        { model: sha256, actual },
      );
    }
    // Stamped before the read: a later change shows as a new stamp (once the stamp is old enough
    // that a change cannot share its timestamp tick), and is read again.
    if (stamp !== undefined && (stamp.changedAt === 0 || Date.now() - stamp.changedAt > RACY_MS))
      this.verified?.set(sha256, { hash, bytes, stamp: stamp.token });
    else this.verified?.delete(sha256);
    return { sha256, bytes };
  }

  /**
   * The model from the store, or else from `source` (default: the store's), verified and stored.
   * A corrupt local copy is reported and replaced by a fetched one. Throws MODEL_NOT_FOUND
   * (no source, or the source failed), MODEL_HASH_MISMATCH (the source sent other bytes),
   * MODEL_TOO_LARGE, MODEL_LOAD_FAILED / MODEL_UNSUPPORTED (not a usable ONNX model).
   */
  fetch(sha256: Hex, source?: BlobSource): Promise<ModelBytes> {
    hashBytes(sha256);
    let pending = this.fetching.get(sha256);
    if (pending === undefined) {
      pending = this.fetchOnce(sha256, source ?? this.source).finally(() => this.fetching.delete(sha256));
      this.fetching.set(sha256, pending);
    }
    return pending;
  }

  private async fetchOnce(sha256: Hex, source: BlobSource | undefined): Promise<ModelBytes> {
    try {
      const local = await this.get(sha256);
      if (local !== undefined) return local;
    } catch (err) {
      if (!(err instanceof ComputeRuntimeError && err.code === ComputeRuntimeErrorCode.MODEL_CORRUPT))
        throw err;
    }
    if (source === undefined)
      throw new ComputeRuntimeError(
        ComputeRuntimeErrorCode.MODEL_NOT_FOUND,
        `model ${sha256} is not stored and there is no source to fetch it from`,
        { model: sha256 },
      );
    const started = performance.now();
    let bytes: Uint8Array;
    try {
      bytes = await source.get(sha256);
    } catch (err) {
      throw new ComputeRuntimeError(
        ComputeRuntimeErrorCode.MODEL_NOT_FOUND,
        `model ${sha256} could not be fetched: ${(err as Error).message}`,
        { model: sha256 },
        { cause: err },
      );
    }
    this.checkSize(bytes.length, `fetched model ${sha256}`);
    const actual = sha256Hex(bytes);
    if (actual !== sha256)
      throw new ComputeRuntimeError(
        ComputeRuntimeErrorCode.MODEL_HASH_MISMATCH,
        `the source sent ${bytes.length} bytes hashing to ${actual} for model ${sha256}`,
        { model: sha256, actual },
      );
    await this.put(bytes, sha256);
    const stored = await this.get(sha256).catch(() => undefined);
    if (stored === undefined)
      this.logger.warn(
        { model: sha256 },
        "Fetched model could not replace the corrupt stored copy; serving the fetched bytes (remove the stored file)",
      );
    this.logger.info(
      { model: sha256, bytes: bytes.length, ms: Math.round(performance.now() - started) },
      "Model fetched and stored",
    );
    return { sha256, bytes };
  }
}
