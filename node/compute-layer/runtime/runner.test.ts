import { copyFileSync, existsSync, mkdtempSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { Writable } from "node:stream";
import type { Worker } from "node:worker_threads";
import onnxProto from "onnx-proto";
import { encodeAbiParameters, keccak256 } from "viem";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createMetrics } from "../../metrics/index.ts";
import { createLogger, silentLogger } from "../../utils/logger.ts";
import { int8Model, seededInputs, transformerModel } from "../models/generate.ts";
import { loadNpmModel, type NpmModel } from "../models/npm-models.ts";
import { ComputeRuntimeError, ComputeRuntimeErrorCode, isClientFault } from "./errors.ts";
import { computeRuntimeMetrics } from "./metrics.ts";
import { compare, DEFAULT_FLOAT_POLICY, EXACT_POLICY, INT8_EXACT_POLICY } from "./policy.ts";
import {
  disableTf32,
  fingerprintHash,
  type ModelBytes,
  missingLibraries,
  OnnxRunner,
  RUNTIME,
} from "./runner.ts";
import {
  type CanonicalTensor,
  decodeCanonical,
  encodeCanonical,
  outputCommitment,
  sha256Hex,
  tensorFromValues,
  tensorValues,
} from "./tensor.ts";

const { onnx } = onnxProto;

let cls: NpmModel;
let runner: OnnxRunner;
const CLS_INPUT = (): CanonicalTensor[] =>
  seededInputs([{ name: "x", dtype: "float32", dims: [1, 3, 48, 192] }], 11);

beforeAll(async () => {
  cls = await loadNpmModel("ocr-cls");
  runner = new OnnxRunner({ gpu: false, logger: silentLogger() });
});
afterAll(async () => {
  await runner.close();
});

function capture(): { lines: Record<string, unknown>[]; logger: ReturnType<typeof createLogger> } {
  const lines: Record<string, unknown>[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString("utf8").split("\n")) if (line !== "") lines.push(JSON.parse(line));
      done();
    },
  });
  return { lines, logger: createLogger({ level: "info", format: "json", destination }) };
}

async function codeOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (err) {
    expect(err).toBeInstanceOf(ComputeRuntimeError);
    return (err as ComputeRuntimeError).code;
  }
  throw new Error("expected a ComputeRuntimeError");
}

/** A one-node model built inline (for load failures and unsupported outputs). */
function tinyModel(
  opType: string,
  outType: number,
  attribute: onnxProto.onnx.IAttributeProto[] = [],
): ModelBytes {
  const info = (name: string, elemType: number) => ({
    name,
    type: { tensorType: { elemType, shape: { dim: [{ dimValue: 2 }] } } },
  });
  const bytes = onnx.ModelProto.encode({
    irVersion: 8,
    opsetImport: [{ domain: "", version: 17 }],
    graph: {
      name: "tiny",
      node: [{ opType, input: ["x"], output: ["y"], attribute }],
      input: [info("x", onnx.TensorProto.DataType.FLOAT)],
      output: [info("y", outType)],
    },
  }).finish();
  return { sha256: sha256Hex(bytes), bytes };
}

