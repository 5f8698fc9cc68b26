/**
 * Blob uploads in parts, for blobs larger than one JSON-RPC request may carry (the body limit,
 * `--rpc.bodylimit`, is 5 MiB by default and hex doubles the size): `opengpu_putBlobPart`
 * appends parts in order to a file under `<datadir>/blob-uploads/`; when the declared size is
 * reached the bytes are checked against the declared sha256 and moved into the node's blob
 * store, from where peers fetch them over the p2p blob protocol.
 *
 * Limits: a blob of at most `maxBlobBytes` (512 MiB by default, the model store's limit), at
 * most `maxUploads` uploads in progress, each forgotten after `idleMs` without a part. Parts of
 * one upload are applied one at a time; a part must start where the previous one ended (the
 * answer says how much was received, so a client resumes after an error).
 */
import { createHash } from "node:crypto";
import { createReadStream, mkdirSync, rmSync } from "node:fs";
import { appendFile, readFile, rm } from "node:fs/promises";
import { join } from "node:path";
import type { BlobService } from "../../compute-layer/blobs.ts";
import { DEFAULT_MAX_MODEL_BYTES } from "../../compute-layer/runtime/model-store.ts";
import type { Hex } from "../../compute-layer/runtime/tensor.ts";
import { invalidParams, limitExceeded } from "./errors.ts";

export interface BlobUploadsOptions {
  /** Node data directory (uploads in `<datadir>/blob-uploads`). */
  datadir: string;
  maxBlobBytes?: number;
  maxUploads?: number;
  idleMs?: number;
}

export interface UploadProgress {
  sha256: Hex;
  size: number;
  received: number;
  complete: boolean;
}

interface Upload {
  size: number;
  received: number;
  file: string;
  touched: number;
  /** Parts are applied one after another. */
  queue: Promise<unknown>;
}

export class BlobUploads {
  readonly maxBlobBytes: number;
  private readonly dir: string;
  private readonly maxUploads: number;
  private readonly idleMs: number;
  private readonly blobs: BlobService;
  private readonly uploads = new Map<Hex, Upload>();

  constructor(opts: BlobUploadsOptions, blobs: BlobService) {
    this.dir = join(opts.datadir, "blob-uploads");
    this.maxBlobBytes = opts.maxBlobBytes ?? DEFAULT_MAX_MODEL_BYTES;
    this.maxUploads = opts.maxUploads ?? 16;
    this.idleMs = opts.idleMs ?? 10 * 60_000;
    this.blobs = blobs;
    // Parts left by an earlier run cannot be resumed (their state was in memory).
    rmSync(this.dir, { recursive: true, force: true });
    mkdirSync(this.dir, { recursive: true });
  }

  /** Uploads in progress. */
  get pending(): number {
    return this.uploads.size;
  }

  /** Appends `part` at `offset` to the upload of blob `sha256` of `size` bytes. */
  async put(sha256: Hex, size: number, offset: number, part: Uint8Array): Promise<UploadProgress> {
    if (!Number.isSafeInteger(size) || size < 1)
      throw invalidParams(`blob size must be at least 1 byte, got ${size}`);
    if (size > this.maxBlobBytes)
      throw limitExceeded(`blob of ${size} bytes is above the ${this.maxBlobBytes}-byte limit`, {
        max: this.maxBlobBytes,
      });
    const stored = await this.blobs.store.size(hashBytes(sha256));
    if (stored !== undefined) {
      this.forget(sha256);
      return { sha256, size: stored, received: stored, complete: true };
    }
    this.expire();
    let upload = this.uploads.get(sha256);
    if (upload !== undefined && upload.size !== size)
      throw invalidParams(`an upload of ${sha256} with size ${upload.size} is in progress, not ${size}`, {
        size: upload.size,
        received: upload.received,
      });
    if (upload === undefined) {
      if (this.uploads.size >= this.maxUploads)
        throw limitExceeded(`${this.uploads.size} uploads in progress, the limit: try again later`);
      upload = {
        size,
        received: 0,
        file: join(this.dir, `${sha256.slice(2)}.part`),
        touched: Date.now(),
        queue: Promise.resolve(),
      };
      this.uploads.set(sha256, upload);
    }
    const u = upload;
    const result = u.queue.then(() => this.apply(sha256, u, offset, part));
    u.queue = result.catch(() => {});
    return result;
  }

  private async apply(sha256: Hex, u: Upload, offset: number, part: Uint8Array): Promise<UploadProgress> {
    u.touched = Date.now();
    if (this.uploads.get(sha256) !== u) {
      // Completed or expired while this part waited: report what the store has.
      const stored = await this.blobs.store.size(hashBytes(sha256));
      if (stored !== undefined) return { sha256, size: stored, received: stored, complete: true };
      throw invalidParams(`the upload of ${sha256} was abandoned: start again at offset 0`, { received: 0 });
    }
    if (offset !== u.received)
      throw invalidParams(`part at offset ${offset}: ${u.received} bytes of ${sha256} received so far`, {
        received: u.received,
      });
    if (part.length === 0) throw invalidParams("empty part");
    if (u.received + part.length > u.size)
      throw invalidParams(
        `part of ${part.length} bytes at offset ${offset} runs past the blob's ${u.size} bytes`,
        { received: u.received },
      );
    await appendFile(u.file, part);
    u.received += part.length;
    if (u.received < u.size) return { sha256, size: u.size, received: u.received, complete: false };
    this.uploads.delete(sha256);
    try {
      const actual = await fileSha256(u.file);
      if (actual !== sha256)
        throw invalidParams(`the uploaded bytes hash to ${actual}, not ${sha256}: upload them again`, {
          received: 0,
        });
      await this.blobs.put(new Uint8Array(await readFile(u.file)));
    } finally {
      await rm(u.file, { force: true });
    }
    return { sha256, size: u.size, received: u.size, complete: true };
  }

  private forget(sha256: Hex): void {
    const u = this.uploads.get(sha256);
    if (u === undefined) return;
    this.uploads.delete(sha256);
    rmSync(u.file, { force: true });
  }

  /** Drops uploads idle for longer than `idleMs`. */
  private expire(): void {
    const now = Date.now();
    for (const [sha256, u] of this.uploads) if (now - u.touched > this.idleMs) this.forget(sha256);
  }

  close(): void {
    for (const sha256 of [...this.uploads.keys()]) this.forget(sha256);
  }
}

function hashBytes(sha256: Hex): Uint8Array {
  return Uint8Array.from(Buffer.from(sha256.slice(2), "hex"));
}

function fileSha256(file: string): Promise<Hex> {
  return new Promise((resolve, reject) => {
    const hash = createHash("sha256");
    createReadStream(file)
      .on("data", (chunk) => hash.update(chunk))
      .on("error", reject)
      .on("end", () => resolve(`0x${hash.digest("hex")}`));
  });
}
