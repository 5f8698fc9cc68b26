import { mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import {
  BlobStoreErrorCode,
  FileBlobStore,
  MAX_SEGMENT_BLOB,
  MemoryBlobStore,
  sha256,
} from "./blob-store.ts";

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe.each([
  [
    "file",
    () => {
      const dir = mkdtempSync(join(tmpdir(), "opengpu-blobs-"));
      dirs.push(dir);
      return new FileBlobStore(dir);
    },
  ],
  ["memory", () => new MemoryBlobStore()],
])("%s blob store", (_name, create) => {
  it("stores by sha256, reads ranges, refuses bytes that do not match the hash", async () => {
    const store = create();
    const data = new TextEncoder().encode("an ONNX model, say");
    const hash = await store.put(data);
    expect(hash).toEqual(sha256(data));
    expect(await store.put(data, hash)).toEqual(hash);
    expect(await store.has(hash)).toBe(true);
    expect(await store.size(hash)).toBe(data.length);
    expect(await store.get(hash)).toEqual(data);
    expect(await store.read(hash, 3, 4)).toEqual(data.subarray(3, 7));
    expect(await store.read(hash, data.length, 0)).toEqual(new Uint8Array(0));
    await expect(store.read(hash, 10, 100)).rejects.toMatchObject({
      code: BlobStoreErrorCode.INVALID_ARGUMENT,
    });
    const other = sha256(new Uint8Array(1));
    expect(await store.has(other)).toBe(false);
    expect(await store.get(other)).toBeUndefined();
    await expect(store.read(other, 0, 1)).rejects.toMatchObject({ code: BlobStoreErrorCode.NOT_FOUND });
    await expect(store.put(data, other)).rejects.toMatchObject({ code: BlobStoreErrorCode.HASH_MISMATCH });
    await expect(store.has(new Uint8Array(31))).rejects.toMatchObject({
      code: BlobStoreErrorCode.INVALID_ARGUMENT,
    });
  });
});

describe("file blob store", () => {
  it("lays blobs out as <2 hex>/<64 hex> with no temporary files left", async () => {
    const dir = mkdtempSync(join(tmpdir(), "opengpu-blobs-"));
    dirs.push(dir);
    const store = new FileBlobStore(dir);
    const hash = await store.put(new Uint8Array(1000).fill(3));
    const hex = Buffer.from(hash).toString("hex");
    expect(readdirSync(join(dir, hex.slice(0, 2)))).toEqual([hex]);
    expect((await new FileBlobStore(dir).get(hash))?.length).toBe(1000);
  });

  it("appends segment records: readable once committed, gone when removed, a new segment after a failed write", async () => {
    const dir = mkdtempSync(join(tmpdir(), "opengpu-blobs-"));
    dirs.push(dir);
    const store = new FileBlobStore(dir);
    const a = new Uint8Array(500).fill(1);
    const b = new Uint8Array(20).fill(2);
    const [ha, hb] = [sha256(a), sha256(b)];
    const slotA = store.reserveSegment(Buffer.from(ha).toString("hex"), a.length);
    const slotB = store.reserveSegment(Buffer.from(hb).toString("hex"), b.length);
    expect(slotB.position).toBe(40 + a.length);
    // Written out of order (the writer thread's fallback writes from this thread).
    await store.writeSegmentRecord(slotB, b);
    await store.writeSegmentRecord(slotA, a);
    expect(await store.has(ha)).toBe(false);
    store.commitSegment(slotA);
    store.commitSegment(slotB);
    expect(await store.get(ha)).toEqual(a);
    expect(await store.read(hb, 5, 10)).toEqual(b.subarray(5, 15));
    await expect(store.read(hb, 15, 10)).rejects.toMatchObject({ code: BlobStoreErrorCode.INVALID_ARGUMENT });
    expect(store.stamp(ha)).toMatchObject({ changedAt: 0 });
    await store.remove(ha);
    expect(await store.has(ha)).toBe(false);
    expect(await store.put(a)).toEqual(ha); // now as a file
    expect(await store.get(ha)).toEqual(a);
    // A record that could not be written: what follows goes to the next segment.
    const lost = store.reserveSegment("00".repeat(32), 10);
    store.abandonSegment(lost);
    expect(store.reserveSegment("11".repeat(32), 10).path).toMatch(/00000001\.seg$/);
    expect(() => store.reserveSegment("22".repeat(32), MAX_SEGMENT_BLOB + 1)).toThrow(/at most/);
    expect(readdirSync(join(dir, "segments"))).toEqual(["00000000.seg"]);
    expect(await new FileBlobStore(dir).get(hb)).toEqual(b);
  });

  it("stamps a stored file so that any change to it shows", async () => {
    const dir = mkdtempSync(join(tmpdir(), "opengpu-blobs-"));
    dirs.push(dir);
    const store = new FileBlobStore(dir);
    const data = new Uint8Array(100).fill(7);
    expect(store.stamp(sha256(data))).toBeUndefined();
    const hash = await store.put(data);
    const stamp = store.stamp(hash);
    expect(stamp?.token).toBeDefined();
    expect(store.stamp(hash)).toEqual(stamp);
    // It changed just now (file times are coarse: readers do not trust so young a stamp yet).
    expect(Math.abs(Date.now() - (stamp?.changedAt ?? 0))).toBeLessThan(5_000);
    const hex = Buffer.from(hash).toString("hex");
    // Same size, rewritten in place a tick later: the token changes.
    await new Promise((resolve) => setTimeout(resolve, 50));
    writeFileSync(join(dir, hex.slice(0, 2), hex), new Uint8Array(100).fill(8));
    expect(store.stamp(hash)?.token).not.toBe(stamp?.token);
  });
});