describe("OnnxRunner on the real PP-OCR classifier", () => {
  it("is bitwise reproducible across sessions and runners", async () => {
    const first = await runner.run(cls, CLS_INPUT());
    expect(first.cacheHit).toBe(false);
    expect(first.outputs.map((o) => [o.name, o.dtype, o.dims])).toEqual([
      ["softmax_0.tmp_0", "float32", [1, 2]],
    ]);
    const probs = tensorValues(first.outputs[0]) as Float32Array;
    expect(probs[0] + probs[1]).toBeCloseTo(1, 5);
    expect(first.timings.sessionCreateMs).toBeGreaterThan(0);
    const again = await runner.run(cls, CLS_INPUT());
    expect(again.cacheHit).toBe(true);
    expect(again.timings.sessionCreateMs).toBe(0);
    const other = new OnnxRunner({ gpu: false, logger: silentLogger() });
    const fresh = await other.run(cls, CLS_INPUT());
    await other.close();
    expect(again.commitment).toBe(first.commitment);
    expect(fresh.commitment).toBe(first.commitment);
    expect(compare(EXACT_POLICY, first.outputs, fresh.outputs).ok).toBe(true);
  });

  it("runs on views of canonical bytes: unaligned data copied into reused buffers the outputs never share", async () => {
    const encoded = encodeCanonical(CLS_INPUT());
    const views = decodeCanonical(encoded, { copy: false });
    expect(views[0].data.buffer).toBe(encoded.buffer);
    expect(views[0].data.byteOffset % 4).not.toBe(0);
    const fromViews = await runner.run(cls, views);
    expect(fromViews.commitment).toBe((await runner.run(cls, CLS_INPUT())).commitment);
    expect(fromViews.commitment).toBe(outputCommitment(fromViews.outputs));
    // Identity returns its input: each output must still be a buffer of its own.
    const identity = tinyModel("Identity", onnx.TensorProto.DataType.FLOAT);
    const input = (a: number, b: number) =>
      decodeCanonical(encodeCanonical([tensorFromValues("x", "float32", [2], new Float32Array([a, b]))]), {
        copy: false,
      });
    const first = await runner.run(identity, input(1, 2));
    const second = await runner.run(identity, input(3, 4));
    expect([...(tensorValues(first.outputs[0]) as Float32Array)]).toEqual([1, 2]);
    expect([...(tensorValues(second.outputs[0]) as Float32Array)]).toEqual([3, 4]);
  });

  it("optimization levels 'disabled' and 'all' agree within the tolerance policy, not bitwise", async () => {
    const all = await runner.run(cls, CLS_INPUT(), { graphOptimizationLevel: "all" });
    const off = await runner.run(cls, CLS_INPUT(), { graphOptimizationLevel: "disabled" });
    expect(off.profile.graphOptimizationLevel).toBe("disabled");
    expect(off.commitment).not.toBe(all.commitment);
    expect(compare(EXACT_POLICY, all.outputs, off.outputs).ok).toBe(false);
    const verdict = compare(DEFAULT_FLOAT_POLICY, all.outputs, off.outputs);
    expect(verdict).toMatchObject({ ok: true });
    expect(verdict.maxAbsErr).toBeGreaterThan(0);
    expect(verdict.maxRelErr).toBeLessThan(1e-4);
  });

  it("the detector's near-zero map differs by kernel noise only, which the default policy accepts", async () => {
    const det = await loadNpmModel("ocr-det");
    const input = seededInputs([{ name: "x", dtype: "float32", dims: [1, 3, 64, 64] }], 5);
    const all = await runner.run(det, input, { graphOptimizationLevel: "all" });
    const off = await runner.run(det, input, { graphOptimizationLevel: "disabled" });
    expect(off.commitment).not.toBe(all.commitment);
    expect(compare(DEFAULT_FLOAT_POLICY, all.outputs, off.outputs).ok).toBe(true);
  });

  it("a dishonest output scaled by 1.01 fails the tolerance policy", async () => {
    const honest = await runner.run(cls, CLS_INPUT());
    const values = Float32Array.from(tensorValues(honest.outputs[0]) as Float32Array, (v) => v * 1.01);
    const forged = [tensorFromValues(honest.outputs[0].name, "float32", honest.outputs[0].dims, values)];
    const verdict = compare(DEFAULT_FLOAT_POLICY, honest.outputs, forged);
    expect(verdict.ok).toBe(false);
    expect(verdict.reason).toMatch(/beyond/);
    expect(verdict.maxRelErr).toBeCloseTo(0.01, 4);
  });
});

