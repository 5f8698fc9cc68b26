/**
 * `OnnxRunner`: runs ONNX models on canonical tensors with onnxruntime-node under a pinned
 * execution profile, and says which environment produced the result.
 *
 * - Profile: execution provider (`cpu` | `cuda`), graph optimization level, intra-op threads
 *   (default 1) and deterministic compute (`use_deterministic_compute`, default on). A task pins
 *   one; the same profile on the same binary and CPU is bitwise reproducible (MODELS.md).
 * - GPU: with `gpu: true` the runner tries the CUDA execution provider once (on first use); if
 *   it is unavailable it logs one warn line ("CUDA execution provider unavailable (...):
 *   running on CPU") and runs `cuda` profiles on CPU. The result and the environment fingerprint
 *   name the provider actually used. With `gpu: false`, `cuda` profiles run on CPU silently.
 * - Sessions are cached per (model sha256, resolved profile) in an LRU of `sessionCacheSize`
 *   entries; an evicted session is released once its in-flight runs finish.
 * - Input data not aligned for its element type (views into canonical bytes: data starts
 *   wherever the header ends) is copied into an aligned buffer reused from run to run (up to
 *   64 MiB kept), so a run allocates no input memory: a fresh buffer per run costs more in
 *   garbage collection than the copy itself.
 * - Errors (ComputeRuntimeError): MODEL_HASH_MISMATCH (bytes do not hash to the model's name),
 *   MODEL_LOAD_FAILED / MODEL_UNSUPPORTED (the model cannot run: a client fault),
 *   INPUT_MISMATCH (inputs do not match the model: a client fault), EXECUTION_FAILED, CLOSED.
 *
 * Environment fingerprint: `{ runtime: "onnxruntime-node@<version>", executionProvider, device
 * (os.cpus()[0].model for CPU, the GPU name for CUDA), graphOptimizationLevel }`, hashed as
 * `keccak256(abi.encode(string runtime, string executionProvider, string device, string
 * graphOptimizationLevel))` (Solidity ABI encoding of four dynamic strings: four head words
 * holding the offsets 0x80.., then each string as a length word and its UTF-8 bytes zero-padded
 * to 32). This is the `environment` the executor commits on chain next to its output commitment.
 *
 * API:
 * - types `ExecutionProviderName`, `GraphOptimizationLevel`, `ExecutionProfile`, `ModelBytes`,
 *   `RunResult`, `EnvironmentFingerprint`, `OnnxRunnerOptions`
 * - `CANONICAL_CPU_PROFILE`, `RUNTIME`, `executionProfile(partial)`, `fingerprintHash(fp)`
 * - `class OnnxRunner { run, modelSpec, environmentFingerprint, cudaAvailable, close }`
 */
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { cpus } from "node:os";
import { dirname, join } from "node:path";
import { keccak256 } from "ethereum-cryptography/keccak";
import { LRUCache } from "lru-cache";
import onnxProto from "onnx-proto";
import { env, InferenceSession, type Tensor } from "onnxruntime-node";
import type { Logger } from "../../utils/logger.ts";
import { ComputeRuntimeError, ComputeRuntimeErrorCode } from "./errors.ts";
import type { ComputeRuntimeMetrics } from "./metrics.ts";
import { checkInputs, type ModelSpec, readModelSpec } from "./model-spec.ts";
import {
  type CanonicalTensor,
  elementSize,
  fromOrtTensor,
  type Hex,
  isDType,
  isHex32,
  outputCommitment,
  sha256Hex,
  toOrtTensor,
} from "./tensor.ts";

export type ExecutionProviderName = "cpu" | "cuda";
export type GraphOptimizationLevel = "disabled" | "basic" | "extended" | "all";

export interface ExecutionProfile {
  executionProvider: ExecutionProviderName;
  graphOptimizationLevel: GraphOptimizationLevel;
  /** Intra-op threads (1..64); 1 by default, as tasks run side by side on shared hosts. */
  intraOpNumThreads: number;
  /** Sets the session config `use_deterministic_compute` = 1 (affects CUDA/WebGPU reductions). */
  deterministic: boolean;
}

