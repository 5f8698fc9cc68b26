/**
 * Content-addressed blobs of the compute layer (models, inputs, outputs), keyed by the sha256 of
 * their bytes. `FileBlobStore` keeps each blob in a file `<dir>/<first 2 hex>/<64 hex>`, written
 * to a temporary name and renamed, so a blob is either complete or absent; bytes are checked
 * against the hash when stored, and served by ranges without reading whole files.
 *
 * Segments: blobs that may be lost in a crash (an executor's outputs, which it can compute
 * again: decision 0012) can instead be appended to segment files `<dir>/segments/<8 digits>.seg`
 * (64 MiB each), one record per blob: `"OGS1"`, the length (u32 little-endian), the sha256 (32
 * bytes), the bytes. Creating, renaming and linking a file per small blob cost 0.1-0.7 ms of
 * file-system work each on a 2-core host, against ~2 us for an append. The store keeps an index
 * in memory, rebuilt when it opens by reading the segments: a record whose bytes do not hash to
 * its sha256 is skipped; the first truncated or unreadable record ends its segment, which is cut
 * there (records after it are lost: a crash can leave a hole in unflushed appends). The store
 * hands out the place of a record (`reserveSegment`), someone writes it (the blob writer thread,
 * or `writeSegmentRecord`), then `commitSegment` makes it readable. A removed record stays in its
 * segment until the segment is gone; a later record of the same blob wins.
 */
import { hash as digest, randomBytes } from "node:crypto";
import { constants, mkdirSync, readdirSync, readFileSync, statSync, truncateSync } from "node:fs";
import { type FileHandle, mkdir, open, readFile, rename, rm, stat, writeFile } from "node:fs/promises";
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
  return new Uint8Array(digest("sha256", data, "buffer"));
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

/** Bytes of a segment record before the blob: magic, length, sha256. */
export const SEGMENT_RECORD_HEADER = 40;
/** "OGS1" read as a little-endian u32. */
const SEGMENT_MAGIC = 0x3153474f;
const SEGMENT_BYTES = 64 * 1024 * 1024;
/** Largest blob appended to a segment (larger ones get a file of their own). */
export const MAX_SEGMENT_BLOB = 4 * 1024 * 1024;

/** Where a segment record is written: the segment file, the record's offset in it, its header. */
export interface SegmentTarget {
  path: string;
  position: number;
  header: Uint8Array;
}

/** A reserved segment record (`reserveSegment`): its place, and the blob it is for. */
export interface SegmentSlot extends SegmentTarget {
  hex: string;
  length: number;
}

interface SegmentEntry {
  path: string;
  /** Offset of the blob's first byte (after the record header). */
  offset: number;
  length: number;
}

/** The segment records of a directory: the index of the blobs in them and the segment appended to. */
class SegmentLog {
  private readonly dir: string;
  private readonly index = new Map<string, SegmentEntry>();
  private number = 0;
  private size = 0;

  constructor(dir: string) {
    this.dir = dir;
    mkdirSync(dir, { recursive: true });
    this.recover();
  }

  private pathOf(n: number): string {
    return join(this.dir, `${String(n).padStart(8, "0")}.seg`);
  }

  private recover(): void {
    const numbers = readdirSync(this.dir)
      .filter((name) => /^\d{8}\.seg$/.test(name))
      .map((name) => Number(name.slice(0, 8)))
      .sort((a, b) => a - b);
    for (const n of numbers) {
      const path = this.pathOf(n);
      const buf = readFileSync(path);
      let pos = 0;
      while (pos + SEGMENT_RECORD_HEADER <= buf.length) {
        const length = buf.readUInt32LE(pos + 4);
        const end = pos + SEGMENT_RECORD_HEADER + length;
        if (buf.readUInt32LE(pos) !== SEGMENT_MAGIC || end > buf.length) break;
        const hash = buf.subarray(pos + 8, pos + SEGMENT_RECORD_HEADER);
        const data = buf.subarray(pos + SEGMENT_RECORD_HEADER, end);
        if (Buffer.compare(sha256(data), hash) === 0)
          this.index.set(hash.toString("hex"), { path, offset: pos + SEGMENT_RECORD_HEADER, length });
        pos = end;
      }
      if (pos < buf.length) truncateSync(path, pos);
      this.number = n;
      this.size = pos;
    }
    if (this.size >= SEGMENT_BYTES) this.rotate();
  }

  private rotate(): void {
    this.number++;
    this.size = 0;
  }

  lookup(hex: string): SegmentEntry | undefined {
    return this.index.get(hex);
  }

  reserve(hex: string, length: number): SegmentSlot {
    if (this.size > 0 && this.size + SEGMENT_RECORD_HEADER + length > SEGMENT_BYTES) this.rotate();
    const header = new Uint8Array(SEGMENT_RECORD_HEADER);
    const view = new DataView(header.buffer);
    view.setUint32(0, SEGMENT_MAGIC, true);
    view.setUint32(4, length, true);
    header.set(Buffer.from(hex, "hex"), 8);
    const slot = { hex, path: this.pathOf(this.number), position: this.size, length, header };
    this.size += SEGMENT_RECORD_HEADER + length;
    return slot;
  }