describe("OnnxRunner on generated models", () => {
  it("a GELU -> tanh transformer fails the tolerance policy; the honest one at another level passes", async () => {
    const model = transformerModel();
    const cheat = transformerModel({ gelu: "tanh" });
    const input = seededInputs(model.inputs, 21, 2);
    const honest = await runner.run(model, input);
    const other = await runner.run(model, input, { graphOptimizationLevel: "disabled" });
    const dishonest = await runner.run(cheat, input);
    expect(compare(DEFAULT_FLOAT_POLICY, honest.outputs, other.outputs).ok).toBe(true);
    const verdict = compare(DEFAULT_FLOAT_POLICY, honest.outputs, dishonest.outputs);
    expect(verdict).toMatchObject({ ok: false, tensor: "hidden" });
    expect(verdict.maxRelErr).toBeGreaterThan(1e-3);
  });

  it("the int8 model is bitwise equal across sessions and levels, and computes (x - 128) W exactly", async () => {
    const model = int8Model();
    const input = seededInputs(model.inputs, 3, 4);
    const a = await runner.run(model, input);
    const other = new OnnxRunner({ gpu: false, logger: silentLogger() });
    const b = await other.run(model, input, { graphOptimizationLevel: "disabled" });
    await other.close();
    expect(b.commitment).toBe(a.commitment);
    expect(compare(INT8_EXACT_POLICY, a.outputs, b.outputs).ok).toBe(true);

    const graph = onnx.ModelProto.decode(model.bytes).graph!;
    const raw = graph.initializer!.find((t) => t.name === "fc.weight")!.rawData!;
    const w = new Int8Array(raw.buffer, raw.byteOffset, raw.length);
    const x = input[0].data;
    const expected = new Int32Array(4 * 8);
    for (let n = 0; n < 4; n++)
      for (let j = 0; j < 8; j++)
        for (let k = 0; k < 16; k++) expected[n * 8 + j] += (x[n * 16 + k] - 128) * w[k * 8 + j];
    const acc = a.outputs.find((o) => o.name === "acc")!;
    const y = a.outputs.find((o) => o.name === "y")!;
    expect(Array.from(tensorValues(acc) as Int32Array)).toEqual(Array.from(expected));
    expect(Array.from(tensorValues(y) as Float32Array)).toEqual(
      Array.from(expected, (v) => Math.fround(v / 4096)),
    );
  });
});

/** `x` f32 [N,1024] through `depth` MatMuls by one shared 1024x1024 weight: ~2 GFLOP per 1024 rows and layer. */
function slowModel(depth: number): ModelBytes {
  const info = (name: string) => ({
    name,
    type: {
      tensorType: {
        elemType: onnx.TensorProto.DataType.FLOAT,
        shape: { dim: [{ dimParam: "N" }, { dimValue: 1024 }] },
      },
    },
  });
  const weight = new Float32Array(1024 * 1024).fill(1 / 1024);
  const bytes = onnx.ModelProto.encode({
    irVersion: 8,
    opsetImport: [{ domain: "", version: 17 }],
    graph: {
      name: "slow",
      initializer: [
        {
          name: "w",
          dims: [1024, 1024],
          dataType: onnx.TensorProto.DataType.FLOAT,
          rawData: new Uint8Array(weight.buffer),
        },
      ],
      node: Array.from({ length: depth }, (_, i) => ({
        opType: "MatMul",
        input: [i === 0 ? "x" : `h${i}`, "w"],
        output: [i === depth - 1 ? "y" : `h${i + 1}`],
      })),
      input: [info("x")],
      output: [info("y")],
    },
  }).finish();
  return { sha256: sha256Hex(bytes), bytes };
}

