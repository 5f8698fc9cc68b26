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
 *   Before CUDA loads, the runner sets `NVIDIA_TF32_OVERRIDE=0` for the process: cuBLAS and
 *   cuDNN would otherwise compute float32 matrix products and convolutions in TensorFloat-32
 *   (10-bit mantissa) on Ampere and newer GPUs, and on an H200 that moved honest PP-OCR and
 *   transformer outputs up to 9% from the CPU's, failing the default tolerance policy (with it
 *   off: at most 3e-5 relative; `npm run gpu:check`, decision 0013).
 * - Off the main thread: onnxruntime-node's `session.run` computes synchronously on the thread
 *   that calls it, so the sessions live in worker threads (`runner-worker.ts`, `workers` of them,
 *   default 1) and the node's event loop (block import, consensus duties, JSON-RPC) keeps running
 *   while a model does. The main thread keeps everything else: profiles and the CUDA probe, the
 *   session cache, hash checks and model specs, typed errors, fingerprints and metrics. A model's
 *   bytes go to a worker once per session load; a run sends the inputs copied into one buffer
 *   (each tensor 8-byte aligned; the callers' buffers, often views of stored blobs, are never
 *   transferred), which the worker hands back with the outputs (their buffers transferred, no
 *   copy) and the next run of the same size reuses (up to 64 MiB kept). A worker that exits
 *   fails its runs in flight with EXECUTION_FAILED, its sessions are dropped and the next run
 *   starts a new one. `close` waits for the runs in flight before stopping the workers
 *   (terminating a worker inside onnxruntime's run aborts the process).
 * - Fast path (`inlineMaxMs`, default 50 ms, 0 disables): the hop costs a run two thread wake-ups
 *   (about 0.1 ms on an idle host, up to ~1 ms on a loaded one: as much as a small model's
 *   inference). Runs of a session on inputs of a byte size whose runs took less than
 *   `inlineMaxMs` (a moving average, measured on the worker first) go to a second session of the
 *   same model and profile on the main thread (loaded in the background; only for models that
 *   load in under 100 ms). The main thread then blocks about that long per run and never for a
 *   long one: a size not measured yet runs on the worker, and a run that slows down moves back.
 *   These runs read the callers' input buffers in place (no copy unless unaligned). The fast
 *   path is for a run alone: one that starts while another run is under way goes to the worker,
 *   so this thread does the other runs' work meanwhile (a provider with several tasks in flight
 *   keeps the model busy: bench:compute).
 * - Sessions are cached per (model sha256, resolved profile) in an LRU of `sessionCacheSize`
 *   entries; an evicted session is released once its in-flight runs finish. Each session lives
 *   in one worker (the least busy when it is loaded); a worker runs one model at a time.
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
 * - `CANONICAL_CPU_PROFILE`, `RUNTIME`, `executionProfile(partial)`, `fingerprintHash(fp)`,
 *   `sessionOptions(profile)`
 * - `class OnnxRunner { run, modelSpec, environmentFingerprint, cudaAvailable, close }` (`close`
 *   waits for the runs in flight and stops the workers)
 */
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { cpus } from "node:os";
import { dirname, join } from "node:path";
import { Worker } from "node:worker_threads";
import { keccak256 } from "ethereum-cryptography/keccak";
import { LRUCache } from "lru-cache";
import onnxProto from "onnx-proto";
import { env, InferenceSession, type Tensor } from "onnxruntime-node";
import type { Logger } from "../../utils/logger.ts";
import { ComputeRuntimeError, ComputeRuntimeErrorCode } from "./errors.ts";
import type { ComputeRuntimeMetrics } from "./metrics.ts";
import { checkInputs, type ModelSpec, readModelSpec } from "./model-spec.ts";
import type { WorkerInput, WorkerOutput, WorkerRequest, WorkerResponse } from "./runner-worker.ts";
import {
  type CanonicalTensor,
  type Hex,
  isDType,
  isHex32,
  outputCommitment,
  sha256Hex,
  toOrtTensor,
  validateTensor,
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

/**
 * A model by hash, its bytes loaded only when no session of it is cached (`load` is then called
 * once and must give the model of that hash).
 */
export interface ModelRef {
  sha256: Hex;
  load(): Promise<ModelBytes>;
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
  /**
   * Worker threads running the models (default 1, 1..64). Each session lives in one worker
   * (the least busy when it is loaded); a worker runs one model at a time.
   */
  workers?: number;
  /**
   * Fast path (default 2 ms; 0 disables it): a model whose runs on inputs of a given size have
   * taken less than this (a moving average, measured on the worker first) runs on the main
   * thread instead, in a second session of its own, saving the thread hop (about 0.1 ms idle,
   * more on a loaded host). The main thread then blocks for about that long per run, never for
   * a long run: inputs of a size not yet measured go to the worker.
   */
  inlineMaxMs?: number;
}

const LEVELS: readonly GraphOptimizationLevel[] = ["disabled", "basic", "extended", "all"];
/** Bytes of idle aligned input buffers kept for reuse. */
const MAX_SCRATCH_BYTES = 64 * 1024 * 1024;
/**
 * Models measured faster than this run on the main thread: a stall of this size is absorbed by a
 * node (block import takes ~40 ms, a slot 2 s), and the thread hop would cost small models
 * 10-20% of their run time (bench:compute).
 */
const DEFAULT_INLINE_MAX_MS = 50;
/** Sessions whose load took longer than this stay off the main thread (loading blocks it). */
const INLINE_MAX_CREATE_MS = 100;

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

/**
 * onnxruntime-node's session options for a resolved profile: what the runner's sessions are
 * created with (and what a benchmark's raw session must use to compare like with like).
 */
export function sessionOptions(p: ExecutionProfile): InferenceSession.SessionOptions {
  return {
    executionProviders: [p.executionProvider],
    graphOptimizationLevel: p.graphOptimizationLevel,
    intraOpNumThreads: p.intraOpNumThreads,
    interOpNumThreads: 1,
    executionMode: "sequential",
    // Fatal only: failures reach the caller as typed errors carrying onnxruntime's message,
    // rather than as unstructured lines on stderr.
    logSeverityLevel: 4,
    ...(p.deterministic ? { extra: { session: { use_deterministic_compute: "1" } } } : {}),
  };
}

/** cuBLAS and cuDNN read this before choosing TensorFloat-32 for float32 work. */
const TF32_OVERRIDE = "NVIDIA_TF32_OVERRIDE";

/**
 * Turns TensorFloat-32 off for the whole process before the CUDA provider loads: float32 models
 * then compute in float32 on the GPU, close enough to the CPU for the tolerance policy.
 */
export function disableTf32(logger: Logger): void {
  const was = process.env[TF32_OVERRIDE];
  if (was === "0") return;
  if (was !== undefined)
    logger.warn(
      { was },
      `${TF32_OVERRIDE}=${was} replaced by 0: compute tasks run float32 models in float32`,
    );
  process.env[TF32_OVERRIDE] = "0";
}

/** The shared libraries `file` needs that the dynamic loader cannot find (empty when unknown). */
export function missingLibraries(file: string): Promise<string[]> {
  return new Promise((resolve) => {
    execFile("ldd", [file], { timeout: 5000 }, (err, stdout) => {
      if (err !== null) return resolve([]);
      const missing = [...stdout.matchAll(/^\s*(\S+) => not found/gm)].map((m) => m[1]);
      resolve(missing);
    });
  });
}

/** A worker thread owning sessions, and its requests awaiting an answer. */
interface WorkerSlot {
  worker: Worker;
  pending: Map<number, { resolve: (r: WorkerResponse) => void; reject: (err: Error) => void }>;
  /** Cleared when the worker exits: its sessions are gone. */
  alive: boolean;
}

interface SessionEntry {
  /** The worker holding the session, and the session's number there. */
  slot: WorkerSlot;
  sid: number;
  spec: ModelSpec;
  inFlight: number;
  evicted: boolean;
  /** The session's options (for a main-thread twin). */
  options: InferenceSession.SessionOptions;
  createMs: number;
  /** The model, kept for a main-thread twin when the session loads fast enough to have one. */
  bytes: Uint8Array | undefined;
  /** Run time by input size (bytes, aligned), a moving average: the fast path's evidence. */
  runMs: Map<number, number>;
  /** The main-thread twin for runs known to be short (the fast path), once loaded. */
  inline?: InferenceSession;
  inlineLoading?: boolean;
}

interface Acquired {
  entry: SessionEntry;
  hit: boolean;
  createMs: number;
}

function outcomeOf(err: unknown): string {
  return err instanceof ComputeRuntimeError ? err.code.replace(/^COMPUTE_/, "").toLowerCase() : "error";
}

function closedError(): ComputeRuntimeError {
  return new ComputeRuntimeError(ComputeRuntimeErrorCode.CLOSED, "the runner is closed");
}

/** The session cache's key of a model under a resolved profile. */
const sessionKey = (sha256: Hex, p: ExecutionProfile) =>
  `${sha256}|${p.executionProvider}|${p.graphOptimizationLevel}|${p.intraOpNumThreads}|${p.deterministic ? 1 : 0}`;

/** A tensor's data offset in a run's input buffer: every tensor starts on an 8-byte boundary. */
const align8 = (n: number) => (n + 7) & ~7;

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
  /** Worker threads (started on first use; one restarted after an exit). */
  private readonly slots: (WorkerSlot | undefined)[];
  private readonly inlineMaxMs: number;
  private nextId = 0;
  private nextSid = 0;
  /** Idle input buffers (handed back by the workers) by byte length, and their total size. */
  private readonly scratch = new Map<number, ArrayBuffer[]>();
  /** Main-thread twins being loaded (close waits for them). */
  private readonly twinLoads = new Set<Promise<void>>();
  private scratchBytes = 0;
  /** Runs between `run`'s start and end (the fast path is for a run alone). */
  private activeRuns = 0;

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
    const workers = opts.workers ?? 1;
    if (!Number.isInteger(workers) || workers < 1 || workers > 64)
      throw new ComputeRuntimeError(ComputeRuntimeErrorCode.INVALID_ARGUMENT, "workers must be 1..64");
    this.slots = new Array<WorkerSlot | undefined>(workers).fill(undefined);
    this.inlineMaxMs = opts.inlineMaxMs ?? DEFAULT_INLINE_MAX_MS;
    if (!(this.inlineMaxMs >= 0))
      throw new ComputeRuntimeError(ComputeRuntimeErrorCode.INVALID_ARGUMENT, "inlineMaxMs must be >= 0");
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
    const provider = join(dir, "libonnxruntime_providers_cuda.so");
    if (!existsSync(provider)) {
      reason = `libonnxruntime_providers_cuda.so is not installed in ${dir} (npm run gpu:install)`;
    } else {
      disableTf32(this.logger);
      try {
        const session = await InferenceSession.create(probeModel(), {
          executionProviders: ["cuda"],
          logSeverityLevel: 3,
        });
        await session.release();
        this.logger.info({ runtime: RUNTIME }, "CUDA execution provider available");
        return true;
      } catch (err) {
        const missing = await missingLibraries(provider);
        reason =
          missing.length > 0
            ? `${(err as Error).message}: ${missing.join(", ")} not found (see LD_LIBRARY_PATH)`
            : (err as Error).message;
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
  async modelSpec(model: ModelBytes | ModelRef, profile: Partial<ExecutionProfile> = {}): Promise<ModelSpec> {
    const p = await this.resolve(profile);
    const { entry } = await this.acquire(model, p);
    this.releaseUse(entry);
    return entry.spec;
  }

  /**
   * Runs `model` on `inputs` under `profile` (defaults: CANONICAL_CPU_PROFILE, provider `cuda`
   * on a `gpu` runner). Returns the outputs in canonical order, their commitment and timings.
   * The model runs on a worker thread: this thread waits without blocking. `model` may be a
   * `ModelRef`: its bytes are then loaded only if no session of it is cached.
   */
  async run(
    model: ModelBytes | ModelRef,
    inputs: readonly CanonicalTensor[],
    profile: Partial<ExecutionProfile> = {},
  ): Promise<RunResult> {
    // The hot path (known provider, cached session, known fingerprint) awaits nothing but the run.
    this.activeRuns++;
    try {
      return await this.runCounted(model, inputs, profile);
    } finally {
      this.activeRuns--;
    }
  }

  private async runCounted(
    model: ModelBytes | ModelRef,
    inputs: readonly CanonicalTensor[],
    profile: Partial<ExecutionProfile>,
  ): Promise<RunResult> {
    const p = this.resolveNow(profile) ?? (await this.resolve(profile));
    let runStarted = 0;
    try {
      const acquired = this.acquire(model, p);
      const { entry, hit, createMs } = acquired instanceof Promise ? await acquired : acquired;
      try {
        checkInputs(entry.spec, inputs);
        runStarted = performance.now();
        const answer = await this.runOn(entry, inputs);
        if ("error" in answer)
          throw new ComputeRuntimeError(
            ComputeRuntimeErrorCode.EXECUTION_FAILED,
            `model ${model.sha256} failed to run: ${answer.error}`,
            { model: model.sha256 },
          );
        if (!("outputs" in answer))
          throw new ComputeRuntimeError(ComputeRuntimeErrorCode.EXECUTION_FAILED, "unexpected worker answer");
        // The output buffers were transferred: ours alone, canonical tensors over them.
        const outputs = answer.outputs.map(({ name, type, dims, data }) => {
          if (!isDType(type))
            throw new ComputeRuntimeError(
              ComputeRuntimeErrorCode.INVALID_TENSOR,
              `tensor ${name}: dtype ${type} has no canonical form`,
              { name },
            );
          const t: CanonicalTensor = { name, dtype: type, dims, data };
          validateTensor(t);
          return t;
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
              workerRunMs: answer.runMs,
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

  /**
   * Sends a run to the entry's worker: the inputs copied into one buffer (each tensor aligned;
   * the callers' buffers, often views of stored blobs, are never transferred), which the worker
   * hands back with the outputs for the next run to reuse. Or, on the fast path, runs it here on
   * the callers' buffers as they are (copied only when unaligned): a 4.9 MB detector input's copy
   * cost a CUDA run 10% of its throughput (`gpu:check` on an H200).
   */
  private async runOn(entry: SessionEntry, inputs: readonly CanonicalTensor[]): Promise<WorkerResponse> {
    let size = 0;
    for (const t of inputs) size = align8(size) + t.data.length;
    size = align8(size);
    const known = entry.runMs.get(size);
    const fast = this.inlineMaxMs > 0 && known !== undefined && known < this.inlineMaxMs;
    // With other runs under way, the worker runs this one while this thread does their other work.
    if (fast && entry.inline !== undefined && this.activeRuns === 1) {
      const feeds: Record<string, Tensor> = {};
      for (const t of inputs) feeds[t.name] = toOrtTensor(t);
      const answer = await this.runInline(entry.inline, feeds);
      if ("runMs" in answer) this.recordRun(entry, size, answer.runMs);
      return answer;
    }
    let buffer = this.scratch.get(size)?.pop();
    if (buffer === undefined) buffer = new ArrayBuffer(size);
    else this.scratchBytes -= size;
    const bytes = new Uint8Array(buffer);
    const placed: WorkerInput[] = [];
    let offset = 0;
    for (const t of inputs) {
      offset = align8(offset);
      bytes.set(t.data, offset);
      placed.push({ name: t.name, type: t.dtype, dims: [...t.dims], offset, length: t.data.length });
      offset += t.data.length;
    }
    if (fast && entry.createMs < INLINE_MAX_CREATE_MS) this.loadInline(entry);
    const answer = await this.request(
      entry.slot,
      (id) => ({ kind: "run", id, key: entry.sid, inputs: placed, buffer }),
      [buffer],
    );
    if ("buffer" in answer && answer.buffer !== undefined) this.giveBack(answer.buffer);
    if ("runMs" in answer) this.recordRun(entry, size, answer.runMs);
    return answer;
  }

  private recordRun(entry: SessionEntry, size: number, ms: number): void {
    const known = entry.runMs.get(size);
    if (known === undefined && entry.runMs.size >= 16) entry.runMs.clear();
    entry.runMs.set(size, known === undefined ? ms : 0.8 * known + 0.2 * ms);
  }

  /** The fast path: the run on this thread, answered as the worker would. */
  private async runInline(session: InferenceSession, feeds: Record<string, Tensor>): Promise<WorkerResponse> {
    const started = performance.now();
    try {
      const results = await session.run(feeds);
      const runMs = performance.now() - started;
      const outputs: WorkerOutput[] = [];
      for (const name of session.outputNames) {
        const value = results[name] as Tensor | undefined;
        if (value === undefined) return { id: 0, error: `output ${name} missing` };
        const values = value.data;
        if (!ArrayBuffer.isView(values)) return { id: 0, error: `output ${name}: data is not a typed array` };
        // onnxruntime-node's output buffers are new and ours alone: no copy.
        const data = new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
        outputs.push({ name, type: value.type, dims: value.dims.map(Number), data });
      }
      return { id: 0, outputs, runMs };
    } catch (err) {
      return { id: 0, error: (err as Error).message };
    }
  }

  /** Loads the main-thread twin of a session on the fast path (in the background). */
  private loadInline(entry: SessionEntry): void {
    if (entry.inlineLoading === true || entry.inline !== undefined || entry.bytes === undefined) return;
    entry.inlineLoading = true;
    const loading = InferenceSession.create(entry.bytes, entry.options).then(
      (session) => {
        if (this.closed || (entry.evicted && entry.inFlight === 0)) session.release().catch(() => undefined);
        else entry.inline = session;
      },
      (err: unknown) => {
        this.logger.debug(
          { err: (err as Error).message },
          "Main-thread session failed to load: runs stay on the worker",
        );
      },
    );
    this.twinLoads.add(loading);
    void loading.finally(() => this.twinLoads.delete(loading));
  }

  private giveBack(buffer: ArrayBuffer): void {
    if (this.scratchBytes + buffer.byteLength > MAX_SCRATCH_BYTES) return;
    const list = this.scratch.get(buffer.byteLength);
    if (list === undefined) this.scratch.set(buffer.byteLength, [buffer]);
    else list.push(buffer);
    this.scratchBytes += buffer.byteLength;
  }

  /** Worker `i`, started if it is not running. */
  private slot(i: number): WorkerSlot {
    const existing = this.slots[i];
    if (existing !== undefined) return existing;
    const worker = new Worker(new URL("./runner-worker.ts", import.meta.url));
    worker.unref();
    const slot: WorkerSlot = { worker, pending: new Map(), alive: true };
    worker.on("message", (message: WorkerResponse) => {
      const waiter = slot.pending.get(message.id);
      if (waiter === undefined) return;
      slot.pending.delete(message.id);
      if (slot.pending.size === 0) worker.unref();
      waiter.resolve(message);
    });
    let failure: Error | undefined;
    worker.on("error", (err) => {
      failure = err;
    });
    worker.on("exit", (code) => {
      slot.alive = false;
      if (this.slots[i] === slot) this.slots[i] = undefined;
      if (!this.closed)
        this.logger.warn({ code, err: failure?.message }, "ONNX runner worker exited: sessions dropped");
      // Its sessions are gone: forget them (later runs load them into a new worker).
      const dropped = [...this.sessions.entries()].filter(([, entry]) => entry.slot === slot);
      for (const [key] of dropped) this.sessions.delete(key);
      const error = new ComputeRuntimeError(
        ComputeRuntimeErrorCode.EXECUTION_FAILED,
        `the ONNX runner worker exited (code ${code}${failure === undefined ? "" : `: ${failure.message}`})`,
      );
      for (const waiter of slot.pending.values()) waiter.reject(error);
      slot.pending.clear();
    });
    this.slots[i] = slot;
    return slot;
  }

  /** The worker for a new session: the one with the fewest requests in flight. */
  private pickSlot(): WorkerSlot {
    let best = 0;
    let bestLoad = Number.POSITIVE_INFINITY;
    for (let i = 0; i < this.slots.length; i++) {
      const load = this.slots[i]?.pending.size ?? 0;
      if (load < bestLoad) {
        best = i;
        bestLoad = load;
      }
    }
    return this.slot(best);
  }

  private request(
    slot: WorkerSlot,
    message: (id: number) => WorkerRequest,
    transfer: ArrayBuffer[] = [],
  ): Promise<WorkerResponse> {
    if (!slot.alive)
      return Promise.reject(
        new ComputeRuntimeError(ComputeRuntimeErrorCode.EXECUTION_FAILED, "the ONNX runner worker exited"),
      );
    const id = this.nextId++;
    return new Promise<WorkerResponse>((resolve, reject) => {
      slot.pending.set(id, { resolve, reject });
      if (slot.pending.size === 1) slot.worker.ref();
      try {
        slot.worker.postMessage(message(id), transfer);
      } catch (err) {
        slot.pending.delete(id);
        if (slot.pending.size === 0) slot.worker.unref();
        reject(err);
      }
    });
  }

  /** A session for (model, profile): from the cache synchronously, or a promise of a loaded one. */
  /** Whether a session of the model under `profile` is cached (a run then needs no model bytes). */
  hasSession(sha256: Hex, profile: Partial<ExecutionProfile> = {}): boolean {
    const p = this.resolveNow(profile);
    return p !== undefined && this.sessions.has(sessionKey(sha256, p));
  }

  private acquire(model: ModelBytes | ModelRef, p: ExecutionProfile): Acquired | Promise<Acquired> {
    if (this.closed) throw closedError();
    if (!isHex32(model.sha256))
      throw new ComputeRuntimeError(
        ComputeRuntimeErrorCode.INVALID_ARGUMENT,
        `model sha256 must be 0x and 64 lowercase hex digits, got ${String(model.sha256)}`,
      );
    const key = sessionKey(model.sha256, p);
    const cached = this.sessions.get(key);
    this.metrics?.onCacheLookup(cached !== undefined);
    if (cached !== undefined) {
      cached.inFlight++;
      return { entry: cached, hit: true, createMs: 0 };
    }
    return this.acquireLoaded(model, p, key);
  }

  private async acquireLoaded(
    model: ModelBytes | ModelRef,
    p: ExecutionProfile,
    key: string,
  ): Promise<Acquired> {
    let pending = this.loading.get(key);
    const started = performance.now();
    if (pending === undefined) {
      pending = this.loadRef(model, p).finally(() => this.loading.delete(key));
      this.loading.set(key, pending);
      const entry = await pending;
      if (this.closed) {
        this.release(entry);
        throw closedError();
      }
      entry.inFlight++;
      this.sessions.set(key, entry);
      return { entry, hit: false, createMs: performance.now() - started };
    }
    const entry = await pending;
    if (this.closed) throw closedError();
    entry.inFlight++;
    return { entry, hit: false, createMs: performance.now() - started };
  }

  private async loadRef(model: ModelBytes | ModelRef, p: ExecutionProfile): Promise<SessionEntry> {
    if ("bytes" in model) return this.load(model, p);
    const loaded = await model.load();
    if (loaded.sha256 !== model.sha256)
      throw new ComputeRuntimeError(
        ComputeRuntimeErrorCode.MODEL_HASH_MISMATCH,
        `model ${model.sha256} was loaded as ${loaded.sha256}`,
        { model: model.sha256 },
      );
    return this.load(loaded, p);
  }

  private async load(model: ModelBytes, p: ExecutionProfile): Promise<SessionEntry> {
    const actual = sha256Hex(model.bytes);
    if (actual !== model.sha256)
      throw new ComputeRuntimeError(
        ComputeRuntimeErrorCode.MODEL_HASH_MISMATCH,
        `model bytes hash to ${actual}, not ${model.sha256}`,
        { model: model.sha256 },
      );
    const spec = readModelSpec(model.bytes);
    const options = sessionOptions(p);
    // The worker gets a copy (structured clone copies a view's whole buffer: a view is sliced).
    const { bytes } = model;
    const sent =
      bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength ? bytes : bytes.slice();
    const slot = this.pickSlot();
    const sid = this.nextSid++;
    const answer = await this.request(slot, (id) => ({ kind: "load", id, key: sid, bytes: sent, options }));
    if ("error" in answer)
      throw new ComputeRuntimeError(
        ComputeRuntimeErrorCode.MODEL_LOAD_FAILED,
        `model ${model.sha256} failed to load: ${answer.error}`,
        { model: model.sha256 },
      );
    const seconds = ("createMs" in answer ? answer.createMs : 0) / 1000;
    this.metrics?.onSessionCreate(p.executionProvider, seconds);
    this.logger.debug(
      { model: model.sha256, ep: p.executionProvider, level: p.graphOptimizationLevel, ms: seconds * 1000 },
      "Inference session created",
    );
    return {
      slot,
      sid,
      spec,
      inFlight: 0,
      evicted: false,
      options,
      createMs: seconds * 1000,
      runMs: new Map(),
      bytes: seconds * 1000 < INLINE_MAX_CREATE_MS ? sent : undefined,
    };
  }

  private releaseUse(entry: SessionEntry): void {
    entry.inFlight--;
    if (entry.evicted && entry.inFlight === 0) this.release(entry);
  }

  private release(entry: SessionEntry): void {
    const inline = entry.inline;
    entry.inline = undefined;
    inline?.release().catch(() => undefined);
    if (entry.slot.alive)
      entry.slot.worker.postMessage({ kind: "release", key: entry.sid } satisfies WorkerRequest);
  }

  /** Waits for the runs in flight, then stops the workers (their sessions go with them); later calls throw CLOSED. */
  async close(): Promise<void> {
    this.closed = true;
    await Promise.allSettled([...this.loading.values(), ...this.twinLoads]);
    this.sessions.clear();
    const slots = this.slots.filter((s) => s !== undefined);
    this.slots.fill(undefined);
    await Promise.all(
      slots.map(async (slot) => {
        while (slot.pending.size > 0 && slot.alive) await new Promise((resolve) => setTimeout(resolve, 5));
        if (!slot.alive) return;
        // The worker releases its sessions and ends by itself: onnxruntime's objects are gone
        // before the thread's environment is torn down (a terminated thread can abort the
        // process from onnxruntime's cleanup). Terminated if it has not ended within 5 s.
        const exited = new Promise<void>((resolve) => slot.worker.once("exit", () => resolve()));
        slot.worker.postMessage({ kind: "stop" } satisfies WorkerRequest);
        let timer: NodeJS.Timeout | undefined;
        const late = new Promise<"late">((resolve) => {
          timer = setTimeout(() => resolve("late"), 5000);
        });
        if ((await Promise.race([exited, late])) === "late") await slot.worker.terminate();
        clearTimeout(timer);
      }),
    );
  }
}
