/**
 * Content-addressed blobs of the compute layer (models, inputs, outputs), keyed by the sha256 of
 * their bytes. `FileBlobStore` keeps each blob in a file `<dir>/<first 2 hex>/<64 hex>`, written
 * to a temporary name and renamed, so a blob is either complete or absent; bytes are checked
 * against the hash when stored, and served by ranges without reading whole files.
 */
import { createHash, randomBytes } from "node:crypto";
import { mkdirSync, statSync } from "node:fs";
import { mkdir, open, readFile, rename, rm, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { OpenGpuError } from "../../utils/errors.ts";

export const BlobStoreErrorCode = {
  /** The bytes do not hash to the sha256 they were stored under. */
  HASH_MISMATCH: "BLOB_STORE_HASH_MISMATCH",
  /** No blob with this hash. */
  NOT_FOUND: "BLOB_STORE_NOT_FOUND",
  /** A read past the end of the blob, or a hash that is not 32 bytes. */
  INVALID_ARGUMENT: "BLOB_STORE_INVALID_ARGUMENT",
} as const;
export type BlobStoreErrorCode = (typeof BlobStoreErrorCode)[keyof typeof BlobStoreErrorCode];
export class BlobStoreError extends OpenGpuError<BlobStoreErrorCode> {
  override name = "BlobStoreError";
}

export interface BlobStamp {
  token: string;
  changedAt: number;
}

export interface BlobStore {
  has(hash: Uint8Array): Promise<boolean>;
  /** Size in bytes, undefined if absent. */
  size(hash: Uint8Array): Promise<number | undefined>;
  /** The whole blob, undefined if absent. */
  get(hash: Uint8Array): Promise<Uint8Array | undefined>;
  /**
   * A cheap token that changes whenever the stored blob changes (undefined if absent), so a
   * reader can keep bytes it verified until then, and when the blob last changed (unix ms; 0 if
   * the token is exact). FileBlobStore's token is the file's size, inode, modification and change
   * times from one `stat`; file times are coarse (a clock tick, more on some filesystems), so a
   * file changed again within the tick of its last change keeps its token: readers treat a token
   * younger than a couple of seconds as unproven (see ModelStore).
   */
  stamp?(hash: Uint8Array): BlobStamp | undefined;
  /** Bytes `[offset, offset + length)` of a stored blob. Throws BlobStoreError. */
  read(hash: Uint8Array, offset: number, length: number): Promise<Uint8Array>;
  /**
   * Stores `data` and returns its sha256; with `hash`, refuses data that does not hash to it
   * (BlobStoreError HASH_MISMATCH). Storing a blob twice is a no-op.
   */
  put(data: Uint8Array, hash?: Uint8Array): Promise<Uint8Array>;
  /** Removes a stored blob (no-op when absent): a copy found corrupt, before it is stored again. */
  remove?(hash: Uint8Array): Promise<void>;
}

export function sha256(data: Uint8Array): Uint8Array {
  return new Uint8Array(createHash("sha256").update(data).digest());
}

export function hashHex(hash: Uint8Array): string {
  if (hash.length !== 32)
    throw new BlobStoreError(
      BlobStoreErrorCode.INVALID_ARGUMENT,
      `a blob hash is 32 bytes, got ${hash.length}`,
    );
  return Buffer.from(hash).toString("hex");
}

function checkedHash(data: Uint8Array, expected: Uint8Array | undefined): Uint8Array {
  const hash = sha256(data);
  if (expected !== undefined && hashHex(expected) !== hashHex(hash))
    throw new BlobStoreError(
      BlobStoreErrorCode.HASH_MISMATCH,
      `blob hashes to ${hashHex(hash)}, not ${hashHex(expected)}`,
    );
  return hash;
}

function checkRange(size: number, offset: number, length: number, hex: string): void {
  if (
    !Number.isSafeInteger(offset) ||
    !Number.isSafeInteger(length) ||
    offset < 0 ||
    length < 0 ||
    offset + length > size
  )
    throw new BlobStoreError(
      BlobStoreErrorCode.INVALID_ARGUMENT,
      `range [${offset}, ${offset + length}) outside blob ${hex} of ${size} bytes`,
    );
}

/** Blobs as files under a directory. */
export class FileBlobStore implements BlobStore {
  readonly dir: string;

  constructor(dir: string) {
    this.dir = dir;
    mkdirSync(dir, { recursive: true });
  }

  private path(hash: Uint8Array): string {
    const hex = hashHex(hash);
    return join(this.dir, hex.slice(0, 2), hex);
  }

  async has(hash: Uint8Array): Promise<boolean> {
    return (await this.size(hash)) !== undefined;
  }

  async size(hash: Uint8Array): Promise<number | undefined> {
    try {
      return (await stat(this.path(hash))).size;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
      throw err;
    }
  }

  /** Synchronous: one `stat` of a local file (microseconds), cheaper than a trip to the thread pool. */
  stamp(hash: Uint8Array): BlobStamp | undefined {
    const s = statSync(this.path(hash), { throwIfNoEntry: false });
    if (s === undefined) return undefined;
    return {
      token: `${s.size}:${s.dev}:${s.ino}:${s.mtimeMs}:${s.ctimeMs}`,
      changedAt: Math.max(s.mtimeMs, s.ctimeMs),
    };
  }

  async get(hash: Uint8Array): Promise<Uint8Array | undefined> {
    try {
      return new Uint8Array(await readFile(this.path(hash)));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
      throw err;
    }
  }

  async read(hash: Uint8Array, offset: number, length: number): Promise<Uint8Array> {
    const hex = hashHex(hash);
    let file: Awaited<ReturnType<typeof open>>;
    try {
      file = await open(this.path(hash), "r");
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT")
        throw new BlobStoreError(BlobStoreErrorCode.NOT_FOUND, `no blob ${hex}`);
      throw err;
    }
    try {
      checkRange((await file.stat()).size, offset, length, hex);
      const out = new Uint8Array(length);
      let done = 0;
      while (done < length) {
        const { bytesRead } = await file.read(out, done, length - done, offset + done);
        if (bytesRead === 0)
          throw new BlobStoreError(BlobStoreErrorCode.INVALID_ARGUMENT, `blob ${hex} shrank`);
        done += bytesRead;
      }
      return out;
    } finally {
      await file.close();
    }
  }

  async put(data: Uint8Array, expected?: Uint8Array): Promise<Uint8Array> {
    const hash = checkedHash(data, expected);
    const path = this.path(hash);
    if ((await this.size(hash)) === data.length) return hash;
    await mkdir(join(this.dir, hashHex(hash).slice(0, 2)), { recursive: true });
    const tmp = `${path}.${randomBytes(6).toString("hex")}.tmp`;
    try {
      await writeFile(tmp, data, { flush: true });
      await rename(tmp, path);
    } catch (err) {
      await rm(tmp, { force: true });
      throw err;
    }
    return hash;
  }

  async remove(hash: Uint8Array): Promise<void> {
    await rm(this.path(hash), { force: true });
  }
}

/** Blobs in memory (tests, small nodes). */
export class MemoryBlobStore implements BlobStore {
  private readonly blobs = new Map<string, Uint8Array>();
  private readonly versions = new Map<string, number>();
  private version = 0;

  async has(hash: Uint8Array): Promise<boolean> {
    return this.blobs.has(hashHex(hash));
  }

  async size(hash: Uint8Array): Promise<number | undefined> {
    return this.blobs.get(hashHex(hash))?.length;
  }

  async get(hash: Uint8Array): Promise<Uint8Array | undefined> {
    return this.blobs.get(hashHex(hash));
  }

  stamp(hash: Uint8Array): BlobStamp | undefined {
    const version = this.versions.get(hashHex(hash));
    return version === undefined ? undefined : { token: String(version), changedAt: 0 };
  }

  async read(hash: Uint8Array, offset: number, length: number): Promise<Uint8Array> {
    const hex = hashHex(hash);
    const blob = this.blobs.get(hex);
    if (blob === undefined) throw new BlobStoreError(BlobStoreErrorCode.NOT_FOUND, `no blob ${hex}`);
    checkRange(blob.length, offset, length, hex);
    return blob.subarray(offset, offset + length);
  }

  async put(data: Uint8Array, expected?: Uint8Array): Promise<Uint8Array> {
    const hash = checkedHash(data, expected);
    this.blobs.set(hashHex(hash), new Uint8Array(data));
    this.versions.set(hashHex(hash), ++this.version);
    return hash;
  }

  async remove(hash: Uint8Array): Promise<void> {
    this.blobs.delete(hashHex(hash));
    this.versions.delete(hashHex(hash));
  }
}