describe("OnnxRunner off the main thread", () => {
  it("keeps the event loop responsive while a long model runs on the worker", async () => {
    const slow = slowModel(16);
    const x = (rows: number) => seededInputs([{ name: "x", dtype: "float32", dims: [rows, 1024] }], 7);
    await runner.run(slow, x(1)); // loads the session
    let last = performance.now();
    let maxGap = 0;
    let ticks = 0;
    const timer = setInterval(() => {
      const now = performance.now();
      maxGap = Math.max(maxGap, now - last);
      last = now;
      ticks++;
    }, 5);
    const started = performance.now();
    let result: Awaited<ReturnType<OnnxRunner["run"]>>;
    try {
      result = await runner.run(slow, x(512));
    } finally {
      clearInterval(timer);
    }
    const wallMs = performance.now() - started;
    expect(result.outputs[0].dims).toEqual([512, 1024]);
    // A run long enough to matter: on the main thread it would stall every tick for all of it.
    expect(wallMs).toBeGreaterThan(150);
    expect(maxGap).toBeLessThan(wallMs / 3);
    expect(ticks).toBeGreaterThan(wallMs / 5 / 4);
  });

  it("runs short models on the main thread once measured (the fast path), with the same results", async () => {
    const fast = new OnnxRunner({ gpu: false, logger: silentLogger(), inlineMaxMs: 1000 });
    const identity = tinyModel("Identity", onnx.TensorProto.DataType.FLOAT);
    const input = (a: number, b: number) =>
      decodeCanonical(encodeCanonical([tensorFromValues("x", "float32", [2], new Float32Array([a, b]))]), {
        copy: false,
      });
    const onWorker = await fast.run(cls, CLS_INPUT());
    await fast.run(identity, input(0, 0));
    await fast.run(identity, input(0, 0)); // measured: loads the main-thread twin
    await fast.run(cls, CLS_INPUT());
    await new Promise((resolve) => setTimeout(resolve, 200));
    const entries = [
      ...(fast as unknown as { sessions: Map<string, { inline?: unknown }> }).sessions.values(),
    ];
    expect(entries.every((e) => e.inline !== undefined)).toBe(true);
    const inline = await fast.run(cls, CLS_INPUT());
    expect(inline.commitment).toBe(onWorker.commitment);
    // Identity returns its input: each output must still be a buffer of its own.
    const first = await fast.run(identity, input(1, 2));
    const second = await fast.run(identity, input(3, 4));
    expect([...(tensorValues(first.outputs[0]) as Float32Array)]).toEqual([1, 2]);
    expect([...(tensorValues(second.outputs[0]) as Float32Array)]).toEqual([3, 4]);
    // A run that starts while another is under way goes to the worker, leaving this thread free
    // for the other's work (a provider with two tasks in flight).
    const internals = fast as unknown as { request: (...args: unknown[]) => unknown };
    const request = internals.request.bind(fast);
    let toWorker = 0;
    internals.request = (...args: unknown[]) => {
      toWorker++;
      return request(...args);
    };
    await fast.run(cls, CLS_INPUT());
    expect(toWorker).toBe(0);
    const both = await Promise.all([fast.run(cls, CLS_INPUT()), fast.run(cls, CLS_INPUT())]);
    expect(toWorker).toBe(1);
    expect(both.map((r) => r.commitment)).toEqual([onWorker.commitment, onWorker.commitment]);
    await fast.close();
  });

  it("runs on several workers; a worker that exits takes its sessions, reloaded on the next run", async () => {
    const pool = new OnnxRunner({ gpu: false, logger: silentLogger(), workers: 2, inlineMaxMs: 0 });
    const int8 = int8Model();
    const [a, b] = await Promise.all([
      pool.run(cls, CLS_INPUT()),
      pool.run(int8, seededInputs(int8.inputs, 1)),
    ]);
    expect(a.commitment).toBe((await runner.run(cls, CLS_INPUT())).commitment);
    expect(b.outputs.map((o) => o.name)).toEqual(["acc", "y"]);
    // A worker that exits (here terminated while idle: terminating one inside onnxruntime's run
    // aborts the process, which close() avoids by waiting) takes its sessions: the next run reloads.
    const workers = (pool as unknown as { slots: ({ worker: Worker } | undefined)[] }).slots;
    await Promise.all(workers.map((w) => w?.worker.terminate()));
    const again = await pool.run(cls, CLS_INPUT());
    expect(again.cacheHit).toBe(false);
    expect(again.commitment).toBe(a.commitment);
    await pool.close();
    expect(() => new OnnxRunner({ gpu: false, logger: silentLogger(), workers: 0 })).toThrow(/workers/);
  });
});