/** The referee profile: CPU, all optimizations, one thread, deterministic compute. */
export const CANONICAL_CPU_PROFILE: Readonly<ExecutionProfile> = Object.freeze({
  executionProvider: "cpu",
  graphOptimizationLevel: "all",
  intraOpNumThreads: 1,
  deterministic: true,
});

/** `onnxruntime-node@<version>` of the loaded binding. */
export const RUNTIME = `onnxruntime-node@${env.versions.node ?? env.versions.common}`;

export interface ModelBytes {
  /** sha256 of `bytes`, 0x + 64 lowercase hex digits (the model's name on chain). */
  sha256: Hex;
  bytes: Uint8Array;
}

export interface EnvironmentFingerprint {
  runtime: string;
  executionProvider: ExecutionProviderName;
  device: string;
  graphOptimizationLevel: GraphOptimizationLevel;
}

export interface RunResult {
  /** Outputs in canonical order (ascending UTF-8 name). */
  outputs: CanonicalTensor[];
  /** sha256 of the canonical encoding of `outputs` (computed when first read). */
  commitment: Hex;
  /** The profile as executed: `executionProvider` is the one actually used. */
  profile: ExecutionProfile;
  environment: EnvironmentFingerprint;
  /** Whether the session came from the cache. */
  cacheHit: boolean;
  timings: {
    /** Loading the model into a session (0 on a cache hit). */
    sessionCreateMs: number;
    /** The model run itself, including tensor conversion. */
    runMs: number;
  };
}

export interface OnnxRunnerOptions {
  /** Try the CUDA execution provider for `cuda` profiles. */
  gpu: boolean;
  logger: Logger;
  metrics?: ComputeRuntimeMetrics;
  /** Sessions kept loaded (default 8). */
  sessionCacheSize?: number;
}

const LEVELS: readonly GraphOptimizationLevel[] = ["disabled", "basic", "extended", "all"];
/** Bytes of idle aligned input buffers kept for reuse. */
const MAX_SCRATCH_BYTES = 64 * 1024 * 1024;

function badProfile(message: string): ComputeRuntimeError {
  return new ComputeRuntimeError(
    ComputeRuntimeErrorCode.INVALID_ARGUMENT,
    `invalid execution profile: ${message}`,
  );
}

/** A complete, validated profile: `CANONICAL_CPU_PROFILE` overridden by `partial`. Throws INVALID_ARGUMENT. */
export function executionProfile(partial: Partial<ExecutionProfile> = {}): ExecutionProfile {
  const p: ExecutionProfile = { ...CANONICAL_CPU_PROFILE, ...partial };
  if (p.executionProvider !== "cpu" && p.executionProvider !== "cuda")
    throw badProfile(`execution provider ${String(p.executionProvider)} (cpu or cuda)`);
  if (!LEVELS.includes(p.graphOptimizationLevel))
    throw badProfile(`graph optimization level ${String(p.graphOptimizationLevel)} (${LEVELS.join(", ")})`);
  if (!Number.isInteger(p.intraOpNumThreads) || p.intraOpNumThreads < 1 || p.intraOpNumThreads > 64)
    throw badProfile(`intraOpNumThreads ${String(p.intraOpNumThreads)} (1..64)`);
  if (typeof p.deterministic !== "boolean") throw badProfile("deterministic must be a boolean");
  return p;
}

function abiEncodeStrings(values: readonly string[]): Uint8Array {
  const encoded = values.map((v) => new TextEncoder().encode(v));
  const tailSizes = encoded.map((b) => 32 + Math.ceil(b.length / 32) * 32);
  const out = new Uint8Array(32 * values.length + tailSizes.reduce((a, b) => a + b, 0));
  const view = new DataView(out.buffer);
  let offset = 32 * values.length;
  encoded.forEach((bytes, i) => {
    view.setUint32(i * 32 + 28, offset, false);
    view.setUint32(offset + 28, bytes.length, false);
    out.set(bytes, offset + 32);
    offset += tailSizes[i];
  });
  return out;
}

