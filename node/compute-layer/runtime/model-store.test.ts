import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { type BlobStore, MemoryBlobStore, sha256 } from "../../p2p/reqresp/blob-store.ts";
import { silentLogger } from "../../utils/logger.ts";
import { int8Model, mlpModel } from "../models/generate.ts";
import { ComputeRuntimeErrorCode } from "./errors.ts";
import { type BlobSource, ModelStore } from "./model-store.ts";
import { type Hex, sha256Hex } from "./tensor.ts";

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "opengpu-models-"));
  dirs.push(dir);
  return dir;
}

function countingSource(blobs: Map<Hex, Uint8Array>): BlobSource & { calls: number } {
  const source = {
    calls: 0,
    async get(hash: Hex): Promise<Uint8Array> {
      source.calls++;
      await new Promise((r) => setTimeout(r, 5));
      const b = blobs.get(hash);
      if (b === undefined) throw new Error(`peer has no ${hash}`);
      return b;
    },
  };
  return source;
}

async function codeOf(promise: Promise<unknown>): Promise<string | undefined> {
  return promise.then(
    () => undefined,
    (err: unknown) => (err as { code?: string }).code,
  );
}

describe("ModelStore", () => {
  it("stores models content-addressed in a FileBlobStore layout, atomically, and reads them back verified", async () => {
    const dir = tempDir();
    const store = new ModelStore({ dir, logger: silentLogger() });
    const model = mlpModel();
    expect(await store.get(model.sha256)).toBeUndefined();
    expect(await store.put(model.bytes)).toBe(model.sha256);
    expect(await store.put(model.bytes, model.sha256)).toBe(model.sha256);
    const hex = model.sha256.slice(2);
    expect(readdirSync(join(dir, "models", hex.slice(0, 2)))).toEqual([hex]);
    const reopened = new ModelStore({ dir, logger: silentLogger() });
    expect(await reopened.has(model.sha256)).toBe(true);
    expect(await reopened.get(model.sha256)).toEqual({ sha256: model.sha256, bytes: model.bytes });
  });

  it("detects a model file changed on disk, and fetch replaces it from the source", async () => {
    const dir = tempDir();
    const model = mlpModel();
    const source = countingSource(new Map([[model.sha256, model.bytes]]));
    const store = new ModelStore({ dir, logger: silentLogger(), source });
    await store.put(model.bytes);
    const hex = model.sha256.slice(2);
    const file = join(dir, "models", hex.slice(0, 2), hex);
    const tampered = readFileSync(file);
    tampered[tampered.length - 5] ^= 0x01;
    writeFileSync(file, tampered.subarray(0, tampered.length - 1));
    expect(await codeOf(store.get(model.sha256))).toBe(ComputeRuntimeErrorCode.MODEL_CORRUPT);
    const fetched = await store.fetch(model.sha256);
    expect(fetched.bytes).toEqual(model.bytes);
    expect(source.calls).toBe(1);
    expect((await store.get(model.sha256))?.bytes).toEqual(model.bytes);

    // Same size, one bit flipped: still detected on read.
    const flipped = readFileSync(file);
    flipped[100] ^= 0x80;
    writeFileSync(file, flipped);
    expect(await codeOf(store.get(model.sha256))).toBe(ComputeRuntimeErrorCode.MODEL_CORRUPT);
    // fetch never hands out the corrupt copy: it serves the verified bytes from the source.
    expect((await store.fetch(model.sha256)).bytes).toEqual(model.bytes);
    expect(source.calls).toBe(2);
  });

  it("fetches from a source once for concurrent callers, verifies what came back, and stores it", async () => {
    const model = int8Model();
    const blobs = new MemoryBlobStore();
    const source = countingSource(new Map([[model.sha256, model.bytes]]));
    const store = new ModelStore({ blobs, logger: silentLogger(), source });
    const [a, b] = await Promise.all([store.fetch(model.sha256), store.fetch(model.sha256)]);
    expect(a).toEqual({ sha256: model.sha256, bytes: model.bytes });
    expect(b).toBe(a);
    expect(source.calls).toBe(1);
    expect(await blobs.get(sha256(model.bytes))).toEqual(model.bytes);
    await store.fetch(model.sha256);
    expect(source.calls).toBe(1);

    const other = mlpModel();
    const liar: BlobSource = { get: async () => model.bytes };
    expect(await codeOf(store.fetch(other.sha256, liar))).toBe(ComputeRuntimeErrorCode.MODEL_HASH_MISMATCH);
    expect(await store.has(other.sha256)).toBe(false);
    expect(await codeOf(store.fetch(other.sha256))).toBe(ComputeRuntimeErrorCode.MODEL_NOT_FOUND);
    const bare = new ModelStore({ blobs: new MemoryBlobStore(), logger: silentLogger() });
    expect(await codeOf(bare.fetch(other.sha256))).toBe(ComputeRuntimeErrorCode.MODEL_NOT_FOUND);
  });

  it("keeps verified models in memory until the stored blob's stamp changes", async () => {
    const model = mlpModel();
    const blobs = new MemoryBlobStore();
    let reads = 0;
    const counting: BlobStore = {
      has: (hash) => blobs.has(hash),
      size: (hash) => blobs.size(hash),
      get: (hash) => {
        reads++;
        return blobs.get(hash);
      },
      read: (hash, offset, length) => blobs.read(hash, offset, length),
      put: (data, hash) => blobs.put(data, hash),
      stamp: (hash) => blobs.stamp(hash),
    };
    const store = new ModelStore({ blobs: counting, logger: silentLogger() });
    await store.put(model.bytes);
    expect((await store.get(model.sha256))?.bytes).toEqual(model.bytes);
    expect((await store.fetch(model.sha256)).bytes).toEqual(model.bytes);
    expect(reads).toBe(1);
    // Stored again (a new stamp): read and verified again.
    await blobs.put(model.bytes);
    await store.get(model.sha256);
    expect(reads).toBe(2);
    const uncached = new ModelStore({ blobs: counting, logger: silentLogger(), cacheBytes: 0 });
    await uncached.get(model.sha256);
    await uncached.get(model.sha256);
    expect(reads).toBe(4);
  });

  it("enforces the size limit, the expected hash and ONNX structure on put", async () => {
    const model = mlpModel();
    const store = new ModelStore({
      blobs: new MemoryBlobStore(),
      logger: silentLogger(),
      maxModelBytes: 1000,
    });
    expect(await codeOf(store.put(model.bytes))).toBe(ComputeRuntimeErrorCode.MODEL_TOO_LARGE);
    const source: BlobSource = { get: async () => model.bytes };
    expect(await codeOf(store.fetch(model.sha256, source))).toBe(ComputeRuntimeErrorCode.MODEL_TOO_LARGE);

    const roomy = new ModelStore({ blobs: new MemoryBlobStore(), logger: silentLogger() });
    const small = int8Model();
    expect(await codeOf(roomy.put(small.bytes, model.sha256))).toBe(
      ComputeRuntimeErrorCode.MODEL_HASH_MISMATCH,
    );
    const notOnnx = new TextEncoder().encode("definitely not a protobuf model \u0000\u0001");
    expect(await codeOf(roomy.put(notOnnx))).toBe(ComputeRuntimeErrorCode.MODEL_LOAD_FAILED);
    expect(await roomy.has(sha256Hex(notOnnx))).toBe(false);
    expect(await codeOf(roomy.get("0x1234" as Hex))).toBe(ComputeRuntimeErrorCode.INVALID_ARGUMENT);
    expect(() => new ModelStore({ logger: silentLogger() })).toThrow(/either dir or blobs/);
  });
});
