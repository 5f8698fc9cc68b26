import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { FileBlobStore, MemoryBlobStore } from "../p2p/reqresp/blob-store.ts";
import { silentLogger } from "../utils/logger.ts";
import { BlobService } from "./blobs.ts";
import { type Hex, sha256Hex } from "./runtime/tensor.ts";

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});
function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "opengpu-blobs-"));
  dirs.push(dir);
  return dir;
}
const fileOf = (datadir: string, hash: Hex) => join(datadir, "blobs", hash.slice(2, 4), hash.slice(2));
const toBytes = (hash: Hex) => Uint8Array.from(Buffer.from(hash.slice(2), "hex"));

describe("BlobService", () => {
  it("serves a staged blob at once and writes it to disk on the writer thread", async () => {
    const datadir = tempDir();
    const blobs = new BlobService({ datadir, logger: silentLogger() });
    const bytes = Uint8Array.from({ length: 1000 }, (_, i) => i % 251);
    const expected = bytes.slice();
    const hash = blobs.stage(bytes);
    expect(hash).toBe(sha256Hex(expected));
    // Readable before it reaches the disk (the write goes to the writer thread after this tick).
    expect(existsSync(fileOf(datadir, hash))).toBe(false);
    expect(await blobs.get(hash)).toEqual(expected);
    expect(await blobs.local(hash)).toEqual(expected);
    await blobs.persisted(hash);
    expect(new Uint8Array(readFileSync(fileOf(datadir, hash)))).toEqual(expected);
    // In FileBlobStore's layout, so the p2p blob protocol serves it.
    expect(await new FileBlobStore(join(datadir, "blobs")).get(toBytes(hash))).toEqual(expected);
    await blobs.close();
  });

  it("writes many blobs staged together, each complete, and close waits for the writes", async () => {
    const datadir = tempDir();
    const blobs = new BlobService({ datadir, logger: silentLogger() });
    const all = Array.from({ length: 50 }, (_, i) =>
      Uint8Array.from({ length: 100 + i }, (_, j) => (i * j) & 255),
    );
    const hashes = all.map((b) => blobs.stage(b));
    expect(blobs.stage(all[0])).toBe(hashes[0]);
    await blobs.close();
    const store = new FileBlobStore(join(datadir, "blobs"));
    for (const [i, hash] of hashes.entries()) expect(await store.get(toBytes(hash))).toEqual(all[i]);
    // After close, writes go the store's own way.
    const late = await blobs.put(Uint8Array.of(1, 2, 3));
    expect(await store.get(toBytes(late))).toEqual(Uint8Array.of(1, 2, 3));
    // put resolves once the blob is on disk; persisted of an unknown blob says so.
    const fresh = new BlobService({ datadir, logger: silentLogger() });
    const put = await fresh.put(Uint8Array.of(9, 9));
    expect(existsSync(fileOf(datadir, put))).toBe(true);
    await fresh.persisted(hashes[3]);
    await expect(fresh.persisted(sha256Hex(Uint8Array.of(7)))).rejects.toThrow(/not stored here/);
    // A new service reads from disk (verified) what an earlier one wrote.
    expect(await fresh.get(hashes[7])).toEqual(all[7]);
    await fresh.close();
  });

  it("appends blobs that need no flush to a segment, and finds and replaces a corrupt copy", async () => {
    const datadir = tempDir();
    const blobs = new BlobService({ datadir, logger: silentLogger() });
    const output = Uint8Array.from({ length: 4096 }, (_, i) => (i * 7) & 255);
    const small = Uint8Array.of(1, 2, 3);
    const input = Uint8Array.from({ length: 300 }, (_, i) => i & 255);
    const outputHash = blobs.stage(output.slice(), { durable: false });
    const smallHash = blobs.stage(small.slice(), { durable: false });
    const inputHash = blobs.stage(input.slice());
    await Promise.all([outputHash, smallHash, inputHash].map((h) => blobs.persisted(h)));
    // The input has a file of its own; the outputs are records in the first segment.
    expect(new Uint8Array(readFileSync(fileOf(datadir, inputHash)))).toEqual(input);
    expect(existsSync(fileOf(datadir, outputHash))).toBe(false);
    const segment = join(datadir, "blobs", "segments", "00000000.seg");
    expect(readFileSync(segment).length).toBe(40 + output.length + 40 + small.length);
    expect(await blobs.store.get(toBytes(outputHash))).toEqual(output);
    expect(await blobs.store.read(toBytes(outputHash), 100, 5)).toEqual(output.subarray(100, 105));
    expect(await blobs.store.size(toBytes(smallHash))).toBe(3);
    expect(await blobs.verify(outputHash)).toBe(true);
    await blobs.close();

    // Reopened: the index is rebuilt from the segment.
    const reopened = new BlobService({ datadir, logger: silentLogger() });
    expect(await reopened.store.get(toBytes(smallHash))).toEqual(small);
    await reopened.close();

    // A crash left the first record without its bytes (zeros where they were) and half a record
    // at the end: the zeroed record is not served, the torn tail is cut.
    const bytes = readFileSync(segment);
    bytes.fill(0, 40, 40 + output.length);
    writeFileSync(segment, Buffer.concat([bytes, Buffer.from("OGS1"), Buffer.alloc(10)]));
    const restarted = new BlobService({ datadir, logger: silentLogger() });
    expect(readFileSync(segment).length).toBe(bytes.length);
    expect(await restarted.verify(outputHash)).toBe(false);
    expect(await restarted.local(smallHash)).toEqual(small);
    // Stored again: a new record, which wins.
    expect(restarted.stage(output.slice(), { durable: false })).toBe(outputHash);
    await restarted.persisted(outputHash);
    await restarted.close();
    const fresh = new BlobService({ datadir, logger: silentLogger() });
    expect(await fresh.verify(outputHash)).toBe(true);
    expect(await fresh.local(outputHash)).toEqual(output);

    // A flushed blob's file found corrupt is removed, so it can be stored again.
    writeFileSync(fileOf(datadir, inputHash), new Uint8Array(input.length));
    expect(await fresh.verify(inputHash)).toBe(false);
    expect(existsSync(fileOf(datadir, inputHash))).toBe(false);
    expect(await fresh.verify(sha256Hex(Uint8Array.of(1)))).toBe(false);
    await fresh.close();
  });

  it("can keep blobs in another store (nothing on disk)", async () => {
    const store = new MemoryBlobStore();
    const blobs = new BlobService({ store, logger: silentLogger() });
    const hash = blobs.stage(Uint8Array.of(4, 5, 6));
    await blobs.persisted(hash);
    expect(await store.get(toBytes(hash))).toEqual(Uint8Array.of(4, 5, 6));
    expect(() => new BlobService({ logger: silentLogger() })).toThrow(/either datadir or store/);
    await blobs.close();
  });
});