/** Hashes already computed (a host has a handful of environments; ~35 us of JS keccak each). */
const fingerprintHashes = new Map<string, Hex>();

/** keccak256(abi.encode(string runtime, string executionProvider, string device, string graphOptimizationLevel)), 0x-hex. */
export function fingerprintHash(fp: EnvironmentFingerprint): Hex {
  const fields = [fp.runtime, fp.executionProvider, fp.device, fp.graphOptimizationLevel];
  const key = fields.join("\u0000");
  const known = fingerprintHashes.get(key);
  if (known !== undefined) return known;
  const hash: Hex = `0x${Buffer.from(keccak256(abiEncodeStrings(fields))).toString("hex")}`;
  if (fingerprintHashes.size >= 64) fingerprintHashes.clear();
  fingerprintHashes.set(key, hash);
  return hash;
}

/** An Identity model on float32 [1]: loaded with the CUDA provider to see whether it works. */
function probeModel(): Uint8Array {
  const { onnx } = onnxProto;
  const value = (name: string) => ({
    name,
    type: { tensorType: { elemType: onnx.TensorProto.DataType.FLOAT, shape: { dim: [{ dimValue: 1 }] } } },
  });
  return onnx.ModelProto.encode({
    irVersion: 8,
    opsetImport: [{ domain: "", version: 13 }],
    producerName: "opengpu-cuda-probe",
    graph: {
      name: "probe",
      node: [{ opType: "Identity", input: ["x"], output: ["y"] }],
      input: [value("x")],
      output: [value("y")],
    },
  }).finish();
}

function bindingDir(): string {
  const entry = createRequire(import.meta.url).resolve("onnxruntime-node");
  return join(dirname(entry), "..", "bin", "napi-v6", process.platform, process.arch);
}

function gpuName(): Promise<string> {
  return new Promise((resolve) => {
    execFile(
      "nvidia-smi",
      ["--query-gpu=name", "--format=csv,noheader", "-i", "0"],
      { timeout: 5000 },
      (err, stdout) => {
        const name = err === null ? stdout.trim().split("\n")[0]?.trim() : "";
        resolve(name !== undefined && name !== "" ? name : "CUDA device 0");
      },
    );
  });
}

interface SessionEntry {
  session: InferenceSession;
  spec: ModelSpec;
  inFlight: number;
  evicted: boolean;
}

interface Acquired {
  entry: SessionEntry;
  hit: boolean;
  createMs: number;
}

function outcomeOf(err: unknown): string {
  return err instanceof ComputeRuntimeError ? err.code.replace(/^COMPUTE_/, "").toLowerCase() : "error";
}

export class OnnxRunner {
  private readonly gpu: boolean;
  private readonly logger: Logger;
  private readonly metrics: ComputeRuntimeMetrics | undefined;
  private readonly sessions: LRUCache<string, SessionEntry>;
  private readonly loading = new Map<string, Promise<SessionEntry>>();
  private cuda: Promise<boolean> | undefined;
  /** The probe's answer once it is in (the run path then resolves profiles without awaiting). */
  private cudaKnown: boolean | undefined;
  private readonly fingerprints = new Map<string, EnvironmentFingerprint>();
  private gpuDevice: Promise<string> | undefined;
  private cpuDevice: string | undefined;
  private closed = false;
  /** Idle aligned input buffers by byte length, and their total size. */
  private readonly scratch = new Map<number, Uint8Array[]>();
  private scratchBytes = 0;

  constructor(opts: OnnxRunnerOptions) {
    this.gpu = opts.gpu;
    this.logger = opts.logger;
    this.metrics = opts.metrics;
    const max = opts.sessionCacheSize ?? 8;
    if (!Number.isInteger(max) || max < 1)
      throw new ComputeRuntimeError(
        ComputeRuntimeErrorCode.INVALID_ARGUMENT,
        "sessionCacheSize must be >= 1",
      );
    this.sessions = new LRUCache<string, SessionEntry>({
      max,
      dispose: (entry) => {
        entry.evicted = true;
        if (entry.inFlight === 0) this.release(entry);
      },
    });
  }