  commit(slot: SegmentSlot): void {
    this.index.set(slot.hex, {
      path: slot.path,
      offset: slot.position + SEGMENT_RECORD_HEADER,
      length: slot.length,
    });
  }

  /** A record that was not written: later ones go to a new segment, not after the gap. */
  abandon(slot: SegmentSlot): void {
    if (slot.path === this.pathOf(this.number) && this.size > 0) this.rotate();
  }

  remove(hex: string): void {
    this.index.delete(hex);
  }
}

/** `length` bytes of an open file from `position` (BlobStoreError if the file ends first). */
async function readFully(
  file: FileHandle,
  position: number,
  length: number,
  hex: string,
): Promise<Uint8Array> {
  const out = new Uint8Array(length);
  let done = 0;
  while (done < length) {
    const { bytesRead } = await file.read(out, done, length - done, position + done);
    if (bytesRead === 0) throw new BlobStoreError(BlobStoreErrorCode.INVALID_ARGUMENT, `blob ${hex} shrank`);
    done += bytesRead;
  }
  return out;
}

async function readAt(path: string, position: number, length: number, hex: string): Promise<Uint8Array> {
  const file = await open(path, "r");
  try {
    return await readFully(file, position, length, hex);
  } finally {
    await file.close();
  }
}

/** Blobs as files under a directory, and small replaceable ones in its segments. */
export class FileBlobStore implements BlobStore {
  readonly dir: string;
  private readonly segments: SegmentLog;

  constructor(dir: string) {
    this.dir = dir;
    mkdirSync(dir, { recursive: true });
    this.segments = new SegmentLog(join(dir, "segments"));
  }

  /**
   * A place for `hex`'s blob of `length` bytes at the end of the current segment, with the
   * record's header. Nothing is readable until `commitSegment`; call `abandonSegment` if the
   * record could not be written.
   */
  reserveSegment(hex: string, length: number): SegmentSlot {
    if (length > MAX_SEGMENT_BLOB)
      throw new BlobStoreError(
        BlobStoreErrorCode.INVALID_ARGUMENT,
        `a segment record holds at most ${MAX_SEGMENT_BLOB} bytes, not ${length}`,
      );
    return this.segments.reserve(hex, length);
  }

  commitSegment(slot: SegmentSlot): void {
    this.segments.commit(slot);
  }

  abandonSegment(slot: SegmentSlot): void {
    this.segments.abandon(slot);
  }

  /** Writes a reserved record from this thread (not flushed to disk). */
  async writeSegmentRecord(slot: SegmentTarget, bytes: Uint8Array): Promise<void> {
    const file = await open(slot.path, constants.O_WRONLY | constants.O_CREAT, 0o644);
    try {
      await file.writev([slot.header, bytes], slot.position);
    } finally {
      await file.close();
    }
  }

  private path(hash: Uint8Array): string {
    const hex = hashHex(hash);
    return join(this.dir, hex.slice(0, 2), hex);
  }

  async has(hash: Uint8Array): Promise<boolean> {
    return (await this.size(hash)) !== undefined;
  }

  async size(hash: Uint8Array): Promise<number | undefined> {
    const entry = this.segments.lookup(hashHex(hash));
    if (entry !== undefined) return entry.length;
    try {
      return (await stat(this.path(hash))).size;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
      throw err;
    }
  }

  /** Synchronous: one `stat` of a local file (microseconds), cheaper than a trip to the thread pool. */
  stamp(hash: Uint8Array): BlobStamp | undefined {
    const entry = this.segments.lookup(hashHex(hash));
    if (entry !== undefined) return { token: `${entry.path}:${entry.offset}`, changedAt: 0 };
    const s = statSync(this.path(hash), { throwIfNoEntry: false });
    if (s === undefined) return undefined;
    return {
      token: `${s.size}:${s.dev}:${s.ino}:${s.mtimeMs}:${s.ctimeMs}`,
      changedAt: Math.max(s.mtimeMs, s.ctimeMs),
    };
  }

  async get(hash: Uint8Array): Promise<Uint8Array | undefined> {
    const hex = hashHex(hash);
    const entry = this.segments.lookup(hex);
    if (entry !== undefined) return readAt(entry.path, entry.offset, entry.length, hex);
    try {
      return new Uint8Array(await readFile(this.path(hash)));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
      throw err;
    }
  }

  async read(hash: Uint8Array, offset: number, length: number): Promise<Uint8Array> {
    const hex = hashHex(hash);
    const entry = this.segments.lookup(hex);
    if (entry !== undefined) {
      checkRange(entry.length, offset, length, hex);
      return readAt(entry.path, entry.offset + offset, length, hex);
    }
    let file: FileHandle;
    try {
      file = await open(this.path(hash), "r");
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT")
        throw new BlobStoreError(BlobStoreErrorCode.NOT_FOUND, `no blob ${hex}`);
      throw err;
    }
    try {
      checkRange((await file.stat()).size, offset, length, hex);
      return await readFully(file, offset, length, hex);
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
    this.segments.remove(hashHex(hash));
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