describe("OnnxRunner errors", () => {
  it("rejects inputs that do not match the model with INPUT_MISMATCH (a client fault)", async () => {
    const [x] = CLS_INPUT();
    const cases: [CanonicalTensor[], RegExp][] = [
      [[{ ...x, name: "image" }], /no input "image"/],
      [[], /input "x" is missing/],
      [[x, { ...x, name: "extra" }], /no input "extra"/],
      [[x, x], /given twice/],
      [[{ ...x, dtype: "int32" }], /x is int32, the model takes float32/],
      [[{ ...x, dims: [3, 48, 192, 1] }], /axis 1 must be 3/],
      [[{ ...x, dims: [1, 3, 9216] }], /rank 3 \[1,3,9216\], the model takes rank 4 \[\?,3,\?,\?\]/],
      [[{ ...x, data: x.data.subarray(4) }], /malformed input/],
    ];
    for (const [inputs, message] of cases) {
      const err = await runner.run(cls, inputs).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ComputeRuntimeError);
      expect(err).toMatchObject({ code: ComputeRuntimeErrorCode.INPUT_MISMATCH });
      expect((err as Error).message).toMatch(message);
      expect(isClientFault(err)).toBe(true);
    }
  });

  it("reports corrupt or unloadable models as MODEL_LOAD_FAILED, distinct from input errors", async () => {
    const truncated = cls.bytes.subarray(0, cls.bytes.length >> 1);
    const broken = { sha256: sha256Hex(truncated), bytes: truncated };
    expect(await codeOf(runner.run(broken, CLS_INPUT()))).toBe(ComputeRuntimeErrorCode.MODEL_LOAD_FAILED);
    const garbage = Uint8Array.from({ length: 4096 }, (_, i) => (i * 131) % 251);
    expect(await codeOf(runner.run({ sha256: sha256Hex(garbage), bytes: garbage }, CLS_INPUT()))).toBe(
      ComputeRuntimeErrorCode.MODEL_LOAD_FAILED,
    );
    // Valid protobuf, but onnxruntime refuses it: an operator that does not exist.
    const unknownOp = tinyModel("NoSuchOperator", onnx.TensorProto.DataType.FLOAT);
    const err = await runner.run(unknownOp, []).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: ComputeRuntimeErrorCode.MODEL_LOAD_FAILED });
    expect((err as Error).message).toMatch(/NoSuchOperator/);
    expect(isClientFault(err)).toBe(true);
    const half = tinyModel("Cast", onnx.TensorProto.DataType.FLOAT16, [
      { name: "to", type: onnx.AttributeProto.AttributeType.INT, i: onnx.TensorProto.DataType.FLOAT16 },
    ]);
    expect(await codeOf(runner.run(half, []))).toBe(ComputeRuntimeErrorCode.MODEL_UNSUPPORTED);
  });

  it("reports a model that fails on a well-formed input as EXECUTION_FAILED", async () => {
    // Width 0 matches the declared [?,3,?,?], but the first convolution cannot run on it.
    const input = seededInputs([{ name: "x", dtype: "float32", dims: [1, 3, 48, 0] }], 1);
    const err = await runner.run(cls, input).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: ComputeRuntimeErrorCode.EXECUTION_FAILED });
    expect((err as Error).message).toMatch(/Conv/);
    expect(isClientFault(err)).toBe(false);
  });

  it("loads a model given by reference only when no session of it is cached", async () => {
    const fresh = new OnnxRunner({ gpu: false, logger: silentLogger() });
    let loads = 0;
    const ref = {
      sha256: cls.sha256,
      load: async () => {
        loads++;
        return cls;
      },
    };
    expect(fresh.hasSession(cls.sha256)).toBe(false);
    const first = await fresh.run(ref, CLS_INPUT());
    expect(fresh.hasSession(cls.sha256)).toBe(true);
    expect(fresh.hasSession(cls.sha256, { graphOptimizationLevel: "disabled" })).toBe(false);
    expect((await fresh.run(ref, CLS_INPUT())).commitment).toBe(first.commitment);
    expect(loads).toBe(1);
    // A reference whose loader gives another model is refused.
    const wrong = { sha256: `0x${"ab".repeat(32)}` as const, load: async () => cls };
    await expect(fresh.run(wrong, CLS_INPUT())).rejects.toMatchObject({
      code: ComputeRuntimeErrorCode.MODEL_HASH_MISMATCH,
    });
    await fresh.close();
  });

  it("refuses bytes that do not hash to the model's name (not a client fault)", async () => {
    const err = await runner
      .run({ sha256: `0x${"00".repeat(32)}`, bytes: cls.bytes }, CLS_INPUT())
      .catch((e) => e);
    expect(err).toMatchObject({ code: ComputeRuntimeErrorCode.MODEL_HASH_MISMATCH });
    expect(isClientFault(err)).toBe(false);
    expect(await codeOf(runner.run({ sha256: "0xabc", bytes: cls.bytes }, CLS_INPUT()))).toBe(
      ComputeRuntimeErrorCode.INVALID_ARGUMENT,
    );
  });
});