  /** Whether the CUDA execution provider works here (probed once; false without `gpu`). */
  cudaAvailable(): Promise<boolean> {
    if (!this.gpu) return Promise.resolve(false);
    this.cuda ??= this.probeCuda().then((available) => {
      this.cudaKnown = available;
      return available;
    });
    return this.cuda;
  }

  private async probeCuda(): Promise<boolean> {
    let reason: string;
    const dir = bindingDir();
    if (!existsSync(join(dir, "libonnxruntime_providers_cuda.so"))) {
      reason = `libonnxruntime_providers_cuda.so is not installed in ${dir}`;
    } else {
      try {
        const session = await InferenceSession.create(probeModel(), {
          executionProviders: ["cuda"],
          logSeverityLevel: 3,
        });
        await session.release();
        this.logger.info({ runtime: RUNTIME }, "CUDA execution provider available");
        return true;
      } catch (err) {
        reason = (err as Error).message;
      }
    }
    this.logger.warn({ reason }, `CUDA execution provider unavailable (${reason}): running on CPU`);
    return false;
  }

  /** The profile as it runs here, or undefined while the CUDA probe it depends on is pending. */
  private resolveNow(partial: Partial<ExecutionProfile>): ExecutionProfile | undefined {
    const profile = executionProfile({ executionProvider: this.gpu ? "cuda" : "cpu", ...partial });
    if (profile.executionProvider !== "cuda") return profile;
    const available = this.gpu ? this.cudaKnown : false;
    if (available === undefined) return undefined;
    if (available) return profile;
    if (!this.gpu) this.logger.debug("CUDA profile on a runner without gpu: running on CPU");
    return { ...profile, executionProvider: "cpu" };
  }

  private async resolve(partial: Partial<ExecutionProfile>): Promise<ExecutionProfile> {
    const now = this.resolveNow(partial);
    if (now !== undefined) return now;
    await this.cudaAvailable();
    return this.resolveNow(partial)!;
  }

  /**
   * The environment a run under `profile` executes in (the provider as resolved on this host).
   * `executionProvider` defaults to `cuda` on a `gpu` runner and `cpu` otherwise.
   */
  async environmentFingerprint(profile: Partial<ExecutionProfile> = {}): Promise<EnvironmentFingerprint> {
    const p = await this.resolve(profile);
    return this.fingerprintOf(p);
  }

  private async fingerprintOf(p: ExecutionProfile): Promise<EnvironmentFingerprint> {
    const key = `${p.executionProvider}|${p.graphOptimizationLevel}`;
    const known = this.fingerprints.get(key);
    if (known !== undefined) return { ...known };
    let device: string;
    if (p.executionProvider === "cuda") {
      this.gpuDevice ??= gpuName();
      device = await this.gpuDevice;
    } else {
      // os.cpus() costs ~70 us (it reads every core's times): once per runner.
      this.cpuDevice ??= cpus()[0]?.model.trim() || "unknown CPU";
      device = this.cpuDevice;
    }
    const fp: EnvironmentFingerprint = {
      runtime: RUNTIME,
      executionProvider: p.executionProvider,
      device,
      graphOptimizationLevel: p.graphOptimizationLevel,
    };
    this.fingerprints.set(key, fp);
    return { ...fp };
  }

  /** The model's tensor interface (loads the model under `profile` if it is not cached). */
  async modelSpec(model: ModelBytes, profile: Partial<ExecutionProfile> = {}): Promise<ModelSpec> {
    const p = await this.resolve(profile);
    const { entry } = await this.acquire(model, p);
    this.releaseUse(entry);
    return entry.spec;
  }

  /**
   * Runs `model` on `inputs` under `profile` (defaults: CANONICAL_CPU_PROFILE, provider `cuda`
   * on a `gpu` runner). Returns the outputs in canonical order, their commitment and timings.
   */
  async run(
    model: ModelBytes,
    inputs: readonly CanonicalTensor[],
    profile: Partial<ExecutionProfile> = {},
  ): Promise<RunResult> {
    // The hot path (known provider, cached session, known fingerprint) awaits nothing but the run.
    const p = this.resolveNow(profile) ?? (await this.resolve(profile));
    let runStarted = 0;
    try {
      const acquired = this.acquire(model, p);
      const { entry, hit, createMs } = acquired instanceof Promise ? await acquired : acquired;
      try {
        checkInputs(entry.spec, inputs);
        runStarted = performance.now();
        const feeds: Record<string, Tensor> = {};
        const borrowed: Uint8Array[] = [];
        let results: InferenceSession.OnnxValueMapType;
        try {
          for (const input of inputs) feeds[input.name] = this.ortInput(input, borrowed);
          results = await entry.session.run(feeds);
        } catch (err) {
          if (err instanceof ComputeRuntimeError) throw err;
          throw new ComputeRuntimeError(
            ComputeRuntimeErrorCode.EXECUTION_FAILED,
            `model ${model.sha256} failed to run: ${(err as Error).message}`,
            { model: model.sha256 },
            { cause: err },
          );
        } finally {
          // The outputs are new buffers of onnxruntime-node's, never the inputs': those are free.
          for (const b of borrowed) this.giveBack(b);
        }
        // The output buffers are ours alone: canonical tensors over them, without a copy.
        const outputs = entry.session.outputNames.map((name) => {
          const value = results[name];
          if (value === undefined)
            throw new ComputeRuntimeError(ComputeRuntimeErrorCode.EXECUTION_FAILED, `output ${name} missing`);
          return fromOrtTensor(name, value as Tensor, { copy: false });
        });
        outputs.sort((a, b) => Buffer.compare(Buffer.from(a.name, "utf8"), Buffer.from(b.name, "utf8")));
        // Computed when first read (an agent encodes and hashes the outputs when it stores them).
        let commitment: Hex | undefined;
        const known = this.fingerprints.get(`${p.executionProvider}|${p.graphOptimizationLevel}`);
        const environment = known !== undefined ? { ...known } : await this.fingerprintOf(p);
        const runMs = performance.now() - runStarted;
        this.metrics?.onExecution(p.executionProvider, "success", runMs / 1000);
        if (this.logger.isLevelEnabled("debug"))
          this.logger.debug(
            {
              model: model.sha256,
              ep: p.executionProvider,
              commitment: outputCommitment(outputs),
              runMs,
              createMs,
              cacheHit: hit,
            },
            "Model executed",
          );
        return {
          outputs,
          get commitment(): Hex {
            commitment ??= outputCommitment(outputs);
            return commitment;
          },
          profile: p,
          environment,
          cacheHit: hit,
          timings: { sessionCreateMs: createMs, runMs },
        };
      } finally {
        this.releaseUse(entry);
      }
    } catch (err) {
      const seconds = runStarted === 0 ? 0 : (performance.now() - runStarted) / 1000;
      this.metrics?.onExecution(p.executionProvider, outcomeOf(err), seconds);
      throw err;
    }
  }

  /** The onnxruntime tensor of `t`: its own data when aligned, else a reused aligned copy. */
  private ortInput(t: CanonicalTensor, borrowed: Uint8Array[]): Tensor {
    // Anything odd goes the plain way, which validates and throws INVALID_TENSOR.
    if (!isDType(t.dtype) || !(t.data instanceof Uint8Array)) return toOrtTensor(t);
    if (t.data.byteOffset % elementSize(t.dtype) === 0) return toOrtTensor(t);
    let copy = this.scratch.get(t.data.length)?.pop();
    if (copy === undefined) copy = new Uint8Array(t.data.length);
    else this.scratchBytes -= copy.length;
    copy.set(t.data);
    borrowed.push(copy);
    return toOrtTensor({ ...t, data: copy });
  }

  private giveBack(buffer: Uint8Array): void {
    if (this.scratchBytes + buffer.length > MAX_SCRATCH_BYTES) return;
    const list = this.scratch.get(buffer.length);
    if (list === undefined) this.scratch.set(buffer.length, [buffer]);
    else list.push(buffer);
    this.scratchBytes += buffer.length;
  }