describe("OnnxRunner execution providers and environment", () => {
  const cudaInstalled = existsSync(
    join(
      dirname(createRequire(import.meta.url).resolve("onnxruntime-node")),
      "..",
      "bin",
      "napi-v6",
      process.platform,
      process.arch,
      "libonnxruntime_providers_cuda.so",
    ),
  );

  it.skipIf(cudaInstalled)("falls back to CPU with one warn line when CUDA is unavailable", async () => {
    const { lines, logger } = capture();
    const gpu = new OnnxRunner({ gpu: true, logger });
    const a = await gpu.run(cls, CLS_INPUT(), { executionProvider: "cuda" });
    const b = await gpu.run(cls, CLS_INPUT());
    expect(await gpu.cudaAvailable()).toBe(false);
    const fp = await gpu.environmentFingerprint({ executionProvider: "cuda" });
    await gpu.close();
    expect(a.profile.executionProvider).toBe("cpu");
    expect(b.profile.executionProvider).toBe("cpu");
    expect(fp.executionProvider).toBe("cpu");
    const warns = lines.filter((l) => l.level === 40);
    expect(warns).toHaveLength(1);
    expect(warns[0].msg).toMatch(/^CUDA execution provider unavailable \(.+\): running on CPU$/);
    const cpu = await runner.run(cls, CLS_INPUT(), { executionProvider: "cpu" });
    expect(a.commitment).toBe(cpu.commitment);
  });

  it("turns TensorFloat-32 off for CUDA, saying so when it replaces an operator's setting", () => {
    const was = process.env.NVIDIA_TF32_OVERRIDE;
    try {
      const { lines, logger } = capture();
      process.env.NVIDIA_TF32_OVERRIDE = "1";
      disableTf32(logger);
      expect(process.env.NVIDIA_TF32_OVERRIDE).toBe("0");
      disableTf32(logger);
      expect(lines.filter((l) => l.level === 40).map((l) => l.msg)).toEqual([
        "NVIDIA_TF32_OVERRIDE=1 replaced by 0: compute tasks run float32 models in float32",
      ]);
      delete process.env.NVIDIA_TF32_OVERRIDE;
      disableTf32(logger);
      expect(process.env.NVIDIA_TF32_OVERRIDE).toBe("0");
      expect(lines.filter((l) => l.level === 40)).toHaveLength(1);
    } finally {
      if (was === undefined) delete process.env.NVIDIA_TF32_OVERRIDE;
      else process.env.NVIDIA_TF32_OVERRIDE = was;
    }
  });

  it.runIf(process.platform === "linux")(
    "names the shared libraries a native library cannot find",
    async () => {
      const dir = join(
        dirname(createRequire(import.meta.url).resolve("onnxruntime-node")),
        "..",
        "bin",
        "napi-v6",
        "linux",
        process.arch,
      );
      const binding = join(dir, "onnxruntime_binding.node");
      expect(await missingLibraries(binding)).toEqual([]);
      // Alone in another folder, the binding misses the runtime it finds beside itself ($ORIGIN).
      const alone = mkdtempSync(join(tmpdir(), "opengpu-ldd-"));
      try {
        copyFileSync(binding, join(alone, "onnxruntime_binding.node"));
        expect(await missingLibraries(join(alone, "onnxruntime_binding.node"))).toEqual([
          "libonnxruntime.so.1",
        ]);
      } finally {
        rmSync(alone, { recursive: true, force: true });
      }
      expect(await missingLibraries(join(alone, "gone.so"))).toEqual([]);
    },
  );

  it("fingerprints the environment and hashes it as abi.encode of four strings", async () => {
    const fp = await runner.environmentFingerprint({ graphOptimizationLevel: "basic" });
    expect(fp).toMatchObject({ runtime: RUNTIME, executionProvider: "cpu", graphOptimizationLevel: "basic" });
    expect(RUNTIME).toMatch(/^onnxruntime-node@\d+\.\d+\.\d+$/);
    expect(fp.device.length).toBeGreaterThan(0);
    const long = { ...fp, device: "A device name that is longer than thirty-two bytes, with UTF-8: ü" };
    for (const f of [fp, long]) {
      const abi = encodeAbiParameters(
        [{ type: "string" }, { type: "string" }, { type: "string" }, { type: "string" }],
        [f.runtime, f.executionProvider, f.device, f.graphOptimizationLevel],
      );
      expect(fingerprintHash(f)).toBe(keccak256(abi));
    }
    const result = await runner.run(cls, CLS_INPUT(), { graphOptimizationLevel: "basic" });
    expect(result.environment).toEqual(fp);
    expect(await runner.modelSpec(cls)).toEqual({
      irVersion: 8,
      opset: 9,
      inputs: cls.inputs,
      outputs: cls.outputs,
    });
  });

  it("counts executions, outcomes and cache hits; evicts least recently used sessions; shares loads", async () => {
    const metrics = createMetrics();
    const small = new OnnxRunner({
      gpu: false,
      logger: silentLogger(),
      metrics: computeRuntimeMetrics(metrics),
      sessionCacheSize: 1,
    });
    const int8 = int8Model();
    const both = await Promise.all([small.run(cls, CLS_INPUT()), small.run(cls, CLS_INPUT())]);
    expect(both[1].commitment).toBe(both[0].commitment);
    await small.run(int8, seededInputs(int8.inputs, 1));
    expect((await small.run(cls, CLS_INPUT())).cacheHit).toBe(false);
    await small.run(cls, []).catch(() => undefined);
    await small.close();
    expect(await codeOf(small.run(cls, CLS_INPUT()))).toBe(ComputeRuntimeErrorCode.CLOSED);
    const text = await metrics.registry.metrics();
    expect(text).toMatch(/opengpu_compute_executions_total\{execution_provider="cpu",outcome="success"\} 4/);
    expect(text).toMatch(
      /opengpu_compute_executions_total\{execution_provider="cpu",outcome="input_mismatch"\} 1/,
    );
    expect(text).toMatch(/opengpu_compute_session_cache_hits_total 1/);
    expect(text).toMatch(/opengpu_compute_session_cache_misses_total 4/);
    expect(text).toMatch(/opengpu_compute_session_create_seconds_count\{execution_provider="cpu"\} 3/);
    expect(text).toMatch(/opengpu_compute_execution_seconds_count\{execution_provider="cpu"\} 4/);
  });
});