  /** A session for (model, profile): from the cache synchronously, or a promise of a loaded one. */
  private acquire(model: ModelBytes, p: ExecutionProfile): Acquired | Promise<Acquired> {
    if (this.closed) throw new ComputeRuntimeError(ComputeRuntimeErrorCode.CLOSED, "the runner is closed");
    if (!isHex32(model.sha256))
      throw new ComputeRuntimeError(
        ComputeRuntimeErrorCode.INVALID_ARGUMENT,
        `model sha256 must be 0x and 64 lowercase hex digits, got ${String(model.sha256)}`,
      );
    const key = `${model.sha256}|${p.executionProvider}|${p.graphOptimizationLevel}|${p.intraOpNumThreads}|${p.deterministic ? 1 : 0}`;
    const cached = this.sessions.get(key);
    this.metrics?.onCacheLookup(cached !== undefined);
    if (cached !== undefined) {
      cached.inFlight++;
      return { entry: cached, hit: true, createMs: 0 };
    }
    return this.acquireLoaded(model, p, key);
  }

  private async acquireLoaded(model: ModelBytes, p: ExecutionProfile, key: string): Promise<Acquired> {
    let pending = this.loading.get(key);
    const started = performance.now();
    if (pending === undefined) {
      pending = this.load(model, p).finally(() => this.loading.delete(key));
      this.loading.set(key, pending);
      const entry = await pending;
      if (this.closed) {
        this.release(entry);
        throw new ComputeRuntimeError(ComputeRuntimeErrorCode.CLOSED, "the runner is closed");
      }
      entry.inFlight++;
      this.sessions.set(key, entry);
      return { entry, hit: false, createMs: performance.now() - started };
    }
    const entry = await pending;
    if (this.closed) throw new ComputeRuntimeError(ComputeRuntimeErrorCode.CLOSED, "the runner is closed");
    entry.inFlight++;
    return { entry, hit: false, createMs: performance.now() - started };
  }

  private async load(model: ModelBytes, p: ExecutionProfile): Promise<SessionEntry> {
    const actual = sha256Hex(model.bytes);
    if (actual !== model.sha256)
      throw new ComputeRuntimeError(
        ComputeRuntimeErrorCode.MODEL_HASH_MISMATCH,
        `model bytes hash to ${actual}, not ${model.sha256}`,
        { model: model.sha256, actual },
      );
    const spec = readModelSpec(model.bytes);
    const started = performance.now();
    let session: InferenceSession;
    try {
      session = await InferenceSession.create(model.bytes, {
        executionProviders: [p.executionProvider],
        graphOptimizationLevel: p.graphOptimizationLevel,
        intraOpNumThreads: p.intraOpNumThreads,
        interOpNumThreads: 1,
        executionMode: "sequential",
        // Fatal only: failures reach the caller as typed errors carrying onnxruntime's message,
        // rather than as unstructured lines on stderr.
        logSeverityLevel: 4,
        ...(p.deterministic ? { extra: { session: { use_deterministic_compute: "1" } } } : {}),
      });
    } catch (err) {
      throw new ComputeRuntimeError(
        ComputeRuntimeErrorCode.MODEL_LOAD_FAILED,
        `model ${model.sha256} failed to load: ${(err as Error).message}`,
        { model: model.sha256 },
        { cause: err },
      );
    }
    const seconds = (performance.now() - started) / 1000;
    this.metrics?.onSessionCreate(p.executionProvider, seconds);
    this.logger.debug(
      { model: model.sha256, ep: p.executionProvider, level: p.graphOptimizationLevel, ms: seconds * 1000 },
      "Inference session created",
    );
    return { session, spec, inFlight: 0, evicted: false };
  }

  private releaseUse(entry: SessionEntry): void {
    entry.inFlight--;
    if (entry.evicted && entry.inFlight === 0) this.release(entry);
  }

  private release(entry: SessionEntry): void {
    entry.session.release().catch((err: unknown) => {
      this.logger.warn({ err: (err as Error).message }, "Releasing an inference session failed");
    });
  }

  /** Releases every cached session; later calls throw CLOSED. */
  async close(): Promise<void> {
    this.closed = true;
    await Promise.allSettled(this.loading.values());
    this.sessions.clear();
  }
}
